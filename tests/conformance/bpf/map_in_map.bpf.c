/* Maps of maps with an inner map definition and initial slots (`.values = { [0] = &inner }`), as
 * the selftests and tracing tools keeping per-CPU/per-cgroup tables do. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer_array SEC(".maps") = {
	.values = { [0] = &inner_a, [1] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer_hash SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getpid")
int bump_inner(void *ctx)
{
	__u32 slot = 1, key = 2, hkey = 7;
	__u64 *v;
	void *inner = bpf_map_lookup_elem(&outer_array, &slot);

	if (inner) {
		v = bpf_map_lookup_elem(inner, &key);
		if (v)
			__sync_fetch_and_add(v, 1);
	}
	inner = bpf_map_lookup_elem(&outer_hash, &hkey);
	if (inner) {
		v = bpf_map_lookup_elem(inner, &key);
		if (v)
			__sync_fetch_and_add(v, 10);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
