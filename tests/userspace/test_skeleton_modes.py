"""A generated Python skeleton loads either way: ``load(mode="user")`` performs the embedded loader's
operations from user space (what a kernel before 5.14/5.17 needs), ``mode="kernel"`` runs the
loader program; both give a working object."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bpf_build.runtime.btf_types import KIND_STRUCT, kernel_types
from bpf_build.runtime.kernel_btf import find_type_id

CORE_SOURCE = (Path(__file__).resolve().parent.parent / "corpus" / "core.bpf.c").read_text()


@pytest.mark.parametrize("mode", ["user", "kernel"])
def test_core_skeleton_runs_in_each_mode(skeleton_module, mode):
    module = skeleton_module(CORE_SOURCE, name="core_modes")[0]
    with module.core_modes_bpf.open_and_load(mode=mode) as skel:
        assert skel.progs.read_task.test_run(ctx=bytes(8)).retval == 0
        bss = skel.bss
        assert (bss.seen_tgid, bss.seen_pid) == (os.getpid(), os.getpid())
        assert bss.seen_ppid == os.getppid()
        assert bss.has_missing == 0
        assert bss.task_size == kernel_types().resolve_size(find_type_id("task_struct", KIND_STRUCT))
        assert bss.ringbuf_value == 27   # BPF_MAP_TYPE_RINGBUF in the kernel, 1 locally


def test_open_then_load_takes_the_mode(skeleton_module):
    module = skeleton_module(CORE_SOURCE, name="core_modes")[0]
    with module.core_modes_bpf.open() as skel:
        with pytest.raises(ValueError, match="load mode"):
            skel.load(mode="bpf")
        skel.load(mode="user")
        assert skel.progs.read_task.test_run(ctx=bytes(8)).retval == 0
        assert skel.bss.seen_pid == os.getpid()
