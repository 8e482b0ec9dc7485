#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct core_bpf *skel = core_bpf__open_and_load();
	__u64 ctx = 0;

	CHECK(skel, "open_and_load");
	CHECK(t_run(skel->progs.read_task.prog_fd, NULL, 0, NULL, &ctx, sizeof(ctx), NULL) == 0, "run");
	CHECK(skel->bss->seen_tgid == (__u64)getpid(), "tgid %llu", (unsigned long long)skel->bss->seen_tgid);
	CHECK(skel->bss->seen_pid == (__u64)syscall(__NR_gettid), "pid");
	CHECK(skel->bss->seen_ppid == (__u64)getppid(), "ppid");
	CHECK(skel->bss->has_missing == 0, "missing field exists?");
	CHECK(skel->bss->task_size > 1000, "task size %llu", (unsigned long long)skel->bss->task_size);
	CHECK(skel->bss->ringbuf_value == BPF_MAP_TYPE_RINGBUF, "enum value");
	core_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
