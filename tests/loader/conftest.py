"""Fixtures for loader tests: the BPF corpus in tests/corpus compiled once per session, gcc, and a
tracefs mount. Other test packages may import ``corpus_object`` from here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


CORPUS_DIR = Path(__file__).resolve().parent.parent / "corpus"
# Every case that is one object; "linked" is made of linked_a + linked_b.
SINGLE_CASES = ["tracepoint", "raw_tp", "kprobe", "tracing", "xdp", "tc", "socket", "syscall",
                "subprogs", "globals", "maps", "tailcall", "core", "externs", "optional", "rejected"]
LINKED_PARTS = ["linked_a", "linked_b"]
ALL_CASES = SINGLE_CASES + ["linked"]
LOADABLE_CASES = [c for c in ALL_CASES if c != "rejected"]
# Kernel functions a case calls that older kernels lack (open-coded iterators came in 6.4): on
# such a kernel the load must fail at the step that looks the kfunc up, naming it.
CASE_KFUNCS = {"externs": ("bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_destroy")}


def missing_kfunc(case: str):
    """The first kfunc ``case`` needs that the running kernel's BTF does not have, or None."""
    from tests import kernel_facts
    return next((f for f in CASE_KFUNCS.get(case, ()) if not kernel_facts.has_btf_func(f)), None)


def have_bpf() -> bool:
    return os.geteuid() == 0 and os.path.exists("/sys/kernel/btf/vmlinux")


def link_objects(paths, out: str) -> str:
    """Link with bpf_build.link.linker (bpftool gen object's algorithm)."""
    from bpf_build.link.linker import link
    link(paths).write(out)
    return out


@pytest.fixture(scope="session")
def corpus_object(compile_c, tmp_path_factory):
    """corpus_object(case) -> path of the compiled (or linked) object for a corpus case."""
    built = {}
    link_dir = tmp_path_factory.mktemp("linked")

    def get(case: str) -> str:
        if case not in built:
            if case == "linked":
                parts = [get(p) for p in LINKED_PARTS]
                built[case] = link_objects(parts, str(link_dir / "linked.bpf.o"))
            else:
                source = (CORPUS_DIR / f"{case}.bpf.c").read_text()
                built[case] = compile_c(source, name=case)
        return built[case]

    return get


@pytest.fixture(scope="session")
def tracefs():
    if not os.path.isdir("/sys/kernel/tracing/events"):
        subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], check=False)
    if not os.path.isdir("/sys/kernel/tracing/events"):
        pytest.skip("tracefs cannot be mounted")
    return "/sys/kernel/tracing"


def _tool(name: str, why: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed ({why})")
    return path


@pytest.fixture(scope="session")
def gcc():
    return _tool("gcc", "C skeleton tests")


@pytest.fixture
def kernel():
    if not have_bpf():
        pytest.skip("needs root and a kernel with BTF")


@pytest.fixture(scope="session")
def bpftool():
    return _tool("bpftool", "oracle")
