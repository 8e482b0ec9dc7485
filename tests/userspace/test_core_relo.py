"""CO-RE relocation in user space (runtime/core_relo.py) against libbpf 1.1's, which loads the
same objects through ctypes: every program must reach the kernel with the same instructions
(compared as the verifier left them). Values read at run time are checked against facts taken
from the kernel's BTF directly."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from bpf_build.runtime import Map, Program
from bpf_build.runtime.btf_types import KIND_STRUCT, essential_name, kernel_types
from bpf_build.runtime.errors import LoaderError
from bpf_build.runtime.kernel_btf import find_type_id
from bpf_build.runtime.loader import run_loader
from tests.runtime.rt_support import loader_spec
from tests.userspace.support import LIBBPF, libbpf_loaded, xlated

CORE_CASES = (Path(__file__).parent / "core_cases.bpf.c").read_text()
# A tcp/ip-like packet for the socket filter: what it reads from __sk_buff must agree too.
PACKET = bytes(12) + b"\x08\x00" + bytes(50)


@pytest.fixture(scope="module")
def objects(corpus_object, compile_c):
    return {"core": corpus_object("core"), "core_cases": compile_c(CORE_CASES, name="core_cases")}


def _user_load(path, **kw):
    spec = loader_spec(path)
    fds = run_loader(spec, mode="user", **kw)
    progs = {p.name: fd for p, fd in zip(spec.progs, fds.progs) if fd is not None}
    maps = {m.name: fd for m, fd in zip(spec.maps, fds.maps)}
    return spec, progs, maps, fds


def _close(fds):
    for fd in fds.maps + [p for p in fds.progs if p is not None]:
        fd.close()


@pytest.mark.oracle
@pytest.mark.parametrize("name", ["core", "core_cases"])
def test_user_space_relocation_gives_libbpfs_instructions(objects, name):
    if not os.path.exists(LIBBPF):
        pytest.skip("libbpf 1.1 (libbpf-dev) not installed: the oracle")
    _, progs, _, fds = _user_load(objects[name])
    try:
        ours = {n: xlated(fd.fileno()) for n, fd in progs.items()}
    finally:
        _close(fds)
    with libbpf_loaded(objects[name]) as theirs:
        assert sorted(theirs) == sorted(ours)
        for prog_name, fd in theirs.items():
            assert ours[prog_name] == xlated(fd), prog_name


def test_core_cases_cover_every_relocation_kind(objects):
    from bpf_build.loader.open import open_object
    from bpf_build.model.elf import Object
    opened = open_object(Object.read(objects["core_cases"]), "core_cases")
    kinds = {c.kind for p in opened.programs for c in p.core_relos}
    assert kinds == set(range(13))


def test_kernel_relocation_agrees_except_enum64_candidates(objects):
    """The kernel's own CO-RE (loader program path) gives the same instructions, but for one
    difference of Linux 6.18: it takes no ENUM64 candidate for a local 32-bit enum (it poisons
    the relocation, libbpf and we relocate it), so that program stays out of the kernel run."""
    spec = loader_spec(objects["core_cases"])
    enum64 = next(j for j, p in enumerate(spec.progs) if p.name == "enum64_value")
    kernel = run_loader(spec, mode="kernel", autoload={enum64: False})
    try:
        theirs = {p.name: xlated(fd.fileno()) for p, fd in zip(spec.progs, kernel.progs) if fd is not None}
    finally:
        _close(kernel)
    _, progs, _, fds = _user_load(objects["core_cases"])
    try:
        ours = {n: xlated(fd.fileno()) for n, fd in progs.items() if n in theirs}
    finally:
        _close(fds)
    assert set(theirs) == {"every_kind", "direct_loads"}
    assert ours == theirs


def test_relocated_programs_read_what_the_kernel_btf_says(objects):
    kernel = kernel_types()
    task = find_type_id("task_struct", KIND_STRUCT)
    _, progs, maps, fds = _user_load(objects["core_cases"])
    try:
        for name in ("every_kind", "enum64_value"):
            assert Program(progs[name].dup(), name=name).test_run(ctx=bytes(8)).retval == 0
        bss = Map(next(fd for n, fd in maps.items() if n.endswith(".bss")).dup(), name="bss").lookup(0)
        out = struct.unpack("<32Q", bss)
        assert out[0] == os.getpid()                       # tgid: the kernel's offset, not ours
        assert out[4] == 16                                # sizeof(comm)
        assert out[5] == next(m.bit_offset // 8 for m in kernel.members(task) if m.name == "flags")
        assert out[6:10] == (1, 0, 1, 0)                   # exists / missing, signed pid / unsigned flags
        assert out[10] in (0, 1)                           # in_execve: a 1-bit field
        assert out[12:17] == (1, 0, kernel.resolve_size(task), 1, 0)
        assert out[17] == task
        assert out[19:22] == (1, 0, 1)                     # BPF_MAP_TYPE_HASH exists and is 1
        assert out[22] == (1 << 64) - 128                  # PERF_CONTEXT_KERNEL, an ENUM64 value
        assert out[23] == 0                                # the poisoned read never ran
        socket = Program(progs["direct_loads"].dup(), name="direct_loads")
        ours = socket.test_run(PACKET).retval
    finally:
        _close(fds)
    # a socket filter sees the packet past its Ethernet header; protocol stays in network order
    assert ours == (len(PACKET) - 14) + 0 + 0x0008
    if os.path.exists(LIBBPF):
        with libbpf_loaded(objects["core_cases"]) as theirs:
            assert Program(os.dup(theirs["direct_loads"]), name="direct_loads").test_run(PACKET).retval == ours


UNGUARDED = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___gone { int no_such_field; } __attribute__((preserve_access_index));
__u64 seen;

SEC("syscall")
int unguarded(void *ctx)
{
	struct task_struct___gone *task = (void *)bpf_get_current_task();
	seen = BPF_CORE_READ(task, no_such_field);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_unresolvable_relocation_poisons_its_instruction(compile_c):
    path = compile_c(UNGUARDED, name="unguarded")
    with pytest.raises(LoaderError) as failure:
        _user_load(path)
    assert "unguarded" in str(failure.value)
    assert "195896080" in failure.value.log     # 0xbad2310: the call libbpf poisons with


@pytest.mark.parametrize("name, essential", [
    ("task_struct", "task_struct"), ("task_struct___old", "task_struct"),
    ("a___b___c", "a___b"), ("__sk_buff___x", "__sk_buff"), ("x____y", "x____y"),
    ("___x", "___x"), ("a___", "a___"), ("PERF_CONTEXT_KERNEL___x", "PERF_CONTEXT_KERNEL")])
def test_flavor_suffix_is_dropped_for_candidate_lookup(name, essential):
    assert essential_name(name) == essential
