#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct tailcall_bpf *skel = tailcall_bpf__open_and_load();
	unsigned char pkt[64];
	__u32 ret;

	CHECK(skel, "open_and_load");
	t_packet(pkt, sizeof(pkt), 0x0800);
	CHECK(t_run(skel->progs.xdp_entry.prog_fd, pkt, sizeof(pkt), NULL, NULL, 0, &ret) == 0 && ret == XDP_TX,
	      "tail call through the PROG_ARRAY's initial slot: ret %u", ret);
	CHECK(skel->bss->tail_calls == 1, "tail calls %llu", (unsigned long long)skel->bss->tail_calls);
	tailcall_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
