/* A tracepoint counting getpid() calls of one process: BTF map, .bss, .rodata. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

const volatile __u32 target_pid = 0;
__u64 hits = 0;

SEC("tp/syscalls/sys_enter_getpid")
int handle_getpid(void *ctx)
{
	__u32 zero = 0;
	__u64 *v;

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	hits++;
	v = bpf_map_lookup_elem(&counts, &zero);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
