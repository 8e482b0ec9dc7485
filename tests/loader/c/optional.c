#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct optional_bpf *skel = optional_bpf__open_and_load();
	__u64 ctx = 0;

	CHECK(skel, "open_and_load");
	CHECK(skel->progs.always.prog_fd > 0 && skel->progs.optional_prog.prog_fd == 0, "default autoload");
	optional_bpf__destroy(skel);

	skel = optional_bpf__open();
	CHECK(skel, "open");
	skel->progs.optional_prog.load = BPF_BUILD_LOAD_YES;
	skel->progs.always.load = BPF_BUILD_LOAD_NO;
	CHECK(optional_bpf__load(skel) == 0, "load");
	CHECK(skel->progs.always.prog_fd == 0 && skel->progs.optional_prog.prog_fd > 0, "requested");
	CHECK(optional_bpf__attach(skel) == 0, "attach skips what was not loaded");
	CHECK(t_run(skel->progs.optional_prog.prog_fd, NULL, 0, NULL, &ctx, sizeof(ctx), NULL) == 0, "run");
	CHECK(skel->bss->ran_optional == 1 && skel->bss->ran_always == 0, "ran");
	optional_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
