#include "c_util.h"
#include "core_fixes.skel.h"

int main(void)
{
	struct core_fixes_bpf *skel = core_fixes_bpf__open();

	CHECK(skel);
	skel->rodata->targ_tgid = getpid();
	CHECK(core_fixes_bpf__load(skel) == 0);
	CHECK(core_fixes_bpf__attach(skel) == 0);
	trigger_getpid(2);
	CHECK(skel->bss->have_iter_type == 1 && skel->bss->have_missing_type == 0);
	CHECK(skel->bss->have_ringbuf_output == 1 && skel->bss->have_missing_helper == 0);
	/* this kernel has task_struct::__state, not state */
	CHECK(skel->bss->state_from_new_field == 1 && skel->bss->state_from_old_field == 0);
	CHECK(skel->data->running_state == 0);	/* TASK_RUNNING: it is making a syscall */
	CHECK(skel->bss->tgid_seen == getpid());
	core_fixes_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
