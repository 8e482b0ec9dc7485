"""BTF parse/encode: byte-identical round trips, split BTF, newer headers, the text form."""

import os
import shutil
import struct
import subprocess

import pytest

from bpf_build.model import btf as B
from bpf_build.model.elf import Object
from bpf_build.errors import BtfError

VMLINUX = "/sys/kernel/btf/vmlinux"


@pytest.fixture(scope="session")
def vmlinux_bytes():
    with open(VMLINUX, "rb") as f:
        return f.read()


@pytest.fixture(scope="session")
def vmlinux(vmlinux_bytes):
    return B.Btf.parse(vmlinux_bytes, VMLINUX)


def test_vmlinux_round_trip_is_byte_identical(vmlinux, vmlinux_bytes):
    assert vmlinux.encode() == vmlinux_bytes


def test_vmlinux_has_every_common_kind(vmlinux):
    counts = B.kind_counts(vmlinux)
    for kind in ("INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "CONST",
                 "VOLATILE", "FUNC", "FUNC_PROTO", "VAR", "DATASEC"):
        assert counts.get(kind, 0) > 0, kind
    task = vmlinux.get(vmlinux.find("task_struct", B.STRUCT))
    assert task.size > 1000 and any(m.name == "pid" for m in task.members)


def test_object_btf_round_trip(corpus_object):
    obj = Object.read(corpus_object)
    raw = obj.section(".BTF").data
    parsed = B.Btf.parse(raw)
    assert parsed.encode() == raw
    assert parsed.byteorder == obj.byteorder


def test_modified_btf_appends_new_names_and_reparses(corpus_object):
    obj = Object.read(corpus_object)
    btf = obj.btf.copy()
    old_size = btf.strings.size
    tid = btf.add(B.BtfType(B.INT, "brand_new_int", size=4, int_bits=32, int_encoding=B.INT_SIGNED))
    first_named = next(i for i, t in enumerate(btf.types) if t.name and t.kind != B.DATASEC)
    btf.types[first_named].name = "renamed_first"
    again = B.Btf.parse(btf.encode())
    assert again.type(tid).name == "brand_new_int"
    assert again.types[first_named].name == "renamed_first"
    assert again.strings.size > old_size


def test_every_kind_round_trips_in_both_byte_orders():
    for byteorder in ("little", "big"):
        btf = B.Btf(byteorder=byteorder)
        i = btf.add(B.BtfType(B.INT, "int", size=4, int_bits=32, int_encoding=B.INT_SIGNED))
        p = btf.add(B.BtfType(B.PTR, type=i))
        a = btf.add(B.BtfType(B.ARRAY, type=i, index_type=i, nelems=4))
        s = btf.add(B.BtfType(B.STRUCT, "s", size=16, kflag=True,
                              members=[B.Member("a", i, 0), B.Member("bf", i, 32, 3), B.Member("p", p, 64)]))
        btf.add(B.BtfType(B.UNION, "u", size=4, members=[B.Member("x", i, 0)]))
        btf.add(B.BtfType(B.ENUM, "e", size=4, kflag=True, enums=[B.EnumValue("NEG", -5), B.EnumValue("POS", 7)]))
        btf.add(B.BtfType(B.ENUM64, "e64", size=8, enums=[B.EnumValue("BIG", 1 << 40)]))
        btf.add(B.BtfType(B.ENUM64, "e64s", size=8, kflag=True, enums=[B.EnumValue("MIN", -(1 << 63))]))
        btf.add(B.BtfType(B.FWD, "fwd_union", kflag=True))
        td = btf.add(B.BtfType(B.TYPEDEF, "td", type=s))
        btf.add(B.BtfType(B.VOLATILE, type=td))
        c = btf.add(B.BtfType(B.CONST, type=i))
        btf.add(B.BtfType(B.RESTRICT, type=p))
        fp = btf.add(B.BtfType(B.FUNC_PROTO, type=i, params=[B.Param("x", c), B.Param("", 0)]))
        f = btf.add(B.BtfType(B.FUNC, "f", type=fp, linkage=B.FUNC_GLOBAL))
        v = btf.add(B.BtfType(B.VAR, "v", type=a, linkage=B.VAR_GLOBAL_ALLOCATED))
        btf.add(B.BtfType(B.DATASEC, ".data", size=16, secinfo=[B.VarSecinfo(v, 0, 16)]))
        btf.add(B.BtfType(B.FLOAT, "double", size=8))
        btf.add(B.BtfType(B.DECL_TAG, "tag", type=f, component_idx=0))
        btf.add(B.BtfType(B.TYPE_TAG, "user", type=i))
        data = btf.encode()
        again = B.Btf.parse(data)
        assert again.byteorder == byteorder
        assert [t.key() for t in again.types] == [t.key() for t in btf.types]
        assert again.encode() == data
        e = again.get(again.find("e"))
        assert [x.value for x in e.enums] == [-5, 7]
        assert again.get(again.find("e64s")).enums[0].value == -(1 << 63)
        assert again.type(s).members[1].bitfield_size == 3
        assert {t.kind for t in again.types} == set(B.KIND_NAMES)


def test_split_btf_on_vmlinux(vmlinux):
    split = B.Btf(base=vmlinux)
    int_id = vmlinux.find("int", B.INT)
    assert split.start_id == len(vmlinux.types) + 1
    ptr = split.add(B.BtfType(B.PTR, type=int_id))
    split.add(B.BtfType(B.STRUCT, "module_thing", size=8, members=[B.Member("p", ptr, 0)]))
    data = split.encode()
    again = B.Btf.parse(data, base=vmlinux)
    assert again.type(ptr).type == int_id
    assert again.type(ptr + 1).name == "module_thing"
    assert again.strings.start == vmlinux.strings.size
    assert again.encode() == data
    # Reused base names cost nothing in the split string table.
    assert again.type(ptr + 1).members[0].name_off < vmlinux.strings.size


def test_module_btf_from_sysfs_when_present(vmlinux):
    modules = [m for m in os.listdir("/sys/kernel/btf") if m != "vmlinux"]
    for m in modules[:3]:
        path = f"/sys/kernel/btf/{m}"
        data = open(path, "rb").read()
        assert B.Btf.parse(data, path, base=vmlinux).encode() == data


def test_newer_header_with_layout_fields_round_trips():
    btf = B.Btf()
    btf.add(B.BtfType(B.INT, "int", size=4, int_bits=32))
    data = btf.encode()
    hdr = list(struct.unpack_from("<HBBIIIII", data, 0))
    body = data[24:]
    layout = bytes(range(12))  # a kind-layout section after the strings
    hdr[3] = 32
    extra = struct.pack("<II", len(body), len(layout))
    newer = struct.pack("<HBBIIIII", *hdr) + extra + body + layout
    parsed = B.Btf.parse(newer)
    assert parsed.types[0].name == "int"
    assert parsed.encode() == newer


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"\x00\x00" + d[2:], "bad BTF magic"),
    (lambda d: d[:10], "too short"),
    (lambda d: d[:-3], "exceed"),
    (lambda d: d[:4] + struct.pack("<I", 9999) + d[8:], "header length"),
])
def test_corrupt_btf_header_is_a_clear_error(mutate, message):
    btf = B.Btf()
    btf.add(B.BtfType(B.INT, "int", size=4, int_bits=32))
    with pytest.raises(BtfError, match=message) as e:
        B.Btf.parse(mutate(btf.encode()), "bad.btf")
    assert e.value.path == "bad.btf"


def _one_type_btf(t):
    btf = B.Btf()
    btf.add(t)
    return bytearray(btf.encode())


def test_type_id_out_of_range():
    data = _one_type_btf(B.BtfType(B.PTR, type=1))
    struct.pack_into("<I", data, 24 + 8, 42)
    with pytest.raises(BtfError, match=r"refers to type id 42, but only 1 types exist"):
        B.Btf.parse(bytes(data), "x.btf")


def test_string_offset_out_of_range():
    data = _one_type_btf(B.BtfType(B.INT, "int", size=4, int_bits=32))
    struct.pack_into("<I", data, 24, 5000)
    with pytest.raises(BtfError, match=r"name offset 5000 is outside the string table"):
        B.Btf.parse(bytes(data), "x.btf")


def test_unknown_kind():
    data = _one_type_btf(B.BtfType(B.INT, "int", size=4, int_bits=32))
    struct.pack_into("<I", data, 28, 31 << 24)
    with pytest.raises(BtfError, match=r"unknown BTF kind 31"):
        B.Btf.parse(bytes(data), "x.btf")


def test_truncated_members():
    data = _one_type_btf(B.BtfType(B.STRUCT, "s", size=4, members=[B.Member("a", 0, 0)]))
    # Claim 3 members while only one is present: the reader must stop, not read strings as types.
    struct.pack_into("<I", data, 28, (B.STRUCT << 24) | 3)
    with pytest.raises(BtfError, match=r"truncated"):
        B.Btf.parse(bytes(data), "x.btf")


@pytest.mark.oracle
def test_raw_dump_matches_bpftool_on_objects(corpus_object):
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool not installed")
    ours = B.dump_raw(Object.read(corpus_object).btf)
    theirs = subprocess.run([bpftool, "btf", "dump", "file", corpus_object, "format", "raw"],
                            capture_output=True, text=True, check=True).stdout
    assert ours.splitlines() == theirs.splitlines()


@pytest.mark.oracle
def test_raw_dump_matches_bpftool_on_vmlinux(vmlinux):
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool not installed")
    theirs = subprocess.run([bpftool, "btf", "dump", "file", VMLINUX, "format", "raw"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    ours = B.dump_raw(vmlinux).splitlines()
    assert len(ours) == len(theirs)
    # bpftool 7.1 predates TYPE_TAG's kflag; everything else must be the same text.
    differing = [(a, b) for a, b in zip(ours, theirs) if a != b]
    assert all(a.replace(" kflag=1", "") == b for a, b in differing), differing[:3]
