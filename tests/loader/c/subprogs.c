#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct subprogs_bpf *skel = subprogs_bpf__open_and_load();
	__u64 ctx = 0;

	CHECK(skel, "open_and_load");
	CHECK(t_run(skel->progs.first.prog_fd, NULL, 0, NULL, &ctx, sizeof(ctx), NULL) == 0, "run first");
	CHECK(t_run(skel->progs.second.prog_fd, NULL, 0, NULL, &ctx, sizeof(ctx), NULL) == 0, "run second");
	CHECK(skel->bss->results[0] == 25 && skel->bss->results[1] == 15 && skel->bss->results[2] == 45 &&
	      skel->bss->results[3] == 84, "results %llu %llu %llu %llu",
	      (unsigned long long)skel->bss->results[0], (unsigned long long)skel->bss->results[1],
	      (unsigned long long)skel->bss->results[2], (unsigned long long)skel->bss->results[3]);
	subprogs_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
