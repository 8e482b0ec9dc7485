/* The kernel's test struct_ops type, bpf_dummy_ops (Linux 5.16+ with CONFIG_BPF_JIT, no module):
 * its programs run under BPF_PROG_TEST_RUN without the map ever registering, which the kernel
 * refuses for this type (tests/runtime/test_struct_ops_dummy.py, tests/loader/test_light_c_struct_ops.py).
 * Only the members used are declared: the runner matches them to the kernel's by name. SECTION is
 * replaced by the test (link, legacy and optional forms); SECOND_MAP adds a map sharing test_1. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct bpf_dummy_ops_state {
	int val;
};

struct bpf_dummy_ops {
	int (*test_1)(struct bpf_dummy_ops_state *state);
	int (*test_2)(struct bpf_dummy_ops_state *state, int a1, unsigned short a2, char a3, unsigned long a4);
};

__u64 test_2_sum;
__u32 test_2_calls;

/* The state the test passes is copied in and back out by the kernel: its value times three is
 * returned, and the state is left at the value plus 1000. No state: -1. */
SEC("struct_ops/test_1")
int BPF_PROG(dummy_test_1, struct bpf_dummy_ops_state *state)
{
	int val;

	if (!state)
		return -1;
	val = state->val;
	state->val = val + 1000;
	return val * 3;
}

/* The arguments summed where user space reads them, and their count returned. */
SEC("struct_ops/test_2")
int BPF_PROG(dummy_test_2, struct bpf_dummy_ops_state *state, int a1, unsigned short a2, char a3,
	     unsigned long a4)
{
	test_2_sum = (__u64)(__s64)a1 + a2 + a3 + a4;
	test_2_calls++;
	return 4;
}

SEC(SECTION)
struct bpf_dummy_ops dummy_ops = {
	.test_1 = (void *)dummy_test_1,
	.test_2 = (void *)dummy_test_2,
};

#ifdef SECOND_MAP
/* A second map sharing test_1: it keeps test_1 loading when dummy_ops is not created. */
SEC(SECTION)
struct bpf_dummy_ops dummy_ops_2 = {
	.test_1 = (void *)dummy_test_1,
};
#endif

char LICENSE[] SEC("license") = "GPL";
