/* What user space completes before load (profile, biostacks, syncsnoop, opensnoop): a stack map
 * declared without value size or max_entries (bpf_map__set_value_size/set_max_entries), and a
 * program for a tracepoint that does not exist on every kernel, switched off before load
 * (bpf_program__set_autoload(false)) after checking. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__type(key, __u32);
} stackmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
} sized_later SEC(".maps");

__u32 getpid_calls;

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	__u32 key = 1;
	__u64 one = 1;

	getpid_calls++;
	bpf_map_update_elem(&sized_later, &key, &one, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_no_such_syscall_here")
int on_missing(void *ctx)
{
	getpid_calls += 1000;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
