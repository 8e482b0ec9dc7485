"""Ring buffer and perf buffer consumers, fed by a tracepoint program that fires on this process's
own getppid() calls: every event the test reads was produced by a syscall the test made."""

from __future__ import annotations

import ctypes
import os

import pytest

from bpf_build.runtime import BpfRuntimeError, Map, MapType, ProgType
from bpf_build.runtime.perfbuf import PerfBuffer
from bpf_build.runtime.ringbuf import RingBuffer
from tests.runtime import rt_support

EVENTS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
    __u32 pid;
    __u32 seq;
    __u64 ts;
    char comm[16];
};

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4); } samples SEC(".maps");
/* [0] = the pid to watch, [1] = next sequence number, [2] = discard every Nth event (0: never) */
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 3); __type(key, __u32); __type(value, __u32); } config SEC(".maps");

static __always_inline __u32 *slot(__u32 key)
{
    return bpf_map_lookup_elem(&config, &key);
}

static __always_inline int fill(struct event *e)
{
    __u32 *target = slot(0), *seq = slot(1);
    __u32 pid = bpf_get_current_pid_tgid() >> 32;

    if (!target || !seq || *target != pid)
        return 0;
    e->pid = pid;
    e->seq = __sync_fetch_and_add(seq, 1);
    e->ts = bpf_ktime_get_ns();
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    return 1;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int to_ringbuf(void *ctx)
{
    __u32 *every = slot(2);
    struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

    if (!e)
        return 0;
    if (!fill(e) || !every) {
        bpf_ringbuf_discard(e, 0);
        return 0;
    }
    if (*every && e->seq % *every == 0)
        bpf_ringbuf_discard(e, 0);
    else
        bpf_ringbuf_submit(e, 0);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int to_perfbuf(void *ctx)
{
    struct event e = {};

    if (fill(&e))
        bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, &e, sizeof(e));
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


class Event(ctypes.Structure):
    _fields_ = [("pid", ctypes.c_uint32), ("seq", ctypes.c_uint32), ("ts", ctypes.c_uint64),
                ("comm", ctypes.c_char * 16)]


def our_comm() -> bytes:
    with open("/proc/self/comm", "rb") as f:
        return f.read().strip()[:15]


@pytest.fixture
def event_maps():
    u32 = ctypes.c_uint32
    with Map.create(MapType.RINGBUF, 0, 0, 1 << 16, name="events") as events, \
            Map.create(MapType.PERF_EVENT_ARRAY, 4, 4, os.cpu_count() or 1, name="samples") as samples, \
            Map.create(MapType.ARRAY, 4, 4, 3, name="config", key_type=u32, value_type=u32) as config:
        config[0] = os.getpid()
        yield {"events": events, "samples": samples, "config": config}


@pytest.fixture
def producer(compile_c, event_maps, tracefs):
    """attach(section) -> link: the program fires on each getppid() of this process."""
    obj = compile_c(EVENTS_C, name="events", cflags=("-mcpu=v3",))  # v3: fetch-and-add
    opened = []

    def attach(section_function: str):
        prog = rt_support.load_compiled(obj, section_function, ProgType.TRACEPOINT, event_maps)
        opened.append(prog)
        link = prog.attach_tracepoint("syscalls", "sys_enter_getppid")
        opened.append(link)
        return link

    yield attach
    for owned in reversed(opened):
        owned.close()


def test_ringbuf_typed_events_in_order(event_maps, producer):
    producer("to_ringbuf")
    with RingBuffer(event_maps["events"], event_type=Event) as rb:
        for _ in range(10):
            os.getppid()
        events = rb.read(timeout=1.0)
    assert [e.seq for e in events] == list(range(10))
    assert {e.pid for e in events} == {os.getpid()}
    assert {e.comm for e in events} == {our_comm()}
    assert all(a.ts <= b.ts for a, b in zip(events, events[1:]))


def test_ringbuf_callbacks_skip_discarded_and_survive_wraparound(event_maps, producer):
    event_maps["config"][2] = 3  # every third event is reserved, then discarded
    producer("to_ringbuf")
    seen = []
    with RingBuffer(event_maps["events"], callback=lambda raw: seen.append(Event.from_buffer_copy(raw))) as rb:
        # 64 KiB ring, 40 bytes per record: 6 rounds of 900 records wrap around it several times.
        for _ in range(6):
            for _ in range(900):
                os.getppid()
            while rb.poll(timeout=0.5):
                pass
    expected = [s for s in range(5400) if s % 3]
    assert [e.seq for e in seen] == expected


def test_ringbuf_iterator_and_raw_bytes(event_maps, producer):
    producer("to_ringbuf")
    rb = RingBuffer(event_maps["events"])
    os.getppid()
    os.getppid()
    it = iter(rb)
    first, second = next(it), next(it)
    rb.close()
    assert len(first) == ctypes.sizeof(Event)  # raw records are exactly what the program submitted
    assert Event.from_buffer_copy(second).seq == Event.from_buffer_copy(first).seq + 1


def test_ringbuf_poll_times_out_empty(event_maps):
    with RingBuffer(event_maps["events"], callback=lambda _: None) as rb:
        assert rb.poll(timeout=0.05) == 0
        assert rb.read(timeout=0.05) == []


def test_ringbuf_refuses_other_maps(event_maps):
    with pytest.raises(BpfRuntimeError, match="not a ring buffer"):
        RingBuffer(event_maps["config"])
    with RingBuffer(event_maps["events"]) as rb, pytest.raises(BpfRuntimeError, match="no callback"):
        rb.poll(0)


def test_perf_buffer_typed_samples(event_maps, producer):
    got = []
    lost = []
    with PerfBuffer(event_maps["samples"], lambda cpu, e: got.append((cpu, e)), event_type=Event,
                    lost_callback=lambda cpu, n: lost.append(n)) as pb:
        producer("to_perfbuf")
        for _ in range(20):
            os.getppid()
        while len(got) < 20 and pb.poll(timeout=1.0):
            pass
    assert not lost
    assert sorted(e.seq for _, e in got) == list(range(20))
    assert all(e.pid == os.getpid() and e.comm == our_comm() for _, e in got)
    assert all(0 <= cpu < os.cpu_count() for cpu, _ in got)


def test_perf_buffer_batch_read_and_cleanup(event_maps, producer):
    samples = event_maps["samples"]
    pb = PerfBuffer(samples, pages=2)
    producer("to_perfbuf")
    os.getppid()
    batch = pb.read(timeout=1.0)
    pb.close()
    assert len(batch) == 1 and Event.from_buffer_copy(batch[0][1][:ctypes.sizeof(Event)]).seq == 0
    # Our per-CPU events were taken out of the map again: nothing left to delete.
    assert not any(samples.delete(cpu) for cpu in range(samples.max_entries))
