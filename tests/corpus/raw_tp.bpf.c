/* Raw tracepoint: runs on every syscall entry; BPF_PROG_TEST_RUN feeds it arguments. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_pid = 0;
__u64 syscalls = 0;
__u64 last_args[2] = {};

SEC("raw_tp/sys_enter")
int on_sys_enter(__u64 *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	syscalls++;
	last_args[0] = ctx[0];
	last_args[1] = ctx[1];
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
