/* First half of a linked program: defines the map and a shared helper, uses the other half's. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} shared_counts SEC(".maps");

int scale = 10;                 /* read by linked_b.bpf.c */
extern __u64 from_b;            /* defined in linked_b.bpf.c */
extern int b_helper(int x);

__noinline int a_helper(int x)
{
	return x + scale;
}

SEC("syscall")
int entry_a(void *ctx)
{
	__u32 k = 0;
	__u64 v = b_helper(1) + from_b;

	bpf_map_update_elem(&shared_counts, &k, &v, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
