/* Light skeletons attach uprobes only from a section naming the binary; loading is checked here. */
#include "light_util.h"
#include "uprobe_args.lskel.h"

int main(void)
{
	struct uprobe_args_bpf *skel = uprobe_args_bpf__open();

	CHECK(skel);
	skel->rodata->targ_tgid = getpid();
	CHECK(uprobe_args_bpf__load(skel) == 0);
	CHECK(skel->progs.on_getenv.prog_fd > 0 && skel->progs.on_getenv_return.prog_fd > 0);
	uprobe_args_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
