/* BTF-attached programs: their attach target (a kernel BTF id) is found when the loader runs.
 * tp_btf attaches by raw tracepoint; the iterator loads (attaching creates an iterator link).
 * fentry and lsm are kept optional: some kernels refuse them (this one returns EPERM). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_pid = 0;
__u64 enters = 0, opens = 0;

SEC("tp_btf/sys_enter")
int on_sys_enter(__u64 *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) == target_pid)
		enters++;
	return 0;
}

SEC("iter/bpf_map")
int dump_maps(void *ctx)
{
	return 0;
}

SEC("?fentry/do_nanosleep")
int on_nanosleep(__u64 *ctx)
{
	return 0;
}

SEC("?lsm/file_open")
int on_file_open(__u64 *ctx)
{
	opens++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
