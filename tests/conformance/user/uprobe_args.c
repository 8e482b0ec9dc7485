#include <stdlib.h>
#include <string.h>
#include "c_util.h"
#include "uprobe_args.skel.h"

#define LIBC "/lib/x86_64-linux-gnu/libc.so.6"

int main(void)
{
	struct uprobe_args_bpf *skel = uprobe_args_bpf__open();
	LIBBPF_OPTS(bpf_uprobe_opts, entry_opts, .func_name = "getenv", .retprobe = false);
	LIBBPF_OPTS(bpf_uprobe_opts, return_opts, .func_name = "getenv", .retprobe = true);

	CHECK(skel);
	skel->rodata->targ_tgid = getpid();
	CHECK(uprobe_args_bpf__load(skel) == 0);
	skel->links.on_getenv = bpf_program__attach_uprobe_opts(skel->progs.on_getenv, getpid(), LIBC, 0, &entry_opts);
	skel->links.on_getenv_return = bpf_program__attach_uprobe_opts(skel->progs.on_getenv_return, getpid(), LIBC,
								      0, &return_opts);
	CHECK(skel->links.on_getenv && skel->links.on_getenv_return);
	setenv("CONFORMANCE_UPROBE_KEY", "1", 1);
	CHECK(getenv("CONFORMANCE_UPROBE_KEY") != NULL);
	CHECK(skel->bss->entries >= 1 && skel->bss->returns >= 1);
	CHECK(strcmp(skel->bss->seen_name, "CONFORMANCE_UPROBE_KEY") == 0 && skel->bss->last_result_nonnull == 1);
	uprobe_args_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
