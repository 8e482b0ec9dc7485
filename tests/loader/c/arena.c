/* A BPF arena through a light skeleton (tests/loader/test_light_c_arena.py): loads
 * tests/runtime/progs/arena.bpf.c's skeleton, runs `build` (it links three nodes in the arena),
 * reads the list and bumps each value through the mapping, runs `sum` and prints what it saw, and
 * the fds open before the load and after X__destroy (the skeleton closes what it made, whether the
 * load worked or not). Where the kernel cannot make arenas it prints the load's errno.
 *
 *   MAX_ENTRIES       skel->maps.arena.max_entries (pages) before load
 */
#include <stdlib.h>
#include <linux/types.h>
/* the programs' list node (arena.bpf.c), as the skeleton's globals point to it */
struct node {
	struct node *next;
	__u64 value;
};

#include "arena_test.lskel.h"
#include "fds.h"

static int run(int prog_fd)
{
	struct bpf_build_attr_test_run run;

	memset(&run, 0, sizeof(run));
	run.prog_fd = (__u32)prog_fd;
	if (bpf_build_sys_bpf(BPF_BUILD_CMD_PROG_TEST_RUN, &run, sizeof(run)))
		return -errno;
	return (int)run.retval;
}

static int in_arena(struct arena_test *skel, const void *p, size_t size)
{
	const char *start = (const char *)skel->arena_region;

	return (const char *)p >= start && (const char *)p + size <= start + skel->arena_size;
}

int main(void)
{
	unsigned long page_size = (unsigned long)sysconf(_SC_PAGE_SIZE), region, last = 0;
	struct arena_test *skel;
	struct node *n;
	int fds = open_fds(), err, ret, count = 0;

	skel = arena_test__open();
	if (!skel)
		return 2;
	/* before load: the initial value, editable */
	printf("before_counter %llu before_region %d", (unsigned long long)skel->arena->counter,
	       skel->arena_region != NULL);
	skel->arena->from_user = 42;
	if (getenv("MAX_ENTRIES"))
		skel->maps.arena.max_entries = (__u32)strtoul(getenv("MAX_ENTRIES"), NULL, 0);
	if (arena_test__load(skel)) {
		err = errno;
		printf(" load_failed %d region %d", err, skel->arena_region != NULL);
		arena_test__destroy(skel);
		printf(" fds_before %d fds_after %d\n", fds, open_fds());
		return 3;
	}
	region = (unsigned long)skel->arena_region;
	printf(" region_at %#lx size %zu aligned %d within4g %d globals_at_start %d", region, skel->arena_size,
	       region % page_size == 0, (region >> 32) == ((region + skel->arena_size - 1) >> 32),
	       (void *)skel->arena == skel->arena_region);
	printf(" counter0 %llu from_user0 %llu head0_null %d", (unsigned long long)skel->arena->counter,
	       (unsigned long long)skel->arena->from_user, skel->arena->head == NULL);
	ret = run(skel->progs.build.prog_fd);	/* before reading what it changed */
	printf(" build %d seen %llu counter %llu", ret, (unsigned long long)skel->bss->seen_from_user,
	       (unsigned long long)skel->arena->counter);
	printf(" list ");
	for (n = skel->arena->head; n && count < 16; n = n->next, count++) {
		if (!in_arena(skel, n, sizeof(*n))) {
			printf("outside\n");
			return 4;
		}
		printf("%s%llu", count ? "," : "", (unsigned long long)n->value);
		n->value += 1;	/* straight into the arena */
		last = (unsigned long)n;
	}
	/* the nodes are in the page bpf_arena_alloc_pages gave, not the globals' one */
	printf(" node_page_apart %d", last / page_size != region / page_size);
	skel->arena->from_user = 1000;
	ret = run(skel->progs.sum.prog_fd);
	printf(" sum %d nodes %llu total %llu", ret, (unsigned long long)skel->bss->nodes_seen,
	       (unsigned long long)skel->arena->list_sum);
	arena_test__destroy(skel);
	printf(" fds_before %d fds_after %d\n", fds, open_fds());
	return 0;
}
