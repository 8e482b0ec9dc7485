#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct kprobe_bpf *skel = kprobe_bpf__open_and_load();
	int err;

	CHECK(skel, "open_and_load");
	CHECK(skel->progs.on_nanosleep.prog_fd > 0 && skel->progs.on_nanosleep_ret.prog_fd > 0 &&
	      skel->progs.on_getppid.prog_fd > 0, "programs loaded");
	err = kprobe_bpf__attach(skel);
#ifdef BPFTOOL_SKEL
	CHECK(err == 0, "bpftool's light skeleton does not attach kprobes: %d", err);
#else
	if (access("/sys/bus/event_source/devices/kprobe/type", F_OK) == 0)
		CHECK(err == 0 && skel->links.on_nanosleep_fd > 0, "attach: %d", err);
	else
		CHECK(err < 0, "attach without kprobe support must fail: %d", err);
#endif
	kprobe_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
