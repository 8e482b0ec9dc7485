#include "common.h"
#include SKEL_HEADER

int main(void)
{
	int fds = t_count_fds(), err;
	struct rejected_bpf *skel = rejected_bpf__open();

	CHECK(skel, "open");
	err = rejected_bpf__load(skel);
	CHECK(err == -EACCES, "load: %d", err);
#ifndef BPFTOOL_SKEL
	CHECK(skel->load_error.step_text && strstr(skel->load_error.step_text, "out_of_bounds"), "failing step");
	CHECK(skel->load_error.log && strstr(skel->load_error.log, "invalid access to map value"), "verifier log");
#endif
	CHECK(skel->maps.small.map_fd == 0 && skel->progs.fine.prog_fd == 0, "no fds handed out");
	rejected_bpf__destroy(skel);
	CHECK(t_count_fds() == fds, "fds leaked: %d -> %d", fds, t_count_fds());
	CHECK(rejected_bpf__open_and_load() == NULL, "open_and_load fails");
	CHECK(t_count_fds() == fds, "fds leaked: %d -> %d", fds, t_count_fds());
	printf("ok\n");
	return 0;
}
