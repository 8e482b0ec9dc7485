/* tc classifiers: rewrite the first destination MAC byte; a tcx program with its attach type. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

const volatile __u8 new_first_byte = 0xaa;
__u64 packets = 0;

SEC("tc")
int tc_rewrite(struct __sk_buff *skb)
{
	__u8 b = new_first_byte;

	packets++;
	if (bpf_skb_store_bytes(skb, 0, &b, 1, 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

SEC("tcx/ingress")
int tcx_count(struct __sk_buff *skb)
{
	packets++;
	return skb->len > 100 ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
