#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct syscall_bpf *skel = syscall_bpf__open_and_load();
	__u64 args[3] = { 40, 2, 0 };
	__u32 ret;

	CHECK(skel, "open_and_load");
	CHECK(t_run(skel->progs.add.prog_fd, NULL, 0, NULL, args, sizeof(args), &ret) == 0 && ret == 7, "ret %u", ret);
	CHECK(args[2] == 42, "sum %llu", (unsigned long long)args[2]);
	CHECK(skel->bss->calls == 1, "calls");
	syscall_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
