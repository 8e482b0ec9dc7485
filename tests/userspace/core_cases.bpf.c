/* Every CO-RE relocation kind, against the running kernel's BTF, with local partial definitions
 * (no vmlinux.h): the user-space relocator must patch these exactly as libbpf and the kernel do. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct mm_struct {
	unsigned long total_vm;   /* inside an anonymous struct in the kernel's mm_struct */
} __attribute__((preserve_access_index));

struct task_struct {
	int tgid;
	int pid;
	char comm[16];
	unsigned int flags;
	unsigned int in_execve: 1;
	unsigned int init_private_fork_class: 4;
	struct mm_struct *mm;
	struct task_struct *group_leader;
} __attribute__((preserve_access_index));

/* flavors: the same kernel type under other local shapes */
struct task_struct___renamed {
	int pid;
	int no_such_field;
} __attribute__((preserve_access_index));

struct task_struct___matches {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

struct task_struct___mismatch {
	long pid;
} __attribute__((preserve_access_index));

struct no_such_type___x {
	int a;
} __attribute__((preserve_access_index));

enum bpf_map_type___x { BPF_MAP_TYPE_HASH___x = 100, BPF_MAP_TYPE_NOPE___x = 101 };
enum perf_callchain_context___x { PERF_CONTEXT_KERNEL___x = 1 };   /* an ENUM64 in the kernel */

/* a socket filter's context, read with direct loads: offsets and a narrowed load size */
struct __sk_buff___x {
	__u32 pkt_type;
	__u64 len;            /* __u32 in the kernel: the 8-byte load becomes a 4-byte one */
	__u32 protocol;
} __attribute__((preserve_access_index));

__u64 out[32];

SEC("syscall")
int every_kind(void *ctx)
{
	struct task_struct *task = (void *)bpf_get_current_task();
	struct task_struct___renamed *renamed = (void *)task;
	char c = 0;

	out[0] = BPF_CORE_READ(task, tgid);
	out[1] = BPF_CORE_READ(task, group_leader, pid);
	out[2] = BPF_CORE_READ(task, mm, total_vm);
	bpf_core_read(&c, 1, &task->comm[1]);
	out[3] = c;
	out[4] = bpf_core_field_size(task->comm);
	out[5] = bpf_core_field_offset(task->flags);
	out[6] = bpf_core_field_exists(renamed->pid);
	out[7] = bpf_core_field_exists(renamed->no_such_field);
	out[8] = __builtin_preserve_field_info(task->pid, BPF_FIELD_SIGNED);
	out[9] = __builtin_preserve_field_info(task->flags, BPF_FIELD_SIGNED);
	out[10] = BPF_CORE_READ_BITFIELD_PROBED(task, in_execve);
	if (bpf_core_field_exists(task->init_private_fork_class))   /* 6.x only */
		out[11] = BPF_CORE_READ_BITFIELD_PROBED(task, init_private_fork_class);
	out[12] = bpf_core_type_exists(struct task_struct);
	out[13] = bpf_core_type_exists(struct no_such_type___x);
	out[14] = bpf_core_type_size(struct task_struct);
	out[15] = bpf_core_type_matches(struct task_struct___matches);
	out[16] = bpf_core_type_matches(struct task_struct___mismatch);
	out[17] = bpf_core_type_id_kernel(struct task_struct);
	out[18] = bpf_core_type_id_local(struct task_struct);
	out[19] = bpf_core_enum_value_exists(enum bpf_map_type___x, BPF_MAP_TYPE_HASH___x);
	out[20] = bpf_core_enum_value_exists(enum bpf_map_type___x, BPF_MAP_TYPE_NOPE___x);
	out[21] = bpf_core_enum_value(enum bpf_map_type___x, BPF_MAP_TYPE_HASH___x);
	if (bpf_core_field_exists(renamed->no_such_field))
		out[23] = BPF_CORE_READ(renamed, no_such_field);   /* poisoned, dead: dropped */
	return 0;
}

/* Its own program: Linux 6.18's in-kernel CO-RE finds no candidate of another kind and poisons
 * this (libbpf and our relocator accept an ENUM64 for a local 32-bit enum). */
SEC("syscall")
int enum64_value(void *ctx)
{
	out[22] = bpf_core_enum_value(enum perf_callchain_context___x, PERF_CONTEXT_KERNEL___x);
	return 0;
}

SEC("socket")
int direct_loads(struct __sk_buff *skb)
{
	struct __sk_buff___x *s = (void *)skb;

	return s->len + s->pkt_type + s->protocol;
}

char LICENSE[] SEC("license") = "GPL";
