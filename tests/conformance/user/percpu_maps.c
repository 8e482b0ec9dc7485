#include <stdlib.h>
#include "c_util.h"
#include "percpu_maps.skel.h"

struct counters {
	__u64 calls;
	__u32 last_cpu;
	__u32 marker;
};

int main(void)
{
	struct percpu_maps_bpf *skel = percpu_maps_bpf__open_and_load();
	int ncpus = libbpf_num_possible_cpus(), i;
	struct counters *values;
	__u64 *by_tgid, calls = 0, total = 0;
	__u32 key = 0, tgid = getpid();

	CHECK(skel && ncpus > 0);
	values = calloc(ncpus, sizeof(*values));
	by_tgid = calloc(ncpus, sizeof(*by_tgid));
	CHECK(values && by_tgid);
	CHECK(percpu_maps_bpf__attach(skel) == 0);
	trigger_getpid(5);
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.per_cpu_counters), &key, values) == 0);
	CHECK(bpf_map_lookup_elem(bpf_map__fd(skel->maps.per_cpu_by_tgid), &tgid, by_tgid) == 0);
	for (i = 0; i < ncpus; i++) {
		calls += values[i].calls;
		total += by_tgid[i];
		CHECK(values[i].calls == 0 || (values[i].marker == 0xc0ffee && values[i].last_cpu == (__u32)i));
	}
	CHECK(calls >= 5 && total == 5);
	percpu_maps_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
