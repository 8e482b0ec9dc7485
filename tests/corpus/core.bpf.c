/* CO-RE without vmlinux.h: local, partial definitions the kernel relocates against its BTF. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	int tgid;     /* deliberately out of the kernel's order: offsets come from the kernel */
	int pid;
	struct task_struct *real_parent;
} __attribute__((preserve_access_index));

struct task_struct___missing {
	int no_such_field;
} __attribute__((preserve_access_index));

enum bpf_map_type___local { BPF_MAP_TYPE_RINGBUF___local = 1 };

__u64 seen_tgid, seen_pid, seen_ppid, has_missing, task_size, ringbuf_value;

SEC("syscall")
int read_task(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();

	seen_tgid = BPF_CORE_READ(task, tgid);
	seen_pid = BPF_CORE_READ(task, pid);
	seen_ppid = BPF_CORE_READ(task, real_parent, tgid);
	has_missing = bpf_core_field_exists(((struct task_struct___missing *)task)->no_such_field);
	task_size = bpf_core_type_size(struct task_struct);
	ringbuf_value = bpf_core_enum_value(enum bpf_map_type___local, BPF_MAP_TYPE_RINGBUF___local);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
