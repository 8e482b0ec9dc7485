/* libbpf-tools' core_fixes.bpf.h pattern: a field renamed across kernels (task_struct's state ->
 * __state) read through a ___flavor of the old layout, and types/enum values probed with
 * bpf_core_type_exists/bpf_core_enum_value_exists. Light and Python skeletons have the kernel
 * apply these relocations (loader program); the C skeleton has libbpf apply them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	unsigned int __state;
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

struct task_struct___o {
	volatile long state;
} __attribute__((preserve_access_index));

struct bpf_iter__task {
	void *meta;
} __attribute__((preserve_access_index));

struct no_such_type_in_any_kernel {
	int x;
} __attribute__((preserve_access_index));

enum bpf_func_id___x { BPF_FUNC_ringbuf_output___x = 130, BPF_FUNC_no_such_helper___x = 9999 };

__u32 have_iter_type, have_missing_type, have_ringbuf_output, have_missing_helper;
__u32 state_from_new_field, state_from_old_field;
__s32 tgid_seen;
/* Set by the test before load: every task's syscalls reach this program, so only the test's own
 * process may write tgid_seen (any other task's would race with the test's read). */
const volatile __s32 targ_tgid = 0;
long running_state = -1;

SEC("tp_btf/sys_enter")
int probe_task(unsigned long long *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task_btf();

	have_iter_type = bpf_core_type_exists(struct bpf_iter__task);
	have_missing_type = bpf_core_type_exists(struct no_such_type_in_any_kernel);
	have_ringbuf_output = bpf_core_enum_value_exists(enum bpf_func_id___x, BPF_FUNC_ringbuf_output___x);
	have_missing_helper = bpf_core_enum_value_exists(enum bpf_func_id___x, BPF_FUNC_no_such_helper___x);
	if (bpf_core_field_exists(((struct task_struct___o *)task)->state)) {
		state_from_old_field = 1;
		running_state = BPF_CORE_READ((struct task_struct___o *)task, state);
	} else {
		state_from_new_field = 1;
		running_state = BPF_CORE_READ(task, __state);
	}
	if ((bpf_get_current_pid_tgid() >> 32) == (__u32)targ_tgid)
		tgid_seen = BPF_CORE_READ(task, tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
