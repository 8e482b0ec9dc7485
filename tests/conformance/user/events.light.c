#include "light_util.h"
#include "events.h"
#include "events.lskel.h"

int main(void)
{
	struct events_bpf *skel = events_bpf__open();

	CHECK(skel);
	skel->rodata->targ_tgid = getpid();
	CHECK(events_bpf__load(skel) == 0);
	CHECK(events_bpf__attach(skel) == 0);
	trigger_getpid(4);
	CHECK(skel->bss->sequence == 4 && skel->bss->dropped == 0);
	CHECK(skel->maps.rb.map_fd > 0 && skel->maps.perf_events.map_fd > 0);
	events_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
