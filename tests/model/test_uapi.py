"""bpf_build/runtime/uapi.py against the kernel's own UAPI headers: every number it spells must be
the header's, and every member of the header's enums it mirrors must be there.

The installed headers (Debian 12: Linux 6.1) predate some members; those are listed below with the
release that added them, and compared with the running kernel's BTF when that kernel has them.
Values come from a C program compiled with gcc, so the header's own expressions decide them."""

from __future__ import annotations

import enum
import os
import platform
import re
import shutil
import subprocess
from typing import Callable, Dict, Iterator, List, Tuple

import pytest

from bpf_build.runtime import uapi

HEADERS = ("linux/bpf.h", "linux/if_link.h")
INCLUDE_DIR = "/usr/include"

# How each class's members are spelled in C.
C_NAME: Dict[type, Callable[[str], str]] = {
    uapi.Cmd: lambda n: "BPF_" + n,
    uapi.MapType: lambda n: "BPF_MAP_TYPE_" + n,
    uapi.ProgType: lambda n: "BPF_PROG_TYPE_" + n,
    uapi.AttachType: lambda n: "BPF_" + n,
    uapi.LinkType: lambda n: "BPF_LINK_TYPE_" + n,
    uapi.UpdateFlag: lambda n: "BPF_F_LOCK" if n == "LOCK" else "BPF_" + n,
    uapi.MapFlag: lambda n: "BPF_F_" + n,
    uapi.ProgLoadFlag: lambda n: "BPF_F_" + n,
    uapi.KprobeMultiFlag: lambda n: "BPF_F_KPROBE_MULTI_" + n,
    uapi.XdpFlag: lambda n: "XDP_FLAGS_" + n,
    uapi.PseudoLoad: lambda n: "BPF_PSEUDO_" + n,
    uapi.PseudoCall: lambda n: "BPF_PSEUDO_" + n,
    uapi.Helper: lambda n: "BPF_FUNC_" + n.lower(),
}

# Header enums mirrored whole: each of their members must be in the class.
WHOLE_ENUMS = {"bpf_cmd": uapi.Cmd, "bpf_map_type": uapi.MapType, "bpf_prog_type": uapi.ProgType,
               "bpf_attach_type": uapi.AttachType, "bpf_link_type": uapi.LinkType}

# Members newer than Debian 12's linux-libc-dev (6.1): the kernel release that added each.
NEWER_THAN_HEADER = {
    "BPF_TOKEN_CREATE": (6, 9),
    "BPF_PROG_STREAM_READ_BY_FD": (6, 17),
    "BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED": (6, 2),
    "BPF_MAP_TYPE_CGRP_STORAGE": (6, 2),
    "BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE_DEPRECATED": (6, 6),
    "BPF_MAP_TYPE_ARENA": (6, 9),
    "BPF_MAP_TYPE_INSN_ARRAY": (6, 19),
    "BPF_PROG_TYPE_NETFILTER": (6, 4),
    "BPF_STRUCT_OPS": (6, 4),
    "BPF_NETFILTER": (6, 4),
    "BPF_TCX_INGRESS": (6, 6),
    "BPF_TCX_EGRESS": (6, 6),
    "BPF_TRACE_UPROBE_MULTI": (6, 6),
    "BPF_CGROUP_UNIX_CONNECT": (6, 7),
    "BPF_CGROUP_UNIX_SENDMSG": (6, 7),
    "BPF_CGROUP_UNIX_RECVMSG": (6, 7),
    "BPF_CGROUP_UNIX_GETPEERNAME": (6, 7),
    "BPF_CGROUP_UNIX_GETSOCKNAME": (6, 7),
    "BPF_NETKIT_PRIMARY": (6, 7),
    "BPF_NETKIT_PEER": (6, 7),
    "BPF_TRACE_KPROBE_SESSION": (6, 10),
    "BPF_TRACE_UPROBE_SESSION": (6, 13),
    "BPF_TRACE_FSESSION": (7, 0),
    "BPF_TRACE_FENTRY_MULTI": (7, 2),
    "BPF_TRACE_FEXIT_MULTI": (7, 2),
    "BPF_TRACE_FSESSION_MULTI": (7, 2),
    "BPF_LINK_TYPE_NETFILTER": (6, 4),
    "BPF_LINK_TYPE_TCX": (6, 6),
    "BPF_LINK_TYPE_UPROBE_MULTI": (6, 6),
    "BPF_LINK_TYPE_NETKIT": (6, 7),
    "BPF_LINK_TYPE_SOCKMAP": (6, 10),
}


def _uapi_classes() -> Iterator[type]:
    for value in vars(uapi).values():
        if isinstance(value, type) and issubclass(value, enum.Enum) and value.__module__ == uapi.__name__:
            yield value


def _spelled() -> Dict[str, int]:
    """C name -> uapi's value, aliases included."""
    out = {}
    for cls in _uapi_classes():
        for name, member in cls.__members__.items():
            out[C_NAME[cls](name)] = int(member)
    return out


def _gcc(*args: str, stdin: str = "") -> str:
    return subprocess.run(["gcc", *args], input=stdin, capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def header() -> Tuple[str, str]:
    """(preprocessed text, macro definitions) of the installed UAPI headers."""
    if not shutil.which("gcc") or not os.path.exists(os.path.join(INCLUDE_DIR, HEADERS[0])):
        pytest.skip("needs gcc and the kernel's UAPI headers (linux-libc-dev)")
    source = "".join(f"#include <{h}>\n" for h in HEADERS)
    return _gcc("-E", "-P", "-x", "c", "-", stdin=source), _gcc("-E", "-dM", "-x", "c", "-", stdin=source)


def _enum_members(preprocessed: str, enum_name: str) -> List[str]:
    """Names declared in ``enum <enum_name> { ... }``, sentinels (``__MAX_...``) left out."""
    match = re.search(r"\benum\s+" + enum_name + r"\s*\{(.*?)\}", preprocessed, re.S)
    assert match, f"enum {enum_name} not in the header"
    names = [entry.split("=")[0].strip() for entry in match.group(1).split(",")]
    return [n for n in names if n and not n.startswith("__") and not n.startswith("MAX_")]


def _declared(header: Tuple[str, str]) -> set:
    preprocessed, macros = header
    identifiers = set(re.findall(r"\b[A-Za-z_]\w*\b", preprocessed))
    return identifiers | set(re.findall(r"^#define (\w+)", macros, re.M))


def _header_values(names: List[str], tmp_path) -> Dict[str, int]:
    lines = "".join(f'    printf("%s %lld\\n", "{n}", (long long)({n}));\n' for n in names)
    source = ("#include <stdio.h>\n" + "".join(f"#include <{h}>\n" for h in HEADERS)
              + "int main(void)\n{\n" + lines + "    return 0;\n}\n")
    (tmp_path / "uapi_values.c").write_text(source)
    exe = tmp_path / "uapi_values"
    _gcc("-o", str(exe), str(tmp_path / "uapi_values.c"))
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    return {name: int(value) for name, value in (line.split() for line in out.splitlines())}


def test_every_number_equals_the_header(header, tmp_path):
    spelled = _spelled()
    declared = _declared(header)
    in_header = sorted(n for n in spelled if n in declared)
    values = _header_values(in_header, tmp_path)
    wrong = {n: (spelled[n], values[n]) for n in in_header if spelled[n] != values[n]}
    assert not wrong, f"uapi.py differs from the header (ours, header's): {wrong}"
    unexplained = sorted(n for n in spelled if n not in declared and n not in NEWER_THAN_HEADER)
    assert not unexplained, f"not in the installed header and not listed in NEWER_THAN_HEADER: {unexplained}"


def test_every_member_of_the_mirrored_enums_is_there(header):
    spelled = _spelled()
    for enum_name, cls in WHOLE_ENUMS.items():
        missing = [n for n in _enum_members(header[0], enum_name) if n not in spelled]
        assert not missing, f"{cls.__name__} lacks members of enum {enum_name}: {missing}"


def test_newer_members_are_ours():
    stale = sorted(set(NEWER_THAN_HEADER) - set(_spelled()))
    assert not stale, f"NEWER_THAN_HEADER lists names uapi.py does not have: {stale}"


def _kernel_release() -> Tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", platform.release())
    assert match, platform.release()
    return int(match.group(1)), int(match.group(2))


def test_newer_members_equal_the_running_kernel():
    """What the old header cannot say, a kernel that has the member can: its BTF carries the enums."""
    from bpf_build.runtime.btf_types import KIND_ENUM, KIND_ENUM64, kernel_types

    if not os.access("/sys/kernel/btf/vmlinux", os.R_OK):
        pytest.skip("needs the running kernel's BTF")
    btf = kernel_types()
    kernel: Dict[str, int] = {}
    for enum_name in WHOLE_ENUMS:
        for type_id in btf.ids_with_essential_name(enum_name):
            if btf.kind(type_id) in (KIND_ENUM, KIND_ENUM64):
                kernel.update(btf.enumerators(type_id))
    release, spelled = _kernel_release(), _spelled()
    due = [n for n, added in NEWER_THAN_HEADER.items() if added <= release]
    absent = [n for n in due if n not in kernel]
    assert not absent, f"the running kernel {platform.release()} should have (by NEWER_THAN_HEADER): {absent}"
    wrong = {n: (spelled[n], kernel[n]) for n in due if spelled[n] != kernel[n]}
    assert not wrong, f"uapi.py differs from the running kernel's BTF (ours, kernel's): {wrong}"
