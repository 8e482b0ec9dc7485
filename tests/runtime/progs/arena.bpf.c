/* A BPF arena (BPF_MAP_TYPE_ARENA, Linux 6.9+) shared with Python (tests/runtime/test_arena.py).
 * `build` allocates a page of the arena and links three nodes into a list whose head is an
 * __arena global; `sum` walks the list (after Python changed the values through its mapping)
 * and copies what Python wrote into another __arena global. Arena pointers are the same
 * addresses in the program and in the process that mapped the arena. ARENA_ADDR (optional)
 * fixes the arena's user address through map_extra. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __arena __attribute__((address_space(1)))
#define ARENA_MAP_TYPE 33 /* BPF_MAP_TYPE_ARENA: newer than these UAPI headers */
#define NUMA_NO_NODE (-1)
#ifndef ARENA_ADDR
#define ARENA_ADDR 0
#endif
#ifndef __ulong /* libbpf before 1.3 */
#define __ulong(name, val) enum { name##__value = (val) } name
#endif

struct {
	__uint(type, ARENA_MAP_TYPE);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4); /* pages */
	__ulong(map_extra, ARENA_ADDR);
} arena SEC(".maps");

void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, __u32 page_cnt, int node_id,
				    __u64 flags) __ksym __weak;

struct node {
	struct node __arena *next;
	__u64 value;
};

__u64 __arena counter = 5;          /* initialised: copied into the arena by the runner */
__u64 __arena from_user;            /* written by Python, read by the programs */
struct node __arena *__arena head;  /* the list `build` makes */
__u64 __arena list_sum;

__u64 seen_from_user;               /* .bss: what `build` read from the arena */
__u64 nodes_seen;

SEC("syscall")
int build(void *ctx)
{
	struct node __arena *nodes;
	int i;

	counter += 1;
	seen_from_user = from_user;
	nodes = bpf_arena_alloc_pages(&arena, NULL, 1, NUMA_NO_NODE, 0);
	if (!nodes)
		return 1;
	for (i = 0; i < 3; i++) {
		nodes[i].value = (i + 1) * 10;
		nodes[i].next = head;
		head = &nodes[i];
	}
	return 0;
}

SEC("syscall")
int sum(void *ctx)
{
	struct node __arena *n = head;
	__u64 total = 0;
	int i;

	for (i = 0; i < 16 && n; i++) {
		total += n->value;
		n = n->next;
	}
	nodes_seen = i;
	list_sum = total + from_user;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
