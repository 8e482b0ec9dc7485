/* Maps pinned by name through a light skeleton (tests/loader/test_light_c_pinning.py): loads
 * tests/runtime/progs/pin_counts.bpf.c's skeleton with the settings the environment gives, runs
 * its program once, and prints the ids of its maps and the fds open before the load and after
 * X__destroy (the skeleton closes what it made, whether the load worked or not).
 *
 *   PIN_ROOT          skel->pin_root_path
 *   PIN_COUNTS        skel->pin_paths.shared_counts ("-": "", not pinned this load)
 *   PIN_NAMES         skel->pin_paths.shared_names
 *   REFUSED           load the program the verifier refuses too: the load fails after the maps exist
 */
#include <stdlib.h>
#include "pin_counts.lskel.h"
#include "fds.h"

static __u32 map_id(int fd)
{
	struct bpf_build_map_info info;

	memset(&info, 0, sizeof(info));
	return bpf_build_obj_info(fd, &info, sizeof(info)) ? 0 : info.id;
}

static const char *path_setting(const char *name)
{
	const char *v = getenv(name);

	return v && strcmp(v, "-") == 0 ? "" : v;
}

int main(void)
{
	struct bpf_build_attr_test_run run;
	struct pin_counts *skel;
	int fds = open_fds(), err;

	skel = pin_counts__open();
	if (!skel)
		return 2;
	skel->pin_root_path = getenv("PIN_ROOT");
	skel->pin_paths.shared_counts = path_setting("PIN_COUNTS");
	skel->pin_paths.shared_names = path_setting("PIN_NAMES");
	if (getenv("REFUSED"))
		skel->progs.refused.load = BPF_BUILD_LOAD_YES;
	if (pin_counts__load(skel)) {
		err = errno;
		printf("load failed %d %d step %u fds %d", err, -skel->load_error.err, skel->load_error.step, fds);
		pin_counts__destroy(skel);
		printf(" %d\n", open_fds());
		return 3;
	}
	memset(&run, 0, sizeof(run));
	run.prog_fd = (__u32)skel->progs.bump.prog_fd;
	if (bpf_build_sys_bpf(BPF_BUILD_CMD_PROG_TEST_RUN, &run, sizeof(run)) || run.retval) {
		printf("bump failed %d\n", errno);
		pin_counts__destroy(skel);
		return 4;
	}
	printf("loaded counts %u names %u private %u", map_id(skel->maps.shared_counts.map_fd),
	       map_id(skel->maps.shared_names.map_fd), map_id(skel->maps.private_count.map_fd));
	pin_counts__destroy(skel);
	printf(" fds %d %d\n", fds, open_fds());
	return 0;
}
