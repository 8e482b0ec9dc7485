"""BPF arenas (BPF_MAP_TYPE_ARENA, Linux 6.9+) from C light skeletons: tests/runtime/progs/arena.bpf.c
built into a light skeleton and loaded by a C program (c/arena.c), as tests/runtime/test_arena.py
loads its Python skeleton: the programs link nodes in the arena, the driver reads and changes them
through the mapping at the same addresses, and ``skel->arena`` holds the __arena globals (their
initial value before load, in the arena after). Where the kernel cannot make arenas (6.1: Linux
6.9+; a host whose policy refuses them: EPERM) the load is refused in one line naming BPF arenas
and why, before anything is created, and no fd stays open."""

from __future__ import annotations

import errno
import mmap
import os
import re
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from bpf_build.headers import include_dir
from bpf_build.model.elf import Object
from bpf_build.runtime.arena import arena_create_errno
from bpf_build.runtime.uapi import MapType
from bpf_build.skel.light_c import generate
from tests import kernel_facts
from tests.runtime.test_arena import SOURCE

pytestmark = pytest.mark.kernel  # loads into the running kernel: runs in the VMs too

DRIVER = Path(__file__).resolve().parent / "c" / "arena.c"
PAGE = mmap.PAGESIZE


FIXED_ADDRESS = 1 << 44  # as the kernel selftests place theirs


def _header(compile_c, address: int = 0) -> str:
    flags = ("-mcpu=v3",) + ((f"-DARENA_ADDR={address:#x}ULL",) if address else ())
    return generate(Object.read(compile_c(SOURCE, "arena_test", cflags=flags)), "arena_test")


@pytest.fixture(scope="module")
def header(compile_c) -> str:
    return _header(compile_c)


@pytest.fixture(scope="module", params=[0, FIXED_ADDRESS], ids=["anywhere", "map_extra"])
def driver(request, compile_c, build_native, tmp_path_factory) -> Path:
    """The driver built with the skeleton of the object whose arena goes anywhere, or at the
    address its map_extra gives."""
    d = tmp_path_factory.mktemp("arena_lskel")
    (d / "arena_test.lskel.h").write_text(_header(compile_c, request.param))
    return build_native(f"arena_driver_{request.param:x}", ["gcc", "-Wall", "-Wextra", "-Werror", "-O1", "-I",
                                                           include_dir(), "-I", str(d), str(DRIVER)],
                       [DRIVER, DRIVER.with_name("fds.h"), d / "arena_test.lskel.h"])


def _run(exe: Path, **env: str) -> Dict[str, str]:
    """The driver's ``key value`` pairs, with its stderr as ``stderr``; its fds closed as they were."""
    ran = subprocess.run([str(exe)], capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert ran.returncode in (0, 3), ran.stdout + ran.stderr
    words = ran.stdout.split()
    out = dict(zip(words[::2], words[1::2]), stderr=ran.stderr)
    assert ("load_failed" in out) == (ran.returncode == 3), ran.stdout
    assert out["fds_after"] == out["fds_before"], ran.stdout  # what the skeleton opened is closed
    return out


def _refusal() -> str:
    """The reason this kernel cannot make arenas, as the load words it; "" where it can. Before
    6.9 the kernel has none; after, only a host whose policy forbids them may refuse: the kernels
    scripts/vmtest.py boots must run the test."""
    err = arena_create_errno()
    if kernel_facts.kernel_version() < (6, 9):
        assert err == errno.EINVAL
        return "EINVAL"
    if err in (errno.EPERM, errno.EACCES) and not kernel_facts.in_vm():
        return errno.errorcode[err]
    assert err == 0
    return ""


def test_skeleton_exposes_the_arena_globals_and_its_mapping(header):
    assert "#include <bpf_build/arena.h>\n" in header
    assert "\tstruct arena_test__arena {\n" in header and "\t} *arena;" in header
    for field in ("counter", "from_user", "list_sum"):
        assert f"\t\t__u64 {field};\n" in header, header
    assert "\tvoid *arena_region;" in header and "\tsize_t arena_size;\n" in header


def test_the_header_uses_the_kernels_numbers():
    text = Path(include_dir(), "bpf_build", "arena.h").read_text()
    defines = dict(re.findall(r"^#define (BPF_BUILD_\w+)\s+(.+?)(?:\s*/\*.*)?$", text, re.M))
    assert int(defines["BPF_BUILD_MAP_TYPE_ARENA"]) == MapType.ARENA
    assert defines["BPF_BUILD_F_MMAPABLE"] == "(1U << 10)" and defines["BPF_BUILD_ARENA_MAX_SIZE"] == "(1ULL << 32)"


def test_programs_and_the_driver_share_the_arena(driver, request):
    out = _run(driver)
    assert (out["before_counter"], out["before_region"]) == ("5", "0")  # the object's value before load
    why = _refusal()
    if why:
        assert (out["load_failed"], out["region"]) == (str(getattr(errno, why)), "0"), out
        release = re.escape(os.uname().release)
        reason = rf"this kernel \({release}\) has none: they need Linux 6\.9\+" if why == "EINVAL" else \
            rf"creating one is not permitted here \({why}: a security policy of this kernel refuses it\)"
        assert re.fullmatch(r"arena_test: map 'arena': BPF arena maps \(BPF_MAP_TYPE_ARENA\): " + reason + "\n",
                            out["stderr"]), out["stderr"]
        return
    assert "load_failed" not in out, out["stderr"]
    assert (out["size"], out["aligned"], out["within4g"], out["globals_at_start"]) == (str(4 * PAGE), "1", "1", "1")
    if "map_extra" in request.node.callspec.id:
        assert int(out["region_at"], 16) == FIXED_ADDRESS
    assert (out["counter0"], out["from_user0"], out["head0_null"]) == ("5", "42", "1")  # the edited initial value
    assert (out["build"], out["seen"], out["counter"]) == ("0", "42", "6")
    assert out["list"] == "30,20,10" and out["node_page_apart"] == "1"
    assert (out["sum"], out["nodes"], out["total"]) == ("0", "3", str(31 + 21 + 11 + 1000))  # the driver's edits


def test_an_arena_larger_than_the_kernel_allows_is_refused_before_the_run(driver):
    pages = (1 << 32) // PAGE
    out = _run(driver, MAX_ENTRIES=str(pages + 1))
    assert "load_failed" in out, out
    if _refusal():
        return  # the kernel's refusal comes first, as in the Python runtime
    assert out["load_failed"] == str(errno.E2BIG)
    assert out["stderr"] == f"arena_test: map 'arena': an arena holds 1 to {pages} pages, not {pages + 1}\n"
