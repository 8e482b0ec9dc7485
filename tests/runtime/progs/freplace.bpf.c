/* An extension program (BPF_PROG_TYPE_EXT) for freplace_target.bpf.c: it takes the place of the
 * target's global function handler() while its link is attached, and answers XDP_DROP. Its
 * signature must match the replaced function's BTF. FUNC is replaced by the tests ("handler"
 * by default; a name the target lacks for the error test). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef FUNC
#define FUNC handler
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

__u64 replaced_calls;

SEC("freplace/" STR(FUNC))
int new_handler(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&replaced_calls, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
