#include "light_util.h"
#include "static_data.lskel.h"

int main(void)
{
	struct static_data_bpf *skel = static_data_bpf__open_and_load();
	__u32 key = 0, seed_key = 1;
	__u64 hits = 0, seed = 0;

	CHECK(skel);
	CHECK(static_data_bpf__attach(skel) == 0);
	trigger_getpid(3);
	CHECK(map_lookup(skel->maps.results.map_fd, &key, &hits) == 0);
	CHECK(map_lookup(skel->maps.results.map_fd, &seed_key, &seed) == 0);
	CHECK(hits >= 3 && seed == 0x5eed);
	static_data_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
