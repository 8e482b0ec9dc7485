/* A syscall program: BPF_PROG_TEST_RUN passes a context struct in and reads it back. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct args {
	__u64 a, b;
	__u64 sum;
};

__u64 calls = 0;

SEC("syscall")
int add(struct args *ctx)
{
	calls++;
	ctx->sum = ctx->a + ctx->b;
	return 7;
}

char LICENSE[] SEC("license") = "GPL";
