// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Report every exec through a ring buffer, optionally only children of one parent process.
 * Like libbpf-bootstrap's "bootstrap": CO-RE reads from vmlinux.h types, a .rodata filter set
 * before load, typed events shared with user space through execsnoop.h. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "execsnoop.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Set by user space before load (0: every process). Read-only once loaded, so the verifier
 * treats it as a constant and drops the filter entirely when it is 0. */
const volatile int parent_pid = 0;

SEC("tp/sched/sched_process_exec")
int handle_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	int ppid = BPF_CORE_READ(task, real_parent, tgid);
	struct exec_event *event;
	unsigned int filename_offset;

	if (parent_pid && ppid != parent_pid)
		return 0;

	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event)
		return 0;
	event->pid = bpf_get_current_pid_tgid() >> 32;
	event->ppid = ppid;
	event->uid = (unsigned int)bpf_get_current_uid_gid();
	event->timestamp_ns = bpf_ktime_get_ns();
	bpf_get_current_comm(&event->comm, sizeof(event->comm));
	/* The tracepoint stores the file name inside its own record: a __data_loc offset. */
	filename_offset = ctx->__data_loc_filename & 0xFFFF;
	bpf_probe_read_str(&event->filename, sizeof(event->filename), (void *)ctx + filename_offset);
	bpf_ringbuf_submit(event, 0);
	return 0;
}
