/* Events to user space the way the corpora send them: a ring buffer of a struct with a char comm[16]
 * (bootstrap, opensnoop, execsnoop...), and a perf event array declared by sizes only, without
 * BTF key/value types (bindsnoop, biosnoop, and bcc's compat.bpf.h fallback). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "events.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

/* puts struct event into BTF (locals alone do not), as bpf2go users do for -type event */
const struct event *unused_event __attribute__((unused));

const volatile __u32 targ_tgid = 0;
__u32 sequence;
__u64 dropped;

SEC("tracepoint/syscalls/sys_enter_getpid")
int emit(void *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct event *e, copy = {};

	if (targ_tgid && tgid != targ_tgid)
		return 0;
	e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	e->pid = tgid;
	e->seq = sequence++;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->payload = 0x1122334455667788ULL;
	copy = *e;
	bpf_ringbuf_submit(e, 0);
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &copy, sizeof(copy));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
