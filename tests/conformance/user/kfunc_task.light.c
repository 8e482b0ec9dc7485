#include "light_util.h"
#include "kfunc_task.lskel.h"

int main(void)
{
	struct kfunc_task_bpf *skel = kfunc_task_bpf__open();

	CHECK(skel);
	skel->rodata->targ_tgid = getpid();
	CHECK(kfunc_task_bpf__load(skel) == 0);
	CHECK(kfunc_task_bpf__attach(skel) == 0);
	trigger_getpid(2);
	CHECK(skel->bss->lookups >= 2 && skel->bss->found_tgid == getpid());
	kfunc_task_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
