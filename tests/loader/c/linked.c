#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct linked_bpf *skel = linked_bpf__open_and_load();
	__u32 k;
	__u64 ctx = 0, v = 0;

	CHECK(skel, "open_and_load");
	CHECK(t_run(skel->progs.entry_a.prog_fd, NULL, 0, NULL, &ctx, sizeof(ctx), NULL) == 0, "run a");
	CHECK(t_run(skel->progs.entry_b.prog_fd, NULL, 0, NULL, &ctx, sizeof(ctx), NULL) == 0, "run b");
	k = 0;
	CHECK(t_lookup(skel->maps.shared_counts.map_fd, &k, &v) == 0 && v == 15, "slot 0: %llu", (unsigned long long)v);
	k = 1;
	CHECK(t_lookup(skel->maps.shared_counts.map_fd, &k, &v) == 0 && v == 12, "slot 1: %llu", (unsigned long long)v);
	linked_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
