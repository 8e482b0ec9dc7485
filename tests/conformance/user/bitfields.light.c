#include "light_util.h"
#include "bitfields.h"
#include "bitfields.lskel.h"

int main(void)
{
	struct bitfields_bpf *skel = bitfields_bpf__open();
	struct flags from_map;
	__u32 key = 0;

	CHECK(skel);
	CHECK(skel->data->current_flags.kind == 5 && skel->data->current_flags.delta == -3);
	skel->data->current_flags.level = 30;
	CHECK(bitfields_bpf__load(skel) == 0);
	CHECK(bitfields_bpf__attach(skel) == 0);
	trigger_getpid(1);
	CHECK(skel->bss->seen_flags.level == 30 && skel->bss->seen_flags.delta == -4);
	CHECK(map_lookup(skel->maps.flag_map.map_fd, &key, &from_map) == 0);
	CHECK(from_map.kind == 5 && from_map.rest == 0xfff && from_map.wide == 0x123456789aULL);
	bitfields_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
