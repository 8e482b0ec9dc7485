/* Second half of a linked program: uses the first half's map, variable and helper. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} shared_counts SEC(".maps");

extern int scale;
extern int a_helper(int x);
__u64 from_b = 5;

__noinline int b_helper(int x)
{
	return x * scale;
}

SEC("syscall")
int entry_b(void *ctx)
{
	__u32 k = 1;
	__u64 v = a_helper(2);

	bpf_map_update_elem(&shared_counts, &k, &v, BPF_ANY);
	return 0;
}
