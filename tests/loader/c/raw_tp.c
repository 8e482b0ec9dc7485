#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct raw_tp_bpf *skel = raw_tp_bpf__open();
	__u64 args[2] = { 11, 22 }, before;
	int i;

	CHECK(skel, "open");
	skel->rodata->target_pid = getpid();
	CHECK(raw_tp_bpf__load(skel) == 0, "load");
	CHECK(t_run(skel->progs.on_sys_enter.prog_fd, NULL, 0, NULL, args, sizeof(args), NULL) == 0,
	      "test run: %s", strerror(errno));
	CHECK(skel->bss->last_args[0] == 11 && skel->bss->last_args[1] == 22, "args");
	CHECK(raw_tp_bpf__attach(skel) == 0, "attach");
	before = skel->bss->syscalls;
	for (i = 0; i < 3; i++)
		getppid();
	CHECK(skel->bss->syscalls >= before + 3, "syscalls %llu", (unsigned long long)skel->bss->syscalls);
	raw_tp_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
