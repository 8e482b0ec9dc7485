#include "common.h"

/* types of global variables: a skeleton uses them as the BPF source declares them */
struct point {
	int x, y;
};

#include SKEL_HEADER

int main(void)
{
	struct globals_bpf *skel = globals_bpf__open();
	__u64 ctx = 0;

	CHECK(skel, "open");
	CHECK(skel->data->counter == 40 && skel->rodata->limit == 1000, "initial values");
	CHECK(skel->data_custom->custom == 11 && skel->rodata_custom->custom_ro == 22, "custom sections");
	skel->data->counter = 100;
	skel->rodata->limit = 7;
	skel->data_custom->custom = 12;
	CHECK(globals_bpf__load(skel) == 0, "load");
	CHECK(t_run(skel->progs.copy_all.prog_fd, NULL, 0, NULL, &ctx, sizeof(ctx), NULL) == 0, "run");
	CHECK(skel->bss->seen_counter == 101 && skel->data->counter == 101, "counter %d", skel->bss->seen_counter);
	CHECK(skel->bss->seen_limit == 7 && skel->bss->total == 7, "limit %d", skel->bss->seen_limit);
	CHECK(skel->bss->seen_origin.x == -1 && skel->bss->seen_origin.y == 2, "origin");
	CHECK(skel->bss->seen_custom == 12 && skel->bss->seen_custom_ro == 22, "custom");
	CHECK(skel->bss->seen_static == 33 && skel->bss->seen_hidden == 44, "static/hidden");
	CHECK(strcmp(skel->bss->seen_greeting, "hi there") == 0, "greeting '%s'", skel->bss->seen_greeting);
	CHECK(strcmp(skel->bss->seen_literal, "literal") == 0, "literal");
	/* the mmapped .data is the map itself: a write is seen by the next run */
	skel->data->counter = 500;
	CHECK(t_run(skel->progs.copy_all.prog_fd, NULL, 0, NULL, &ctx, sizeof(ctx), NULL) == 0, "run");
	CHECK(skel->bss->seen_counter == 501, "live data %d", skel->bss->seen_counter);
	globals_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
