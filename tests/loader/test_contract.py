"""The loader contract's C runners agree with its statement in bpf_build/runtime/loader_contract.py.

A tiny C program includes libbpfbuild/loader_lib.c (which includes <bpf_build/loader.h>, the
light skeletons' runner) and prints the sizeof/offsetof of the context's structs and the value of
every #define the contract fixes; each must equal the module's number, so a drift in either C
runner fails here. The Python runners and the generator import the module itself. The bpf_attr
layouts the blob holds are also checked against the installed kernel header."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict, List, Tuple, Union

import pytest

from bpf_build.runtime import loader_contract as C
from bpf_build.runtime.uapi import MapType

REPO = Path(__file__).resolve().parent.parent.parent
INCLUDE = REPO / "bpf_build" / "include"
LIBBPFBUILD = REPO / "libbpfbuild"

Expected = Union[int, str]


def _layout_checks(layout: C.Layout, up_to: str = "") -> List[Tuple[str, Expected]]:
    """sizeof and every offsetof of the layout's C struct; with ``up_to``, the C struct declares
    only the fields up to that one (and its size is not the layout's)."""
    struct_name = f"struct {layout.c_type}"
    fields = layout.fields[:layout.fields.index(up_to) + 1] if up_to else layout.fields
    checks: List[Tuple[str, Expected]] = [] if up_to else [(f"sizeof({struct_name})", layout.size)]
    checks += [(f"offsetof({struct_name}, {field})", layout.offset(field)) for field in fields]
    return checks


def _serial_header_offsets() -> List[Tuple[str, Expected]]:
    """loader_lib.c names the u32 header fields it reads SERIAL_HEADER_<FIELD>."""
    read = ("flags", "insn_cnt", "blob_size", "nr_maps", "nr_progs", "nr_kconfig", "nr_ops",
            "strings_size", "values_size")
    return [(f"SERIAL_HEADER_{field.upper()}", C.SERIAL_HEADER.offset(field)) for field in read]


def contract_checks() -> List[Tuple[str, Expected]]:
    """(C expression, the value the contract module gives it)."""
    return [
        *_layout_checks(C.CTX_HEADER),
        *_layout_checks(C.MAP_DESC),
        *_layout_checks(C.PROG_DESC),
        *_layout_checks(C.MAP_CREATE_ATTR),
        *_layout_checks(C.MAP_ELEM_ATTR),
        *_layout_checks(C.PROG_LOAD_ATTR, up_to="fd_array"),
        ("BPF_BUILD_CTX_NO_BTF_LOG", C.CTX_FLAG_NO_BTF_LOG),
        ("BPF_BUILD_LOAD_DEFAULT", C.PROG_LOAD_DEFAULT),
        ("BPF_BUILD_LOAD_YES", C.PROG_LOAD_YES),
        ("BPF_BUILD_LOAD_NO", C.PROG_LOAD_NO),
        ("BPF_BUILD_PROG_TYPE_SYSCALL", C.LOADER_PROG_TYPE),
        ("BPF_BUILD_F_SLEEPABLE", C.LOADER_PROG_FLAGS),
        ("BPF_BUILD_MAP_TYPE_ARRAY", C.BLOB_MAP_TYPE),
        ("BPF_BUILD_LOADER_LICENSE", C.LOADER_LICENSE),
        ("BPF_BUILD_INSN_SIZE", C.SERIAL_INSN_SIZE),
        # libbpfbuild: the context bound and the BPFBLDR1 container
        ("MAX_CTX_SIZE", C.MAX_CTX_SIZE),
        ("SERIAL_MAGIC", C.SERIAL_MAGIC.decode()),
        ("SERIAL_BIG_ENDIAN", C.SERIAL_FLAG_BIG_ENDIAN),
        ("SERIAL_HEADER_SIZE", C.SERIAL_HEADER.size),
        *_serial_header_offsets(),
        ("SERIAL_MAP_SIZE", C.SERIAL_MAP.size),
        ("SERIAL_MAP_TYPE", C.SERIAL_MAP.offset("type")),
        ("SERIAL_MAP_MAX_ENTRIES", C.SERIAL_MAP.offset("max_entries")),
        ("SERIAL_PROG_SIZE", C.SERIAL_PROG.size),
        ("SERIAL_KCONFIG_SIZE", C.SERIAL_KCONFIG.size),
        ("SERIAL_OP_SIZE", C.SERIAL_OP.size),
        ("SERIAL_OP_KIND", C.SERIAL_OP.offset("kind")),
        ("MAP_TYPE_PERF_EVENT_ARRAY", MapType.PERF_EVENT_ARRAY),
    ]


def kernel_attr_checks() -> List[Tuple[str, Expected]]:
    """The blob's bpf_attr layouts against the installed kernel header's union bpf_attr (fields
    newer than that header, and our padding, are left out)."""
    header = Path("/usr/include/linux/bpf.h").read_text() if Path("/usr/include/linux/bpf.h").exists() else ""
    checks: List[Tuple[str, Expected]] = []
    for layout in (C.MAP_CREATE_ATTR, C.MAP_ELEM_ATTR, C.PROG_LOAD_ATTR, C.BTF_LOAD_ATTR):
        checks += [(f"offsetof(union bpf_attr, {field})", layout.offset(field)) for field in layout.fields
                   if re.search(rf"\b{field};", header) and field != "pad"]
    return checks


def _c_program(prelude: str, checks: List[Tuple[str, Expected]]) -> str:
    lines = [prelude, "", "int main(void)", "{"]
    for expr, expected in checks:
        if isinstance(expected, str):
            lines.append(f'\tprintf("%s\\n", {expr});')
        else:
            lines.append(f'\tprintf("%lld\\n", (long long)({expr}));')
    lines += ["\treturn 0;", "}", ""]
    return "\n".join(lines)


def _c_values(gcc: str, tmp: Path, prelude: str, checks: List[Tuple[str, Expected]]) -> Dict[str, str]:
    """What C says for each check, by C expression."""
    source, program = tmp / "contract.c", tmp / "contract"
    source.write_text(_c_program(prelude, checks))
    subprocess.run([gcc, "-std=gnu11", "-Wall", "-Werror", "-I", str(INCLUDE), "-I", str(LIBBPFBUILD),
                    "-o", str(program), str(source)], check=True)
    out = subprocess.run([str(program)], check=True, capture_output=True, text=True).stdout.splitlines()
    assert len(out) == len(checks)
    return {expr: value for (expr, _), value in zip(checks, out)}


def _as_printed(expected: Expected) -> str:
    return expected if isinstance(expected, str) else str(int(expected))


@pytest.fixture(scope="module")
def runner_values(gcc, tmp_path_factory) -> Dict[str, str]:
    prelude = '#include "loader_lib.c"  /* first: it defines _GNU_SOURCE */'
    return _c_values(gcc, tmp_path_factory.mktemp("contract"), prelude, contract_checks())


@pytest.fixture(scope="module")
def kernel_values(gcc, tmp_path_factory) -> Dict[str, str]:
    prelude = "#include <stddef.h>\n#include <stdio.h>\n#include <linux/bpf.h>"
    return _c_values(gcc, tmp_path_factory.mktemp("uapi"), prelude, kernel_attr_checks())


@pytest.mark.parametrize("expr,expected", contract_checks(), ids=[e for e, _ in contract_checks()])
def test_c_runners_agree_with_the_contract(runner_values, expr, expected):
    assert runner_values[expr] == _as_printed(expected)


@pytest.mark.skipif(not kernel_attr_checks(), reason="no /usr/include/linux/bpf.h")
def test_blob_attrs_are_the_kernels(kernel_values):
    wrong = {expr: (value, _as_printed(expected)) for (expr, expected), value
             in zip(kernel_attr_checks(), kernel_values.values()) if value != _as_printed(expected)}
    assert not wrong, "union bpf_attr offsets (kernel header, contract): " + repr(wrong)


def test_the_contract_module_states_version_1_layouts():
    """The numbers every runner and every embedded loader already relies on: a change here is a new
    contract version (and, for the container, a new magic), never an edit."""
    assert C.CONTRACT_VERSION == 1
    assert (C.CTX_HEADER_SIZE, C.CTX_MAP_SIZE, C.CTX_PROG_SIZE) == (32, 16, 8)
    assert (C.CTX_FLAGS, C.CTX_LOG_LEVEL, C.CTX_LOG_SIZE, C.CTX_LOG_BUF, C.CTX_ERROR_STEP) == (4, 8, 12, 16, 24)
    assert (C.MAP_DESC_FD, C.MAP_DESC_MAX_ENTRIES, C.MAP_DESC_INITIAL_VALUE) == (0, 4, 8)
    assert (C.PROG_DESC_FD, C.PROG_DESC_LOAD) == (0, 4)
    assert C.ctx_size(3, 2) == 32 + 3 * 16 + 2 * 8 == C.prog_desc_offset(3, 2)
    assert C.SERIAL_MAGIC == b"BPFBLDR1"
    assert [lay.size for lay in (C.SERIAL_HEADER, C.SERIAL_MAP, C.SERIAL_PROG, C.SERIAL_KCONFIG,
                                 C.SERIAL_OP)] == [48, 44, 28, 24, 16]


def test_the_container_written_follows_the_stated_header(corpus_object):
    """LoaderProgram.to_bytes() lays out its header and sections as the module states."""
    from bpf_build.loader.gen import loader_for_object
    from bpf_build.model.elf import Object

    path = corpus_object("globals")
    with open(path, "rb") as f:
        loader = loader_for_object(Object.read(f.read(), path))
    data = loader.to_bytes()
    header = dict(zip(C.SERIAL_HEADER.fields, C.SERIAL_HEADER.struct.unpack_from(data, 0)))
    assert header["magic"] == C.SERIAL_MAGIC
    assert (header["insn_cnt"], header["blob_size"], header["nr_maps"], header["nr_progs"], header["nr_ops"]) \
        == (len(loader.insns), len(loader.blob), len(loader.maps), len(loader.progs), len(loader.ops))
    insns_at = C.SERIAL_HEADER.size
    blob_at = insns_at + C.SERIAL_INSN_SIZE * header["insn_cnt"]
    assert data[insns_at:blob_at] == loader.insns_bytes()
    assert data[blob_at:blob_at + header["blob_size"]] == loader.blob
    maps_at = blob_at + header["blob_size"]
    first_map = dict(zip(C.SERIAL_MAP.fields, C.SERIAL_MAP.struct.unpack_from(data, maps_at)))
    assert (first_map["type"], first_map["max_entries"]) == (loader.maps[0].type, loader.maps[0].max_entries)
