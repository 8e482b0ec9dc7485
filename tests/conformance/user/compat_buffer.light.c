/* The ring buffer mode: light skeletons can change neither a map's type nor whether it is created. */
#include "light_util.h"
#include "compat_buffer.lskel.h"

int main(void)
{
	struct compat_buffer_bpf *skel = compat_buffer_bpf__open();

	CHECK(skel);
	skel->rodata->targ_tgid = getpid();
	CHECK(compat_buffer_bpf__load(skel) == 0);
	CHECK(compat_buffer_bpf__attach(skel) == 0);
	trigger_getpid(3);
	CHECK(skel->bss->submitted == 3);
	compat_buffer_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
