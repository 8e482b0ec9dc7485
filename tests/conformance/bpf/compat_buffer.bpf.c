/* bcc's compat.bpf.h: one `events` map that user space turns into a perf event array when ring
 * buffers are unavailable (bpf_map__set_type/set_key_size/set_value_size), and a per-CPU `heap`
 * that it does not create when they are (bpf_map__set_autocreate(false)). The mode is a frozen
 * .rodata flag here (upstream probes the kernel), so the verifier never walks the other path. */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "events.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct event));
} heap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

const volatile bool use_ringbuf = true;
const volatile __u32 targ_tgid = 0;
__u32 submitted;

SEC("tracepoint/syscalls/sys_enter_getpid")
int emit(void *ctx)
{
	static const __u32 zero = 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct event *e;

	if (tgid != targ_tgid)
		return 0;
	if (use_ringbuf)
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	else
		e = bpf_map_lookup_elem(&heap, &zero);
	if (!e)
		return 0;
	e->pid = tgid;
	e->seq = submitted++;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->payload = use_ringbuf ? 1 : 2;
	if (use_ringbuf)
		bpf_ringbuf_submit(e, 0);
	else
		bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, e, sizeof(*e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
