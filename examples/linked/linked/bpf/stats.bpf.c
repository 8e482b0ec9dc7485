// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The "library" half: owns the counts map and the function that updates it. probes.bpf.c uses
 * both through extern declarations; `bpf-build` links the two objects into linked.bpf.o. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "linked.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KIND_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} syscall_counts SEC(".maps");

/* A global (not static) function: verified on its own, callable from the other object. */
__noinline int record_syscall(__u32 kind)
{
	__u64 *count = bpf_map_lookup_elem(&syscall_counts, &kind);

	if (!count)
		return -1;
	__sync_fetch_and_add(count, 1);
	return 0;
}
