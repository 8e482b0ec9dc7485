#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct maps_bpf *skel = maps_bpf__open_and_load();
	unsigned char pkt[64];
	__u32 ret, zero = 0, value = 0;

	CHECK(skel, "open_and_load");
	t_packet(pkt, sizeof(pkt), 0x0800);
	CHECK(t_run(skel->progs.exercise.prog_fd, pkt, sizeof(pkt), NULL, NULL, 0, &ret) == 0 && ret == XDP_PASS,
	      "exercise: ret %u", ret);
	CHECK(skel->bss->results[0] == 100 && skel->bss->results[1] == 100 && skel->bss->results[3] == 1,
	      "hash/lru/bloom");
	CHECK(skel->bss->results[4] == 1 && skel->bss->results[5] == 1, "map-in-map initial slots");
	CHECK(t_lookup(skel->maps.inner_b.map_fd, &zero, &value) == 0 && value == 77, "inner_b %u", value);
	maps_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
