#include "light_util.h"
#include "dunder_names.h"
#include "dunder_names.lskel.h"

int main(void)
{
	struct dunder_names_bpf *skel = dunder_names_bpf__open_and_load();
	struct __event_spec spec;
	int key = 0;

	CHECK(skel);
	memset(&spec, 0, sizeof(spec));
	spec.arg_cnt = 2;
	spec.args[0].reg_off = -8;
	CHECK(map_update(skel->maps.__specs.map_fd, &key, &spec) == 0);
	CHECK(dunder_names_bpf__attach(skel) == 0);
	trigger_getpid(2);
	CHECK(skel->bss->__calls >= 2);
	CHECK(skel->bss->__last_node.__lo == 2 && skel->bss->__last_node.__src == -8);
	dunder_names_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
