// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* Count packets and bytes arriving on an interface per IP protocol (ICMP, TCP, UDP, ...), with
 * XDP. Everything passes; only counting happens here. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Protocol number 256 (beyond IPPROTO_MAX's 8 bits) counts frames that are not IP at all. */
#define NOT_IP 256

struct proto_stats {
	__u64 packets;
	__u64 bytes;
};

/* Per-CPU: no atomics on the fast path; user space sums the CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NOT_IP + 1);
	__type(key, __u32);
	__type(value, struct proto_stats);
} stats SEC(".maps");

static __always_inline __u32 ip_protocol(void *data, void *data_end)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return NOT_IP;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return NOT_IP;
		return ip->protocol;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return NOT_IP;
		return ip6->nexthdr;
	}
	return NOT_IP;
}

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 protocol = ip_protocol(data, data_end);
	struct proto_stats *entry = bpf_map_lookup_elem(&stats, &protocol);

	if (entry) {
		entry->packets++;
		entry->bytes += data_end - data;
	}
	return XDP_PASS;
}
