#include "c_util.h"
#include "dunder_names.h"
#include "dunder_names.skel.h"

int main(void)
{
	struct dunder_names_bpf *skel = dunder_names_bpf__open_and_load();
	struct __event_spec spec = {};
	int key = 0;

	CHECK(skel);
	spec.arg_cnt = 2;
	spec.args[0].reg_off = -8;
	spec.args[1].arg_signed = true;
	CHECK(bpf_map_update_elem(bpf_map__fd(skel->maps.__specs), &key, &spec, BPF_ANY) == 0);
	CHECK(dunder_names_bpf__attach(skel) == 0);
	trigger_getpid(2);
	CHECK(skel->bss->__calls >= 2);
	CHECK(skel->bss->__last_spec.arg_cnt == 2 && skel->bss->__last_spec.args[1].arg_signed);
	CHECK(skel->bss->__last_node.__lo == 2 && skel->bss->__last_node.__hi == 7);
	CHECK(skel->bss->__last_node.__src == -8 && skel->bss->_shadow.only_one == 0);
	CHECK(skel->progs.__on_getpid != NULL && skel->links.__on_getpid != NULL);
	dunder_names_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
