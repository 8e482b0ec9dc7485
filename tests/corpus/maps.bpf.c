/* Map types: hash, array, per-CPU hash and array, LRU, ring buffer, LPM trie, queue, bloom
 * filter, and an array of maps and a hash of maps with initial slots. exercise() touches each
 * one; it is an XDP program because sleepable (syscall) programs may only use some map types.
 * PROG_ARRAY initial slots are in tailcall.bpf.c. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16);
	 __type(key, __u32); __type(value, __u64); } hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8);
	 __type(key, __u32); __type(value, __u64); } array SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 8);
	 __type(key, __u32); __type(value, __u32); } percpu_hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4);
	 __type(key, __u32); __type(value, __u64); } percpu_array SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 32);
	 __type(key, __u64); __type(value, __u64); } lru SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");

struct lpm_key { __u32 prefixlen; __u8 addr[4]; };
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 16); __uint(map_flags, BPF_F_NO_PREALLOC);
	 __type(key, struct lpm_key); __type(value, __u32); } routes SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_QUEUE); __uint(max_entries, 8); __type(value, __u32); } queue SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_BLOOM_FILTER); __uint(max_entries, 64); __uint(map_extra, 3);
	 __type(value, __u32); } bloom SEC(".maps");

struct inner_map { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
		   __type(key, __u32); __type(value, __u32); };
struct inner_map inner_a SEC(".maps"), inner_b SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 4); __type(key, __u32);
	 __array(values, struct inner_map); } outer_array SEC(".maps") = {
	.values = { [0] = &inner_a, [2] = &inner_b },
};
struct { __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS); __uint(max_entries, 4); __type(key, __u32);
	 __array(values, struct inner_map); } outer_hash SEC(".maps") = {
	.values = { [1] = &inner_b },
};

__u64 results[8] = {};

SEC("xdp")
int exercise(struct xdp_md *ctx)
{
	__u32 k = 1, v32 = 5, *p32;
	__u64 v = 100, *p;
	struct lpm_key lk = { .prefixlen = 32, .addr = { 10, 0, 0, 1 } };
	void *inner;

	bpf_map_update_elem(&hash, &k, &v, BPF_ANY);
	p = bpf_map_lookup_elem(&hash, &k);
	results[0] = p ? *p : 0;
	p = bpf_map_lookup_elem(&array, &k);
	if (p)
		*p = 42;
	bpf_map_update_elem(&percpu_hash, &k, &v32, BPF_ANY);
	p = bpf_map_lookup_elem(&percpu_array, &k);
	if (p)
		*p += 1;
	bpf_map_update_elem(&lru, &v, &v, BPF_ANY);
	p = bpf_map_lookup_elem(&lru, &v);
	results[1] = p ? *p : 0;
	bpf_ringbuf_output(&events, &v, sizeof(v), 0);
	p32 = bpf_map_lookup_elem(&routes, &lk);
	results[2] = p32 ? *p32 : 0;
	bpf_map_push_elem(&queue, &v32, 0);
	bpf_map_push_elem(&bloom, &v32, 0);
	results[3] = bpf_map_peek_elem(&bloom, &v32) == 0;
	k = 2;
	inner = bpf_map_lookup_elem(&outer_array, &k);
	if (inner) {
		k = 0;
		p32 = bpf_map_lookup_elem(inner, &k);
		if (p32)
			*p32 = 77;
		results[4] = 1;
	}
	k = 1;
	results[5] = bpf_map_lookup_elem(&outer_hash, &k) != 0;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
