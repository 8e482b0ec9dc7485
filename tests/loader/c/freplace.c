/* freplace programs through light skeletons (tests/loader/test_light_c_freplace.py): loads the
 * target (tests/runtime/progs/freplace_target.bpf.c) and the extension (freplace.bpf.c) from their
 * light skeletons, the extension aimed at the target's handler(), and prints the target's XDP
 * verdict before, while attached and after detaching, the counters, and the fds open before and
 * after (each X__destroy closes what its skeleton made, whether the load worked or not).
 *
 *   NO_TARGET   leave the extension's attach target unset
 *   FUNC        the function to replace instead of the one SEC("freplace/...") names
 */
#include <stdlib.h>
#include "freplace_target.lskel.h"
#include "fds.h"
#include "freplace_ext.lskel.h"

static unsigned verdict(int prog_fd)
{
	struct bpf_build_attr_test_run run;
	char packet[64];

	memset(packet, 0, sizeof(packet));
	memset(&run, 0, sizeof(run));
	run.prog_fd = (__u32)prog_fd;
	run.data_in = (__u64)(unsigned long)packet;
	run.data_size_in = sizeof(packet);
	if (bpf_build_sys_bpf(BPF_BUILD_CMD_PROG_TEST_RUN, &run, sizeof(run)))
		return 1000 + (unsigned)errno;
	return run.retval;
}

int main(void)
{
	struct freplace_target *target;
	struct freplace_ext *ext;
	int fds = open_fds(), err, entry;
	unsigned before, attached, after;

	target = freplace_target__open_and_load();
	if (!target)
		return 2;
	entry = target->progs.target_xdp.prog_fd;
	before = verdict(entry);
	ext = freplace_ext__open();
	if (!ext)
		return 2;
	if (!getenv("NO_TARGET"))
		ext->attach_targets.new_handler.prog_fd = entry;
	ext->attach_targets.new_handler.func = getenv("FUNC");
	if (freplace_ext__load(ext)) {
		err = errno;
		freplace_ext__destroy(ext);
		freplace_target__destroy(target);
		printf("load failed %d fds %d %d\n", err, fds, open_fds());
		return 3;
	}
	if (freplace_ext__attach(ext)) {
		printf("attach failed %d\n", errno);
		return 4;
	}
	attached = verdict(entry);
	freplace_ext__detach(ext);
	after = verdict(entry);
	printf("verdicts %u %u %u calls %llu %llu", before, attached, after,
	       (unsigned long long)ext->bss->replaced_calls, (unsigned long long)target->bss->handler_calls);
	freplace_ext__destroy(ext);
	freplace_target__destroy(target);
	printf(" fds %d %d\n", fds, open_fds());
	return 0;
}
