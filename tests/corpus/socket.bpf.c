/* Socket filter: keep at most snap_len bytes of each packet. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 snap_len = 64;
__u64 seen = 0;

SEC("socket")
int snap(struct __sk_buff *skb)
{
	seen++;
	return skb->len < snap_len ? skb->len : snap_len;
}

char LICENSE[] SEC("license") = "GPL";
