// Maps pinned by name (LIBBPF_PIN_BY_NAME) shared by every load of this object: tests/runtime/test_pinning.py.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Syscall programs by default (the light C driver, tests/loader/c/pinning.c, runs them with no
 * packet); socket filters with -DSOCKET_FILTERS (test_pinning.py), which load and run on a packet
 * on every kernel tested, 5.10 included: syscall programs need 5.14. */
#ifdef SOCKET_FILTERS
#define PROG_SEC "socket"
#define OPTIONAL_PROG_SEC "?socket"
#else
#define PROG_SEC "syscall"
#define OPTIONAL_PROG_SEC "?syscall"
#endif

#ifndef SHARED_MAX
#define SHARED_MAX 4
#endif

/* Counters every load of this object shares through its pin. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SHARED_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared_counts SEC(".maps");

/* A second pinned map: pinned with the first or not at all. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared_names SEC(".maps");

/* Not pinned: each load has its own. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} private_count SEC(".maps");

SEC(PROG_SEC)
int bump(void *ctx)
{
	__u32 key = 0;
	__u64 *shared = bpf_map_lookup_elem(&shared_counts, &key);
	__u64 *own = bpf_map_lookup_elem(&private_count, &key);

	if (!shared || !own)
		return 1;
	__sync_fetch_and_add(shared, 1);
	__sync_fetch_and_add(own, 1);
	return 0;
}

/* Loaded only when a test asks (SEC("?...")): the verifier refuses it (a hash lookup's result
 * used unchecked), so the load fails after the maps exist. */
SEC(OPTIONAL_PROG_SEC)
int refused(void *ctx)
{
	__u32 key = 0;
	__u32 *name = bpf_map_lookup_elem(&shared_names, &key);

	return *name;
}

char LICENSE[] SEC("license") = "GPL";
