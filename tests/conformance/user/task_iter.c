#include "c_util.h"
#include "task_iter.skel.h"

struct task_record {
	__s32 pid;
	__s32 tgid;
};

int main(void)
{
	struct task_iter_bpf *skel = task_iter_bpf__open();
	struct task_record rec;
	int iter_fd, found = 0, records = 0;
	ssize_t n;

	CHECK(skel);
	skel->rodata->only_tgid = getpid();
	CHECK(task_iter_bpf__load(skel) == 0);
	CHECK(task_iter_bpf__attach(skel) == 0);
	iter_fd = bpf_iter_create(bpf_link__fd(skel->links.dump_task));
	CHECK(iter_fd >= 0);
	while ((n = read(iter_fd, &rec, sizeof(rec))) == sizeof(rec)) {
		records++;
		found |= rec.pid == getpid() && rec.tgid == getpid();
	}
	CHECK(n == 0 && records >= 1 && found);
	CHECK(skel->bss->tasks_seen > (unsigned)records);
	close(iter_fd);
	task_iter_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
