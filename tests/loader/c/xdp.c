#include "common.h"
#include SKEL_HEADER

int main(void)
{
	struct xdp_bpf *skel = xdp_bpf__open();
	unsigned char pkt[64];
	__u64 counts[256];
	__u32 ret, key = 1;
	int cpus = sysconf(_SC_NPROCESSORS_CONF), i;
	__u64 sum = 0;

	CHECK(skel, "open");
	skel->rodata->drop_proto = 0x86dd;
	CHECK(xdp_bpf__load(skel) == 0, "load");
	t_packet(pkt, sizeof(pkt), 0x86dd);
	CHECK(t_run(skel->progs.xdp_filter.prog_fd, pkt, sizeof(pkt), NULL, NULL, 0, &ret) == 0 && ret == XDP_DROP,
	      "ret %u", ret);
	t_packet(pkt, sizeof(pkt), 0x0800);
	CHECK(t_run(skel->progs.xdp_filter.prog_fd, pkt, sizeof(pkt), NULL, NULL, 0, &ret) == 0 && ret == XDP_PASS,
	      "ret %u", ret);
	CHECK(skel->bss->bytes_seen == 128, "bytes %llu", (unsigned long long)skel->bss->bytes_seen);
	CHECK(t_lookup(skel->maps.verdicts.map_fd, &key, counts) == 0, "lookup");
	for (i = 0; i < cpus && i < 256; i++)
		sum += counts[i];
	CHECK(sum == 1, "drops counted %llu", (unsigned long long)sum);
	xdp_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
