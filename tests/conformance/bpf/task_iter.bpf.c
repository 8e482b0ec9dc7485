/* An iterator over tasks, as libbpf-bootstrap's task_iter: SEC("iter/task"), attached as a link
 * and read from the iterator's fd. The kernel types come through CO-RE (no vmlinux.h needed). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct seq_file;
struct task_struct {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));
struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));
struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} __attribute__((preserve_access_index));

struct task_record {
	__s32 pid;
	__s32 tgid;
};

const volatile __s32 only_tgid = 0;
__u64 tasks_seen;

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct task_record rec;

	if (!task)
		return 0;
	tasks_seen++;
	if (only_tgid && task->tgid != only_tgid)
		return 0;
	rec.pid = task->pid;
	rec.tgid = task->tgid;
	bpf_seq_write(ctx->meta->seq, &rec, sizeof(rec));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
