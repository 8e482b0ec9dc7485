/* Shared by the users of C skeletons (libbpf): the same code builds against bpftool's
 * `gen skeleton` header and ours. */
#ifndef CONFORMANCE_C_UTIL_H
#define CONFORMANCE_C_UTIL_H

#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static inline void trigger_getpid(int times)
{
	while (times-- > 0)
		syscall(SYS_getpid);
}

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (!(cond)) {                                                             \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
			return 1;                                                          \
		}                                                                          \
	} while (0)

#endif
