"""Misuse from Python is refused, never silently truncated: integers that do not fit a map key,
a map value, a global variable or a bitfield raise OverflowError naming what, its type and the
value; operations after close() raise ClosedError. Each case writes the value first and checks
nothing reached the kernel."""

from __future__ import annotations

import ctypes
import os

import pytest

from bpf_build.runtime import BpfRuntimeError, ClosedError, Map, MapType
from bpf_build.runtime.perfbuf import PerfBuffer
from bpf_build.runtime.ringbuf import RingBuffer

SAFETY_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct sample { __u32 pid; __s16 delta; __u8 small : 3; __u8 rest : 5; char comm[8]; };

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, __u32); __type(value, __u64); } totals SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2); __type(key, __u32); __type(value, struct sample); } samples SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } ring SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4); } perf SEC(".maps");

__u32 watch_pid;
__u64 wide_global;
__s8 narrow_global;
struct sample last_sample;

SEC("tracepoint/syscalls/sys_enter_getppid")
int keep(void *ctx)
{
    __u32 key = 1;
    __u64 *v = bpf_map_lookup_elem(&totals, &key);
    struct sample *s = bpf_map_lookup_elem(&samples, &key);

    if (v && s)
        last_sample.pid = s->pid + wide_global + narrow_global;
    if ((bpf_get_current_pid_tgid() >> 32) == watch_pid) {
        __u64 word = 0x1122334455667788;
        bpf_ringbuf_output(&ring, &word, sizeof(word), 0);
    }
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def safety(skeleton_module):
    return skeleton_module(SAFETY_C, name="safety")[0]


@pytest.fixture
def skel(safety):
    with safety.safety_bpf.open_and_load() as s:
        yield s


def test_map_keys_and_values_refuse_integers_they_cannot_hold(skel):
    totals = skel.maps.totals
    with pytest.raises(OverflowError, match=r"map 'totals': value of type u64: 18446744073709551621 "
                                            r"does not fit u64 \(0\.\.18446744073709551615\)"):
        totals[2] = 2**64 + 5
    with pytest.raises(OverflowError, match=r"map 'totals': key of type u32: 4294967303 does not fit"):
        totals[2**32 + 7] = 1
    with pytest.raises(OverflowError, match=r"map 'totals': key of type u32: -1 does not fit u32"):
        totals[-1] = 1
    with pytest.raises(OverflowError, match="map 'totals': key"):
        totals.lookup(2**40)
    assert dict(totals.items()) == {}          # nothing was written
    totals[2**32 - 1] = 2**64 - 1               # the extremes fit
    assert totals[2**32 - 1] == 2**64 - 1


def test_untyped_maps_check_the_width_too(skel):
    with Map.create(MapType.HASH, 4, 8, 4, name="untyped") as m:
        with pytest.raises(OverflowError, match=r"map 'untyped': key of type bytes: -7 does not fit u32"):
            m[-7] = 1
        with pytest.raises(OverflowError, match=r"map 'untyped': value of type bytes: 18446744073709551616"):
            m[1] = 2**64
        assert len(m) == 0


def test_globals_struct_fields_and_bitfields_refuse_truncation(safety, skel):
    with pytest.raises(OverflowError, match=r"safety_bpf_bss\.wide_global: 1180591620717411303427 does not fit u64"):
        skel.bss.wide_global = 2**70 + 3
    with pytest.raises(OverflowError, match=r"narrow_global: 128 does not fit s8 \(-128\.\.127\)"):
        skel.bss.narrow_global = 128
    assert skel.bss.wide_global == 0 and skel.bss.narrow_global == 0
    skel.bss.narrow_global = -128
    with pytest.raises(OverflowError, match=r"sample\.delta: 40000 does not fit s16"):
        safety.sample(delta=40000)
    value = safety.sample(pid=1)
    with pytest.raises(OverflowError, match=r"sample\.small: 8 does not fit u3 bitfield \(0\.\.7\)"):
        value.small = 8
    value.small, value.rest = 7, 31
    with pytest.raises(OverflowError, match=r"sample\.pid: -1 does not fit u32"):
        skel.bss.last_sample.pid = -1
    skel.maps.samples[1] = value
    assert (skel.maps.samples[1].small, skel.maps.samples[1].rest) == (7, 31)


def test_char_arrays_read_whole_and_as_text(safety, skel):
    raw = bytearray(ctypes.sizeof(safety.sample))
    offset = safety.sample.comm.offset
    raw[offset:offset + 8] = b"ab\0cdefg"                        # as a program's memcpy leaves it
    skel.maps.samples[0] = bytes(raw)
    stored = skel.maps.samples[0]
    assert stored.comm == b"ab"                                  # ctypes stops at the NUL
    assert safety._rt.raw(stored, "comm") == b"ab\0cdefg"        # every byte
    assert safety._rt.text(stored, "comm") == "ab"
    with pytest.raises(AttributeError, match="sample has no field 'nope'"):
        safety._rt.raw(stored, "nope")


def test_everything_raises_after_close(safety, tracefs):
    skel = safety.safety_bpf.open_and_load()
    ring, perf = RingBuffer(skel.maps.ring), PerfBuffer(skel.maps.perf)
    totals = skel.maps.totals
    ring.close()
    perf.close()
    skel.close()
    with pytest.raises(ClosedError, match="attach"):
        skel.attach()
    with pytest.raises(ClosedError, match="ring buffer is closed"):
        ring.read()
    with pytest.raises(ClosedError, match="ring buffer is closed"):
        next(iter(ring))
    with pytest.raises(ClosedError, match="perf buffer of map 'perf' is closed"):
        perf.read()
    with pytest.raises(ClosedError, match="map 'totals' is closed"):
        totals[1]
    with pytest.raises(ClosedError, match="load"):
        skel.load()


def test_an_event_type_longer_than_the_record_is_refused(safety, skel, tracefs):
    skel.bss.watch_pid = os.getpid()
    skel.attach()
    with RingBuffer(skel.maps.ring, event_type=safety.sample) as rb:   # 16 bytes; records are 8
        os.getppid()
        os.getppid()
        with pytest.raises(BpfRuntimeError, match=r"ring buffer 'ring': a record of 8 bytes is shorter than its "
                                            r"event type sample \(16 bytes\)"):
            rb.read(timeout=1.0)
        with pytest.raises(BpfRuntimeError, match="a record of 8 bytes"):  # the second record, not the first again
            rb.read()
        assert rb.read() == []
    with RingBuffer(skel.maps.ring, event_type=ctypes.c_uint64) as rb:
        os.getppid()
        assert [e.value for e in rb.read(timeout=1.0)] == [0x1122334455667788]
