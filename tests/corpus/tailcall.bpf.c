/* A PROG_ARRAY whose slot 1 is filled at load time (.values in the map definition): xdp_entry
 * tail-calls xdp_tail through it. libbpf's loader generator refuses this (-ENOTSUP). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int xdp_tail(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} jump_table SEC(".maps") = {
	.values = { [1] = (void *)&xdp_tail },
};

__u64 tail_calls = 0;

SEC("xdp")
int xdp_tail(struct xdp_md *ctx)
{
	tail_calls++;
	return XDP_TX;
}

SEC("xdp")
int xdp_entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &jump_table, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
