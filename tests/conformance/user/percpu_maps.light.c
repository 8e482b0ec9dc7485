#include <stdlib.h>
#include "light_util.h"
#include "percpu_maps.lskel.h"

struct counters {
	__u64 calls;
	__u32 last_cpu;
	__u32 marker;
};

int main(void)
{
	struct percpu_maps_bpf *skel = percpu_maps_bpf__open_and_load();
	long ncpus = sysconf(_SC_NPROCESSORS_CONF) + 64, i;	/* more than possible CPUs: room to spare */
	struct counters *values = (struct counters *)calloc(ncpus, sizeof(*values));
	__u64 calls = 0;
	__u32 key = 0;

	CHECK(skel && values);
	CHECK(percpu_maps_bpf__attach(skel) == 0);
	trigger_getpid(5);
	CHECK(map_lookup(skel->maps.per_cpu_counters.map_fd, &key, values) == 0);
	for (i = 0; i < ncpus; i++)
		calls += values[i].calls;
	CHECK(calls >= 5);
	percpu_maps_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
