"""BTF sanitized for a kernel without FLOAT / DECL_TAG / TYPE_TAG / ENUM64 (runtime/btf_sanitize.py)
still loads with its maps and programs, and the program runs. This kernel has every kind, so the
feature probe's answer is forced; the loads are real, and the BTF the kernel then holds is read
back to show the kind is gone."""

from __future__ import annotations

import ctypes
import os
import struct

import pytest

from bpf_build.runtime import Map, Program, features, syscall
from bpf_build.runtime.btf_sanitize import sanitize_btf
from bpf_build.runtime.btf_types import BtfTypes
from bpf_build.runtime.uapi import Cmd
from bpf_build.runtime.loader import run_loader
from tests.runtime.rt_support import loader_spec
from tests.userspace.support import ProgInfo

KINDS = {"FLOAT": 16, "DECL_TAG": 17, "TYPE_TAG": 18, "ENUM64": 19}

SOURCE = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum big { BIG_VALUE = 0x100000000ULL };          /* ENUM64 */
struct tagged {
	int a __attribute__((btf_decl_tag("member_tag")));   /* DECL_TAG */
	float f;                                             /* FLOAT */
};
int __attribute__((btf_type_tag("user"))) *tagged_ptr;   /* TYPE_TAG */
struct tagged holder = { .a = 5 };
enum big big_seen;
__u64 result;

SEC("syscall")
int use_them(void *ctx)
{
	result = BIG_VALUE + holder.a + (tagged_ptr ? 1 : 0) + big_seen;
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


class _BtfInfo(ctypes.Structure):
    _fields_ = [("btf", ctypes.c_uint64), ("btf_size", ctypes.c_uint32), ("id", ctypes.c_uint32)]


def _kernel_btf_of(prog_fd: int) -> BtfTypes:
    """The BTF the kernel holds for a loaded program, read back through its id."""
    info = ProgInfo()
    syscall.obj_info(prog_fd, info, "prog info")
    assert info.btf_id, "the program was loaded without BTF"
    btf_fd = syscall.get_fd_by_id(Cmd.BTF_GET_FD_BY_ID, info.btf_id, "BTF by id")
    try:
        first = _BtfInfo()
        syscall.obj_info(btf_fd, first, "BTF info")
        data = ctypes.create_string_buffer(first.btf_size)
        syscall.obj_info(btf_fd, _BtfInfo(btf=ctypes.addressof(data), btf_size=first.btf_size), "BTF info")
        return BtfTypes(data.raw, "kernel's copy")
    finally:
        os.close(btf_fd)


def _kinds(btf: BtfTypes):
    return [btf.kind(t) for t in range(1, len(btf))]


@pytest.fixture(scope="module")
def obj_path(compile_c):
    return compile_c(SOURCE, name="sanitize")


@pytest.fixture(scope="module")
def spec(obj_path):
    return loader_spec(obj_path)


def _load_and_run(spec):
    fds = run_loader(spec, mode="user")
    try:
        prog = fds.progs[0]
        assert Program(prog.dup(), name="use_them").test_run(ctx=bytes(8)).retval == 0
        bss = next(fd for m, fd in zip(spec.maps, fds.maps) if m.kind == "bss")
        result = struct.unpack_from("<Q", Map(bss.dup(), name="bss").lookup(0), 16)[0]
        return result, _kernel_btf_of(prog.fileno())
    finally:
        for fd in fds.maps + [p for p in fds.progs if p is not None]:
            fd.close()


def test_unsanitized_btf_keeps_every_kind(spec):
    result, btf = _load_and_run(spec)
    assert result == (1 << 32) + 5
    assert set(KINDS.values()) <= set(_kinds(btf))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_btf_without_a_kind_loads_and_runs(spec, monkeypatch, kind):
    real = features.has_btf_kind
    monkeypatch.setattr(features, "has_btf_kind", lambda k: k != kind and real(k))
    result, btf = _load_and_run(spec)
    assert result == (1 << 32) + 5          # the program computes the same
    kinds = _kinds(btf)
    assert KINDS[kind] not in kinds
    assert set(KINDS.values()) - {KINDS[kind]} <= set(kinds)   # nothing else was touched


def test_sanitizing_keeps_type_ids(obj_path):
    """Rewritten in place: every id keeps its place (map and func_info ids stay valid); ENUM64
    adds one 1-byte INT after the last type for its members."""
    from bpf_build.model.elf import Object
    raw = bytes(Object.read(obj_path).section(".BTF").data)
    original = BtfTypes(raw, "the object's BTF")
    clean = BtfTypes(sanitize_btf(raw, lambda k: False), "sanitized")
    assert len(clean) == len(original) + 1
    for type_id in range(1, len(original)):
        if original.kind(type_id) not in KINDS.values():
            assert clean.kind(type_id) == original.kind(type_id)
            assert clean.name(type_id) == original.name(type_id)
    assert set(_kinds(clean)).isdisjoint(KINDS.values())
    assert sanitize_btf(raw, lambda k: True) == raw
