// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* opensnoop with a latency histogram: every openat() of the traced process goes to a ring
 * buffer as a typed event, and its latency into a log2 histogram. Tracepoints only (no kprobes):
 * sys_enter_openat remembers the call per thread, sys_exit_openat completes it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "opensnoop.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct call {
	unsigned long long start_ns;
	const char *name;
	int flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);               /* thread id */
	__type(value, struct call);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* The kernel counts no ring buffer drops: by bpf-build's convention, "<ring>_drops" does, and
 * RingBuffer.dropped reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} events_drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LATENCY_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} latency_us SEC(".maps");

/* Set before load (0: every process); constant for the verifier afterwards. */
const volatile __u32 target_tgid = 0;

/* Keeps the event type in BTF, so the generated skeleton has a ctypes class for it. */
struct open_event *event_type __attribute__((unused));

static __always_inline int traced(void)
{
	return !target_tgid || (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline __u32 log2_slot(__u64 value)
{
	__u32 slot = 0;

	for (int i = 0; i < LATENCY_SLOTS - 1 && value > 1; i++) {
		value >>= 1;
		slot++;
	}
	return slot;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct call call = {};

	if (!traced())
		return 0;
	call.start_ns = bpf_ktime_get_ns();
	call.name = (const char *)ctx->args[1];
	call.flags = (int)ctx->args[2];
	bpf_map_update_elem(&calls, &tid, &call, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid, zero = 0, slot;
	struct open_event *event;
	struct call *call;
	__u64 latency, *count;

	call = bpf_map_lookup_elem(&calls, &tid);
	if (!call)
		return 0;
	latency = bpf_ktime_get_ns() - call->start_ns;
	slot = log2_slot(latency / 1000);
	count = bpf_map_lookup_elem(&latency_us, &slot);
	if (count)
		__sync_fetch_and_add(count, 1);

	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		__u64 *drops = bpf_map_lookup_elem(&events_drops, &zero);

		if (drops)
			__sync_fetch_and_add(drops, 1);
		bpf_map_delete_elem(&calls, &tid);
		return 0;
	}
	event->pid = pid_tgid >> 32;
	event->tid = tid;
	event->ret = (int)ctx->ret;
	event->flags = call->flags;
	event->latency_ns = latency;
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	bpf_probe_read_user_str(event->name, sizeof(event->name), call->name);
	bpf_ringbuf_submit(event, 0);
	bpf_map_delete_elem(&calls, &tid);
	return 0;
}
