#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct tracepoint_bpf *skel = tracepoint_bpf__open();
	__u32 zero = 0;
	__u64 count = 0;
	int i;

	CHECK(skel, "open");
	skel->rodata->target_pid = getpid();
	CHECK(tracepoint_bpf__load(skel) == 0, "load");
	CHECK(tracepoint_bpf__attach(skel) == 0, "attach");
#ifdef BPFTOOL_SKEL
	/* bpftool's light skeletons do not attach tracepoints */
	CHECK(skel->links.handle_getpid_fd == 0, "bpftool attached a tracepoint?");
	tracepoint_bpf__destroy(skel);
	printf("ok\n");
	return 0;
#endif
	CHECK(skel->links.handle_getpid_fd > 0, "link fd %d", skel->links.handle_getpid_fd);
	for (i = 0; i < 3; i++)
		syscall(__NR_getpid);
	CHECK(skel->bss->hits == 3, "hits %llu", (unsigned long long)skel->bss->hits);
	CHECK(t_lookup(skel->maps.counts.map_fd, &zero, &count) == 0 && count == 3, "count %llu",
	      (unsigned long long)count);
	tracepoint_bpf__detach(skel);
	syscall(__NR_getpid);
	CHECK(skel->bss->hits == 3, "still counting after detach");
	tracepoint_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
