// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The "probes" half: tracepoints that call into stats.bpf.c and read its map directly. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "linked.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Defined in stats.bpf.c; this declaration must match it exactly (the linker checks). */
extern struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KIND_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} syscall_counts SEC(".maps");

extern int record_syscall(__u32 kind);

/* The getpid() count as the latest getppid() saw it: proof both halves share one map. */
__u64 getpid_count_at_getppid;

SEC("tp/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	record_syscall(KIND_GETPID);
	return 0;
}

SEC("tp/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	__u32 kind = KIND_GETPID;
	__u64 *getpid_count;

	record_syscall(KIND_GETPPID);
	getpid_count = bpf_map_lookup_elem(&syscall_counts, &kind);
	if (getpid_count)
		getpid_count_at_getppid = *getpid_count;
	return 0;
}
