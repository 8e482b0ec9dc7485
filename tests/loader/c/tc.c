#include "common.h"
#include <linux/pkt_cls.h>
#include SKEL_HEADER

int main(void)
{
	struct tc_bpf *skel = tc_bpf__open();
	unsigned char pkt[200], out[512];
	__u32 ret;

	CHECK(skel, "open");
	skel->rodata->new_first_byte = 0xbb;
	CHECK(tc_bpf__load(skel) == 0, "load");
	t_packet(pkt, 64, 0x0800);
	CHECK(t_run(skel->progs.tc_rewrite.prog_fd, pkt, 64, out, NULL, 0, &ret) == 0 && ret == TC_ACT_OK,
	      "ret %u", ret);
	CHECK(out[0] == 0xbb, "first byte %#x", out[0]);
	t_packet(pkt, sizeof(pkt), 0x0800);
	CHECK(t_run(skel->progs.tcx_count.prog_fd, pkt, sizeof(pkt), NULL, NULL, 0, &ret) == 0 && ret == TC_ACT_SHOT,
	      "ret %u", ret);
	CHECK(skel->bss->packets == 2, "packets %llu", (unsigned long long)skel->bss->packets);
	tc_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
