/* A struct_ops map (tcp congestion control, sched_ext, HID-BPF use them): the kernel type is
 * declared here so the object builds anywhere. Python skeletons load these; light C skeletons
 * cannot yet, and the CLI must say so in one line. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_dummy_ops_state {
	int val;
};

struct bpf_dummy_ops {
	int (*test_1)(struct bpf_dummy_ops_state *cb);
};

SEC("struct_ops/test_1")
int test_1(unsigned long long *ctx)
{
	return 0;
}

SEC(".struct_ops")
struct bpf_dummy_ops dummy_1 = {
	.test_1 = (void *)test_1,
};

char LICENSE[] SEC("license") = "GPL";
