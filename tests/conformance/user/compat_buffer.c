/* Both modes of bcc's compat.c, chosen by argv[1] ("perf" or "ring", default both in turn). */
#include <string.h>
#include "c_util.h"
#include "events.h"
#include "compat_buffer.skel.h"

static __u32 self;
static int seen;
static __u64 expected_payload;

static int on_sample(void *ctx, void *data, size_t size)
{
	const struct event *e = data;

	if (size >= sizeof(*e) && e->pid == self && e->payload == expected_payload)
		seen++;
	return 0;
}

static void on_perf_sample(void *ctx, int cpu, void *data, __u32 size)
{
	on_sample(ctx, data, size);
}

static int run(bool perf)
{
	struct compat_buffer_bpf *skel = compat_buffer_bpf__open();
	struct ring_buffer *rb = NULL;
	struct perf_buffer *pb = NULL;

	CHECK(skel);
	seen = 0;
	expected_payload = perf ? 2 : 1;
	skel->rodata->targ_tgid = self;
	skel->rodata->use_ringbuf = !perf;
	if (perf) {
		CHECK(bpf_map__set_type(skel->maps.events, BPF_MAP_TYPE_PERF_EVENT_ARRAY) == 0);
		CHECK(bpf_map__set_key_size(skel->maps.events, sizeof(int)) == 0);
		CHECK(bpf_map__set_value_size(skel->maps.events, sizeof(int)) == 0);
	} else {
		CHECK(bpf_map__set_autocreate(skel->maps.heap, false) == 0);
	}
	CHECK(compat_buffer_bpf__load(skel) == 0);
	CHECK(compat_buffer_bpf__attach(skel) == 0);
	if (perf)
		pb = perf_buffer__new(bpf_map__fd(skel->maps.events), 8, on_perf_sample, NULL, NULL, NULL);
	else
		rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_sample, NULL, NULL);
	CHECK(pb || rb);
	trigger_getpid(3);
	CHECK((perf ? perf_buffer__poll(pb, 1000) : ring_buffer__poll(rb, 1000)) >= 0);
	CHECK(seen == 3 && skel->bss->submitted == 3);
	perf_buffer__free(pb);
	ring_buffer__free(rb);
	compat_buffer_bpf__destroy(skel);
	return 0;
}

int main(int argc, char **argv)
{
	self = getpid();
	if (argc < 2 || strcmp(argv[1], "ring") == 0)
		CHECK(run(false) == 0);
	if (argc < 2 || strcmp(argv[1], "perf") == 0)
		CHECK(run(true) == 0);
	printf("ok\n");
	return 0;
}
