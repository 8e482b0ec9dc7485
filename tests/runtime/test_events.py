"""Event buffers on asyncio (``async for``, ``read_async``, ``poll_async`` for ring and perf
buffers), and the drop counter convention: a full ring loses records, the object counts them in
``<ring>_drops``, ``RingBuffer.dropped`` reads the count. Every event comes from a getppid() the
test makes."""

from __future__ import annotations

import asyncio
import os

import pytest

from bpf_build.runtime.perfbuf import PerfBuffer
from bpf_build.runtime.ringbuf import RingBuffer

EVENTS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct big_event { __u32 pid; __u32 seq; char payload[1016]; };   /* 1024 bytes */
struct big_event *event_type_in_btf __attribute__((unused));       /* clang keeps only referenced types */

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } events_drops SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4); } samples SEC(".maps");

__u32 watch_pid;
__u32 seq;

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
    struct big_event *e;
    __u32 pid = bpf_get_current_pid_tgid() >> 32, zero = 0, n;

    if (pid != watch_pid)
        return 0;
    n = __sync_fetch_and_add(&seq, 1);
    bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, &n, sizeof(n));
    e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        __u64 *drops = bpf_map_lookup_elem(&events_drops, &zero);
        if (drops)
            __sync_fetch_and_add(drops, 1);
        return 0;
    }
    e->pid = pid;
    e->seq = n;
    bpf_ringbuf_submit(e, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def events_mod(skeleton_module):
    return skeleton_module(EVENTS_C, name="asyncev")[0]


@pytest.fixture
def skel(events_mod, tracefs):
    with events_mod.asyncev_bpf.open_and_load() as s:
        s.bss.watch_pid = os.getpid()
        s.attach()
        yield s


def test_a_full_ring_counts_its_drops(events_mod, skel):
    with RingBuffer(skel.maps.events, event_type=events_mod.big_event) as rb:
        assert rb.dropped == 0
        for _ in range(10):              # 4096 bytes hold three 1024-byte records with headers
            os.getppid()
        assert [e.seq for e in rb.read()] == [0, 1, 2]
        assert rb.dropped == 7
        os.getppid()                     # room again
        assert [e.seq for e in rb.read()] == [10] and rb.dropped == 7


def test_without_a_counter_dropped_is_none(events_mod, skel):
    skel.maps.events.drop_counter = None
    with RingBuffer(skel.maps.events) as rb:
        assert rb.dropped is None


def test_async_for_and_read_async_on_the_event_loop(events_mod, skel):
    async def collect():
        loop = asyncio.get_running_loop()
        with RingBuffer(skel.maps.events, event_type=events_mod.big_event) as rb:
            assert await rb.read_async(timeout=0.05) == []      # nothing yet: the wait times out
            for delay in (0.02, 0.04):
                loop.call_later(delay, os.getppid)             # events arrive while we wait
            seen = []
            async for event in rb:
                seen.append(event.seq)
                if len(seen) == 2:
                    break
            return seen

    assert asyncio.run(asyncio.wait_for(collect(), 5)) == [0, 1]


def test_poll_async_delivers_to_callbacks_for_both_buffers(skel):
    got_ring, got_perf = [], []

    async def poll_both():
        loop = asyncio.get_running_loop()
        with RingBuffer(skel.maps.events, callback=got_ring.append) as rb, \
                PerfBuffer(skel.maps.samples, lambda cpu, data: got_perf.append(data[:4])) as perf:
            loop.call_later(0.02, os.getppid)
            ring_count = await rb.poll_async(timeout=2)
            perf_count = await perf.poll_async(timeout=2)
            pairs = await perf.read_async(timeout=0.05)
            return ring_count, perf_count, pairs

    ring_count, perf_count, pairs = asyncio.run(poll_both())
    assert (ring_count, perf_count, pairs) == (1, 1, [])
    assert got_ring[0].seq == 0 and got_perf == [(0).to_bytes(4, "little")]


AMBIGUOUS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct first { __u64 a, b; };
struct second { __u32 a, b, c, d; };            /* same size: the records' type is ambiguous */
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } twins SEC(".maps");
struct first *keep_first __attribute__((unused));
struct second *keep_second __attribute__((unused));

SEC("tracepoint/syscalls/sys_enter_getppid")
int send(void *ctx)
{
    struct first *f = bpf_ringbuf_reserve(&twins, sizeof(*f), 0);

    if (f)
        bpf_ringbuf_discard(f, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_records_are_typed_from_the_programs_sends(events_mod, skel):
    assert events_mod.asyncev_bpf._event_types_ == {"events": events_mod.big_event}  # reserve(&events, 1024)
    assert skel.maps.events.event_type is events_mod.big_event
    assert skel.maps.samples.event_type is None          # 4-byte samples: no struct of that size
    with RingBuffer(skel.maps.events) as rb, RingBuffer(skel.maps.events, event_type=bytes) as raw:
        os.getppid()
        (event,) = rb.read()
        assert isinstance(event, events_mod.big_event) and event.pid == os.getpid()
        os.getppid()
        (record,) = raw.read()
        assert isinstance(record, bytes) and len(record) == 1024


def test_two_structs_of_the_record_size_leave_records_untyped(skeleton_module):
    module = skeleton_module(AMBIGUOUS_C, name="twins")[0]
    assert module.twins_bpf._event_types_ == {}
