"""Load, attach and close a skeleton 200 times (with a failing load every tenth round): afterwards no
fd of ours is open and, by bpftool's account, no program or map of the object is left in the
kernel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from bpf_build.runtime import LoaderError
from tests import kernel_facts

pytestmark = [pytest.mark.kernel, pytest.mark.oracle]

# A leak of one object per round shows as dozens either way; under emulation (the booted kernels)
# a round costs ~40x the host's, so they run fewer.
ROUNDS = 40 if kernel_facts.in_vm() else 200

LEAK_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, __u32); __type(value, __u64); } lk_hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } lk_ring SEC(".maps");
struct lk_inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } lk_inner_a SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 1); __type(key, __u32);
         __array(values, struct lk_inner); } lk_outer SEC(".maps") = { .values = { &lk_inner_a } };
const volatile __u32 lk_ro = 1;
__u64 lk_bss;
__u32 lk_data = 5;

SEC("raw_tp/sys_enter")
int lk_raw(void *ctx) { lk_bss += lk_ro + lk_data; return 0; }

SEC("tracepoint")  /* attached by hand: detaching a perf tracepoint waits ~80 ms for the kernel */
int lk_tp(void *ctx) { __u32 k = 0; __u64 v = 1; bpf_map_update_elem(&lk_hash, &k, &v, BPF_ANY); return 0; }

char LICENSE[] SEC("license") = "GPL";
"""

BROKEN_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } lkb_arr SEC(".maps");
__u32 lkb_bss;
SEC("raw_tp/sys_enter") int lkb_fine(void *ctx) { lkb_bss++; return 0; }
SEC("socket") int lkb_bad(struct __sk_buff *skb) { __u32 k = 0, *v = bpf_map_lookup_elem(&lkb_arr, &k); return v ? v[2] : 0; }
char LICENSE[] SEC("license") = "GPL";
"""

OUR_NAMES = {"lk_hash", "lk_ring", "lk_inner_a", "lk_outer", "lk_raw", "lk_tp", "lkb_arr", "lkb_fine", "lkb_bad"}


def bpftool_objects(kind: str):
    out = subprocess.run(["bpftool", kind, "list", "-j"], capture_output=True, text=True, check=True).stdout
    return {o["id"]: o.get("name", "") for o in json.loads(out or "[]")}


def ours(objects):
    # Global data maps are named "<object name prefix>.bss" etc. ("leak_bpf.bss", "broken_l.bss").
    return {i: n for i, n in objects.items() if n in OUR_NAMES or n.startswith(("leak_bpf.", "broken_l."))}


def test_load_attach_close_cycles_leave_nothing(skeleton_module, needs_kernel, tracefs):
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool not installed (oracle)")
    leak = skeleton_module(LEAK_C, name="leak")[0]
    broken = skeleton_module(BROKEN_C, name="broken_leak")[0]
    before = {kind: bpftool_objects(kind) for kind in ("prog", "map")}
    fds_before = sorted(os.listdir("/proc/self/fd"))
    for round_ in range(ROUNDS):
        if round_ % 10 == 9:
            with pytest.raises(LoaderError):
                broken.broken_leak_bpf.open_and_load()
            continue
        with leak.leak_bpf.open() as skel:
            skel.rodata.lk_ro = round_
            skel.load()
            skel.attach()
            assert {name for name, _ in skel.links} == {"lk_raw"}
            if round_ % 20 == 0:
                with skel.progs.lk_tp.attach_tracepoint("syscalls", "sys_enter_getppid"):  # ours to close
                    os.getppid()
                assert skel.maps.lk_hash[0] == 1
    assert sorted(os.listdir("/proc/self/fd")) == fds_before
    # The kernel frees a sleepable loader's maps after an RCU grace period: allow it a moment.
    deadline = time.monotonic() + 10
    while True:
        left = {kind: {i: n for i, n in ours(bpftool_objects(kind)).items() if i not in before[kind]}
                for kind in ("prog", "map")}
        if not any(left.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert left == {"prog": {}, "map": {}}
