#include "c_util.h"
#include "rodata_config.skel.h"

int main(void)
{
	struct rodata_config_bpf *skel = rodata_config_bpf__open();

	CHECK(skel);
	skel->rodata->filter_by_tgid = true;
	skel->rodata->count_twice = true;
	skel->rodata->targ_tgid = getpid();
	skel->rodata->multiplier = 5;
	CHECK(rodata_config_bpf__load(skel) == 0);
	CHECK(rodata_config_bpf__attach(skel) == 0);
	trigger_getpid(3);
	CHECK(skel->bss->saw_event == true);
	CHECK(skel->bss->matched == 30);
	rodata_config_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
