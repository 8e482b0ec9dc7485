/* The program an freplace program replaces a function of (tests/runtime/test_freplace.py): an
 * XDP program whose verdict comes from a global, non-inlined subprogram. Global functions are
 * verified on their own and keep their FUNC in the program's BTF, which is what an extension
 * program attaches to; its verdict here is XDP_PASS. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 handler_calls;

__noinline int handler(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&handler_calls, 1);
	return ctx->data_end > ctx->data ? XDP_PASS : XDP_ABORTED;
}

SEC("xdp")
int target_xdp(struct xdp_md *ctx)
{
	return handler(ctx);
}

char LICENSE[] SEC("license") = "GPL";
