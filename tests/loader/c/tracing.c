#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct tracing_bpf *skel = tracing_bpf__open();
	int i;

	CHECK(skel, "open");
	skel->rodata->target_pid = getpid();
	CHECK(tracing_bpf__load(skel) == 0, "load");
	CHECK(skel->progs.on_sys_enter.prog_fd > 0 && skel->progs.dump_maps.prog_fd > 0, "loaded");
	CHECK(tracing_bpf__attach(skel) == 0, "attach");
	CHECK(skel->links.on_sys_enter_fd > 0 && skel->links.dump_maps_fd > 0, "links");
	for (i = 0; i < 3; i++)
		getppid();
	CHECK(skel->bss->enters >= 3, "enters %llu", (unsigned long long)skel->bss->enters);
	tracing_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
