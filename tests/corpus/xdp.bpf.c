/* XDP: count packets per EtherType in a per-CPU array, drop one EtherType chosen in .rodata. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

const volatile __u16 drop_proto = 0;
__u64 bytes_seen = 0;

SEC("xdp")
int xdp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 key = 0;
	__u64 *count;

	if ((void *)(eth + 1) > end)
		return XDP_ABORTED;
	__sync_fetch_and_add(&bytes_seen, end - data);
	if (eth->h_proto == bpf_htons(drop_proto))
		key = 1;
	count = bpf_map_lookup_elem(&verdicts, &key);
	if (count)
		*count += 1;
	return key ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
