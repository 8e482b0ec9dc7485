"""Global data sections through a generated skeleton: a section that holds only ``static``
variables is not BPF_F_MMAPABLE (libbpf's rule: only a non-static variable makes it so), so it is
read and written through map lookup/update, never mmapped; a failed map creation reports only its
own step, never a log left over from the BTF load."""

from __future__ import annotations

import os

import pytest

from bpf_build.runtime import BPF_F_MMAPABLE, LoaderError

STATIC_ONLY_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static volatile __u64 calls;             /* .bss, static only: not mmapable */
static volatile __u32 step = 3;          /* .data, static only: not mmapable */
__u32 visible_pid SEC(".data.visible") = 0;     /* non-static: this section is mmapable */
__u32 visible_total SEC(".data.visible") = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_static(void *ctx)
{
    if ((bpf_get_current_pid_tgid() >> 32) != visible_pid)
        return 0;
    calls += step;
    visible_total += 1;
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def static_only(skeleton_module):
    return skeleton_module(STATIC_ONLY_C, name="staticonly")[0]


def _spec(skel, ident):
    return next(m for m in skel._loader_.maps if m.ident == ident)


def test_static_only_sections_load_and_are_read_through_the_map(static_only, tracefs):
    skel = static_only.staticonly_bpf.open()
    with skel:
        assert not _spec(skel, "bss").flags & BPF_F_MMAPABLE
        assert not _spec(skel, "data").flags & BPF_F_MMAPABLE
        assert _spec(skel, "data_visible").flags & BPF_F_MMAPABLE
        skel.data_visible.visible_pid = os.getpid()
        skel.load()                                   # mmapping .bss here failed with EINVAL
        skel.attach()
        for _ in range(4):
            os.getppid()
        assert skel.data_visible.visible_total == 4   # mmapped section: live memory
        raw_bss = bytes(skel.maps.bss[0])
        assert int.from_bytes(raw_bss[:8], "little") == 12   # static calls += step(3), 4 times
        # write through the map: the program sees the new step at once
        data = bytearray(bytes(skel.maps.data[0]))
        data[:4] = (100).to_bytes(4, "little")
        skel.maps.data[0] = bytes(data)
        os.getppid()
        assert int.from_bytes(bytes(skel.maps.bss[0])[:8], "little") == 112
        assert bytes(skel.bss) == bytes(skel.maps.bss[0])  # the section attribute reads the map


MAP_FAILS_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct big_record { __u64 words[8]; struct big_record *next; };
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, struct big_record); } records SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } ring SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getppid")
int uses_both(void *ctx)
{
    __u32 key = 0;
    struct big_record *r = bpf_map_lookup_elem(&records, &key);
    __u64 *slot = bpf_ringbuf_reserve(&ring, 8, 0);

    if (slot) {
        *slot = r ? r->words[1] : 0;
        bpf_ringbuf_submit(slot, 0);
    }
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("log_level", [0, 1, 2])
def test_failed_map_creation_shows_only_its_own_step(skeleton_module, log_level):
    module = skeleton_module(MAP_FAILS_C, name="mapfails")[0]
    skel = module.mapfails_bpf.open()
    skel.set_max_entries("ring", 3000)        # not a power-of-two number of pages: EINVAL
    with skel, pytest.raises(LoaderError) as e:
        skel.load(log_level=log_level)
    message = str(e.value)
    assert 'create map "ring" RINGBUF' in message and "(EINVAL)" in message
    assert "verifier" not in message and "FWD" not in message and "STRUCT" not in message
    assert e.value.log == ""                  # the BTF load's log is not this step's
