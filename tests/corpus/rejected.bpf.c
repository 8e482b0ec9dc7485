/* Loads maps fine, then a program the verifier rejects (it reads past the end of a map value). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} small SEC(".maps");

__u64 counter = 0;

SEC("syscall")
int fine(void *ctx)
{
	counter++;
	return 0;
}

SEC("syscall")
int out_of_bounds(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&small, &k);

	if (v)
		return v[4];
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
