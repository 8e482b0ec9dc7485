"""Open-phase settings (libbpf's set_type/set_key_size/set_value_size/set_max_entries/
set_map_flags/set_autocreate, set_autoload/set_autoattach/set_type/set_flags) as attributes of
``skel.maps.NAME`` / ``skel.progs.NAME`` before load, applied by the loader at load time; the
kernel's own map/program info is the witness."""

from __future__ import annotations

import os

import pytest

from bpf_build.runtime import (BPF_F_NO_PREALLOC, BpfRuntimeError, MapType, ProgType, num_possible_cpus,
                               online_cpus)
from bpf_build.runtime.errors import NotSupportedError
from bpf_build.runtime.perfbuf import PerfBuffer
from tests.runtime import rt_support

FALLBACK_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* bcc's libbpf-tools pattern: one "events" map, a ring buffer unless the kernel lacks them, then
   user space turns it into a perf event array and loads the perf variant of the program. */
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } stacks SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, __u32); __type(value, __u32); } unused_by_perf SEC(".maps");

__u32 watch_pid;

SEC("tracepoint/syscalls/sys_enter_getppid")
int to_ring(void *ctx)
{
    __u32 key = 0, *v = bpf_map_lookup_elem(&unused_by_perf, &key);
    __u64 *slot = bpf_ringbuf_reserve(&events, 8, 0);

    if (!slot)
        return 0;
    *slot = v ? *v : 1;
    bpf_ringbuf_submit(slot, 0);
    return 0;
}

SEC("?tracepoint/syscalls/sys_enter_getppid")
int to_perf(void *ctx)
{
    __u64 value = bpf_get_current_pid_tgid() >> 32;
    __u32 key = 1;

    if (value != watch_pid)
        return 0;
    bpf_map_update_elem(&stacks, &key, &value, BPF_ANY);
    bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &value, sizeof(value));
    return 0;
}

SEC("socket")
int retyped(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def fallback(skeleton_module):
    return skeleton_module(FALLBACK_C, name="fallback")[0]


def test_ring_buffer_becomes_a_perf_buffer_before_load(fallback, tracefs):
    skel = fallback.fallback_bpf.open()
    with skel:
        events = skel.maps.events
        assert events.type == MapType.RINGBUF and events.max_entries == 1 << 16   # the object's values
        events.type = MapType.PERF_EVENT_ARRAY
        events.key_size = events.value_size = 4
        events.max_entries = 0                        # one slot per CPU, as libbpf does
        skel.progs.to_ring.autoload = False
        skel.progs.to_perf.autoload = True
        skel.maps.unused_by_perf.autocreate = False
        skel.bss.watch_pid = os.getpid()
        skel.load()
        assert skel.maps.events.type == MapType.PERF_EVENT_ARRAY          # what the kernel says
        assert skel.maps.events.max_entries == num_possible_cpus()
        assert not hasattr(skel.progs, "to_ring") and not hasattr(skel.maps, "unused_by_perf")
        skel.attach()
        with PerfBuffer(skel.maps.events) as perf:
            os.getppid()
            samples = perf.read(timeout=1.0)
        assert [int.from_bytes(data[:8], "little") for _, data in samples] == [os.getpid()]
        assert {cpu for cpu, _ in samples} <= set(online_cpus())


def test_sizes_flags_and_program_type_reach_the_kernel(fallback):
    skel = fallback.fallback_bpf.open()
    with skel:
        skel.maps.stacks.value_size = 16            # e.g. a stack map sized for the caller's depth
        skel.maps.stacks.flags = BPF_F_NO_PREALLOC
        skel.maps.stacks.max_entries = 5
        skel.progs.retyped.type = ProgType.SCHED_CLS
        skel.load()
        stacks = skel.maps.stacks
        assert (stacks.value_size, stacks.max_entries, stacks.flags & BPF_F_NO_PREALLOC) == (16, 5, BPF_F_NO_PREALLOC)
        assert stacks.btf_id == 0 and skel.maps.unused_by_perf.btf_id != 0  # resized: created without BTF
        stacks[1] = bytes(range(16))          # untyped now: the old u64 value type would not fit
        assert stacks[1] == bytes(range(16))
        assert skel.progs.retyped.type == ProgType.SCHED_CLS


def test_autocreate_off_leaves_no_map_behind(fallback):
    before = {"map": rt_support.kernel_ids("map"), "prog": rt_support.kernel_ids("prog")}
    skel = fallback.fallback_bpf.open()
    skel.maps.unused_by_perf.autocreate = False
    skel.progs.to_ring.autoload = False
    with skel:
        skel.load()
        assert not hasattr(skel.maps, "unused_by_perf")
        assert "unused_by_perf" not in rt_support.object_names("map", rt_support.kernel_ids("map") - before["map"]).values()


def test_settings_are_checked_and_fixed_after_load(fallback):
    skel = fallback.fallback_bpf.open()
    with skel:
        with pytest.raises(OverflowError, match=r"map 'stacks': max_entries: 4294967296 does not fit u32"):
            skel.maps.stacks.max_entries = 2**32
        with pytest.raises(TypeError, match="autoload must be True or False"):
            skel.progs.to_ring.autoload = "no"
        with pytest.raises(AttributeError, match="map 'stacks' has no setting 'size'"):
            skel.maps.stacks.size = 3
        with pytest.raises(NotSupportedError, match="map 'stacks': setting inner_map is not supported with loader programs"):
            skel.maps.stacks.inner_map = 3
        with pytest.raises(NotSupportedError, match="program 'to_ring': setting attach_target is not supported"):
            skel.progs.to_ring.attach_target = "sys_enter_getpid"
        with pytest.raises(NotSupportedError, match="value_size of a global data section is fixed"):
            skel.maps.bss.value_size = 8
        with pytest.raises(NotSupportedError, match="autocreate=False is not supported"):
            skel.maps.bss.autocreate = False
        skel.maps.bss.initial_value = (1234).to_bytes(4, "little")
        assert skel.bss.watch_pid == 1234                # the section object is the initial value
        skel.load()
        assert skel.bss.watch_pid == 1234
        with pytest.raises(BpfRuntimeError, match="map 'stacks': value_size can only be set before load"):
            skel.maps.stacks.value_size = 8
        with pytest.raises(BpfRuntimeError, match="program 'to_ring': autoload can only be set before load"):
            skel.progs.to_ring.autoload = False
