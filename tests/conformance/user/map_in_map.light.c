#include "light_util.h"
#include "map_in_map.lskel.h"

int main(void)
{
	struct map_in_map_bpf *skel = map_in_map_bpf__open_and_load();
	__u32 slot = 1, key = 2, hkey = 7, inner_id = 0;
	__u64 value = 0;
	int inner_a_fd;

	CHECK(skel);
	CHECK(map_lookup(skel->maps.outer_array.map_fd, &slot, &inner_id) == 0 && inner_id != 0);
	inner_a_fd = skel->maps.inner_a.map_fd;
	CHECK(map_update(skel->maps.outer_hash.map_fd, &hkey, &inner_a_fd) == 0);
	CHECK(map_in_map_bpf__attach(skel) == 0);
	trigger_getpid(3);
	CHECK(map_lookup(skel->maps.inner_b.map_fd, &key, &value) == 0 && value >= 3);
	CHECK(map_lookup(skel->maps.inner_a.map_fd, &key, &value) == 0 && value >= 30);
	map_in_map_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
