// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Load minimal.bpf.o through its light skeleton (no libbpf at run time: bpf-build's loader.h), call getpid() N times,
 * and print how many calls the BPF program saw. Usage: minimal [N] */
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "minimal.lskel.h"

int main(int argc, char **argv)
{
	int calls = argc > 1 ? atoi(argv[1]) : 10;
	struct minimal *skel;
	int err;

	skel = minimal__open();
	if (!skel) {
		fprintf(stderr, "error: cannot open the BPF skeleton\n");
		return 1;
	}
	skel->rodata->watched_pid = getpid();
	err = minimal__load(skel);
	if (!err)
		err = minimal__attach(skel);
	if (err) {
		fprintf(stderr, "error: cannot load and attach the BPF program: %d\n", err);
		minimal__destroy(skel);
		return 1;
	}
	for (int i = 0; i < calls; i++)
		syscall(SYS_getpid); /* glibc does not cache getpid(), but be explicit */
	printf("getpid calls seen by BPF: %llu\n", (unsigned long long)skel->bss->getpid_calls);
	minimal__destroy(skel);
	return 0;
}
