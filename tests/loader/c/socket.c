#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct socket_bpf *skel = socket_bpf__open();
	unsigned char pkt[100];
	__u32 ret;

	CHECK(skel, "open");
	skel->rodata->snap_len = 20;
	CHECK(socket_bpf__load(skel) == 0, "load");
	t_packet(pkt, sizeof(pkt), 0x0800);
	CHECK(t_run(skel->progs.snap.prog_fd, pkt, sizeof(pkt), NULL, NULL, 0, &ret) == 0 && ret == 20, "ret %u", ret);
	CHECK(skel->bss->seen == 1, "seen");
	socket_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
