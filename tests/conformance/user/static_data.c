#include "c_util.h"
#include "static_data.skel.h"

int main(void)
{
	struct static_data_bpf *skel = static_data_bpf__open_and_load();
	__u32 key = 0, seed_key = 1, tgid = getpid();
	__u64 hits = 0, seed = 0;
	__u32 slots[8];

	CHECK(skel);
	CHECK(static_data_bpf__attach(skel) == 0);
	trigger_getpid(3);
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.results), &key, &hits) == 0);
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.results), &seed_key, &seed) == 0);
	CHECK(hits >= 3 && seed == 0x5eed);
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.hists), &tgid, slots) == 0);
	/* the static-only sections are maps of the object all the same */
	CHECK(bpf_map__fd(skel->maps.bss) >= 0 && bpf_map__fd(skel->maps.data) >= 0);
	static_data_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
