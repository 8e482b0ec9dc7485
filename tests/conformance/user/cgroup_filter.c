#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "c_util.h"
#include "cgroup_filter.skel.h"

#define CGROUP2 "/sys/fs/cgroup/unified"

int main(void)
{
	struct cgroup_filter_bpf *skel = cgroup_filter_bpf__open();
	char empty[64];
	__u32 key = 0;
	__u64 before;
	int root_fd, empty_fd;

	CHECK(skel);
	skel->rodata->filter_cg = true;
	skel->rodata->targ_tgid = getpid();
	CHECK(cgroup_filter_bpf__load(skel) == 0);
	root_fd = open(CGROUP2, O_RDONLY);
	snprintf(empty, sizeof(empty), CGROUP2 "/conformance-%d", getpid());
	CHECK(root_fd >= 0 && mkdir(empty, 0755) == 0);
	empty_fd = open(empty, O_RDONLY);
	CHECK(empty_fd >= 0);
	CHECK(bpf_map_update_elem(bpf_map__fd(skel->maps.cgroup_map), &key, &root_fd, BPF_ANY) == 0);
	CHECK(cgroup_filter_bpf__attach(skel) == 0);
	trigger_getpid(3);
	before = skel->bss->matched;
	CHECK(bpf_map_update_elem(bpf_map__fd(skel->maps.cgroup_map), &key, &empty_fd, BPF_ANY) == 0);
	trigger_getpid(3);	/* this process is not in the empty cgroup: filtered out */
	CHECK(before >= 3 && skel->bss->matched == before);
	close(empty_fd);
	rmdir(empty);
	cgroup_filter_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
