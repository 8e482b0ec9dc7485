/* Programs whose names share their first 15 bytes, the kernel's name length (runqlat's
 * handle_sched_wakeup / handle_sched_wakeup_new, biostacks' blk_account_io_start/_done): when one
 * is refused, the message must name it whole, not by the prefix both share. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

SEC("tracepoint/sched/sched_wakeup")
int handle_sched_wakeup(void *ctx)
{
	return 0;
}

SEC("tracepoint/sched/sched_wakeup_new")
int handle_sched_wakeup_new(void *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&values, &key);

	if (!v)
		return 0;
	return *(v + 4);	/* past the value: the verifier refuses this program */
}

char LICENSE[] SEC("license") = "GPL";
