#include "c_util.h"
#include "runtime_sized.skel.h"

int main(void)
{
	struct runtime_sized_bpf *skel = runtime_sized_bpf__open();
	__u32 key = 1;
	__u64 value = 0;

	CHECK(skel);
	CHECK(bpf_map__set_value_size(skel->maps.stackmap, 127 * sizeof(__u64)) == 0);
	CHECK(bpf_map__set_max_entries(skel->maps.stackmap, 1024) == 0);
	CHECK(bpf_map__set_max_entries(skel->maps.sized_later, 8) == 0);
	CHECK(bpf_program__set_autoload(skel->progs.on_missing, false) == 0);
	CHECK(runtime_sized_bpf__load(skel) == 0);
	CHECK(runtime_sized_bpf__attach(skel) == 0);
	trigger_getpid(2);
	CHECK(skel->bss->getpid_calls >= 2 && skel->bss->getpid_calls < 1000);
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.sized_later), &key, &value) == 0 && value == 1);
	CHECK(bpf_map__value_size(skel->maps.stackmap) == 127 * sizeof(__u64));
	runtime_sized_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
