#include <string.h>
#include "c_util.h"
#include "events.h"
#include "events.skel.h"

static int ring_events, perf_events_seen;
static __u32 self;	/* a getpid() in a callback would make another event */

static int on_ring_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;

	if (size >= sizeof(*e) && e->pid == self && e->payload == 0x1122334455667788ULL)
		ring_events++;
	return 0;
}

static void on_perf_event(void *ctx, int cpu, void *data, __u32 size)
{
	const struct event *e = data;

	if (size >= sizeof(*e) && e->pid == self && strncmp(e->comm, "events", 6) == 0)
		perf_events_seen++;
}

int main(void)
{
	struct events_bpf *skel = events_bpf__open();
	struct ring_buffer *rb;
	struct perf_buffer *pb;

	CHECK(skel);
	self = getpid();
	skel->rodata->targ_tgid = self;
	CHECK(events_bpf__load(skel) == 0);
	CHECK(events_bpf__attach(skel) == 0);
	rb = ring_buffer__new(bpf_map__fd(skel->maps.rb), on_ring_event, NULL, NULL);
	pb = perf_buffer__new(bpf_map__fd(skel->maps.perf_events), 8, on_perf_event, NULL, NULL, NULL);
	CHECK(rb && pb);
	trigger_getpid(4);
	CHECK(ring_buffer__poll(rb, 1000) >= 0);
	CHECK(perf_buffer__poll(pb, 1000) >= 0);
	CHECK(ring_events == 4 && perf_events_seen == 4 && skel->bss->dropped == 0);
	ring_buffer__free(rb);
	perf_buffer__free(pb);
	events_bpf__destroy(skel);
	printf("ok\n");
	return 0;
}
