#include "c_util.h"
#include "map_in_map.skel.h"

int main(void)
{
	struct map_in_map_bpf *skel = map_in_map_bpf__open_and_load();
	__u32 slot = 1, key = 2, hkey = 7, inner_id = 0;
	__u64 value = 0;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	CHECK(skel);
	/* the initial slots point at the object's own inner maps */
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.outer_array), &slot, &inner_id) == 0);
	CHECK(bpf_obj_get_info_by_fd(bpf_map__fd(skel->maps.inner_b), &info, &len) == 0);
	CHECK(inner_id == info.id);
	CHECK(bpf_map_update_elem(bpf_map__fd(skel->maps.outer_hash), &hkey,
				  &(int){bpf_map__fd(skel->maps.inner_a)}, BPF_ANY) == 0);
	CHECK(map_in_map_bpf__attach(skel) == 0);
	trigger_getpid(3);
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.inner_b), &key, &value) == 0 && value >= 3);
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.inner_a), &key, &value) == 0 && value >= 30);
	map_in_map_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
