"""Our own loader library (libbpfbuild/): it builds, passes `bpf-abi check` against libbpf.map,
has not drifted from the committed baseline abi/libbpfbuild.json, and (kernel) really loads and
runs a loader program through ctypes."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bpf_build.runtime.uapi import Cmd, Helper, PseudoLoad

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = REPO / "libbpfbuild" / "Makefile"
SONAME = "libbpfbuild.so.0"


def have_bpf() -> bool:
    return os.geteuid() == 0 and os.path.exists("/sys/kernel/btf/vmlinux")


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    if shutil.which("make") is None or shutil.which("gcc") is None:
        pytest.skip("make/gcc not installed")
    out = tmp_path_factory.mktemp("libbpfbuild")
    done = subprocess.run(["make", "-s", "-f", str(MAKEFILE), f"OUT={out}"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return out


def test_library_follows_the_conventions(built, bpf_abi):
    r = bpf_abi("check", "--map", REPO / "libbpf.map", built / SONAME, "--objects", built / "loader_lib.o",
                "--version-header", REPO / "libbpfbuild" / "bpf_loader.h")
    assert r.code == 0, r.out
    assert r.lines == ["bpf-abi check: clean (7 exported symbols, 1 version node, release 0.1)"]


def test_library_matches_committed_baseline(built, bpf_abi):
    r = bpf_abi("diff", REPO / "abi" / "libbpfbuild.json", built / SONAME)
    assert r.code == 0, r.out + "\n(an intended ABI change: add a node to libbpf.map and re-dump the baseline)"
    assert r.lines == ["bpf-abi diff: clean (7 symbols, 1 version node)"]


def test_baseline_is_what_dump_writes(built, bpf_abi):
    """The committed file is exactly the dump of today's build (no hand edits, no stale types)."""
    r = bpf_abi("dump", built / SONAME)
    assert r.code == 0
    assert r.out == (REPO / "abi" / "libbpfbuild.json").read_text()


# -- the library at work: a loader program run through ctypes -------------------------------------

BPF_LD_IMM64 = 0x18
BPF_PSEUDO_MAP_IDX_VALUE, BPF_FUNC_sys_bpf, BPF_MAP_CREATE = PseudoLoad.MAP_IDX_VALUE, Helper.SYS_BPF, Cmd.MAP_CREATE


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def loader_program() -> bytes:
    """ctx[4] = blob[0]; ctx[8] = bpf_sys_bpf(BPF_MAP_CREATE, &blob[8], 48); return 0."""
    return b"".join([
        insn(0xBF, 6, 1),                                     # r6 = ctx
        insn(BPF_LD_IMM64, 2, BPF_PSEUDO_MAP_IDX_VALUE, 0, 0),  # r2 = &value of fd_array[0]
        insn(0, 0, 0, 0, 0),
        insn(0x61, 3, 2, 0),                                  # r3 = *(u32 *)(r2 + 0)
        insn(0x63, 6, 3, 4),                                  # *(u32 *)(r6 + 4) = r3
        insn(0xB7, 1, 0, 0, BPF_MAP_CREATE),                  # r1 = BPF_MAP_CREATE
        insn(0x07, 2, 0, 0, 8),                               # r2 += 8: the map_create attr
        insn(0xB7, 3, 0, 0, 48),                              # r3 = attr size
        insn(0x85, 0, 0, 0, BPF_FUNC_sys_bpf),                # call bpf_sys_bpf
        insn(0x63, 6, 0, 8),                                  # *(u32 *)(r6 + 8) = r0 (the new fd)
        insn(0xB7, 0, 0, 0, 0),                               # r0 = 0
        insn(0x95),                                           # exit
    ])


def loader_blob() -> bytes:
    attr = struct.pack("<IIIIIII16s", 2, 4, 8, 3, 0, 0, 0, b"made_by_loader")  # ARRAY, 4, 8, 3 entries
    return struct.pack("<I", 0xABCD) + bytes(4) + attr.ljust(48, b"\0")


class LoaderOpts(ctypes.Structure):
    _fields_ = [("sz", ctypes.c_size_t), ("log_buf", ctypes.c_char_p),
                ("log_size", ctypes.c_uint), ("log_level", ctypes.c_uint)]


def open_library(path):
    lib = ctypes.CDLL(str(path), use_errno=True)
    lib.bpf_loader__load_and_run.restype = ctypes.c_void_p
    lib.bpf_loader__load_and_run.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
                                             ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    lib.bpf_loader__load_and_run_file.restype = ctypes.c_void_p
    lib.bpf_loader__load_and_run_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
                                                  ctypes.c_void_p]
    lib.bpf_loader__fd.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    lib.bpf_loader__ctx.restype = ctypes.c_void_p
    lib.bpf_loader__ctx.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    lib.bpf_loader__free.argtypes = [ctypes.c_void_p]
    lib.libbpf_build_errstr.restype = ctypes.c_char_p
    lib.libbpf_build_version.restype = ctypes.c_char_p
    return lib


def fdinfo(fd: int) -> dict:
    with open(f"/proc/self/fdinfo/{fd}") as f:
        return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in f if ":" in line)}


def serialised(insns: bytes, blob: bytes) -> bytes:
    """A gen_loader contract-v1 file with no maps, programs, kconfig or ops."""
    return struct.pack("<8s10I", b"BPFBLDR1", 0, len(insns) // 8, len(blob), 0, 0, 0, 0, 0xFFFFFFFF, 0, 0) \
        + insns + blob


def test_version_and_argument_errors_without_kernel(built, tmp_path):
    lib = open_library(built / SONAME)
    assert lib.libbpf_build_version() == b"0.1.0"
    assert lib.bpf_loader__load_and_run(b"\0" * 7, 7, b"x", 1, None, 0, None) is None
    assert ctypes.get_errno() == errno.EINVAL
    assert lib.libbpf_build_errstr() == b"insns must be a non-empty array of 8-byte instructions"
    opts = (ctypes.c_char * 40)()  # a caller from the future: sz 40 with a non-zero unknown field
    struct.pack_into("<Q", opts, 0, 40)
    opts[32] = 1
    prog = loader_program()
    assert lib.bpf_loader__load_and_run(prog, len(prog), b"x", 1, None, 0, opts) is None
    assert lib.libbpf_build_errstr() == b"bpf_loader_opts has unknown non-zero fields"
    path = tmp_path / "loader.bin"
    path.write_bytes(b"BPFLDR01" + bytes(64))
    assert lib.bpf_loader__load_and_run_file(str(path).encode(), None, 0, None) is None
    assert ctypes.get_errno() == errno.EINVAL
    assert lib.libbpf_build_errstr() == b"not a serialised loader program (bad magic)"
    path.write_bytes(serialised(prog, loader_blob())[:-1])
    assert lib.bpf_loader__load_and_run_file(str(path).encode(), None, 0, None) is None
    assert lib.libbpf_build_errstr() == b"loader file size does not match its header"


def possible_cpus() -> int:
    with open("/sys/devices/system/cpu/possible") as f:
        return max(int(part.split("-")[-1]) for part in f.read().strip().split(",")) + 1


def kernel_or_skip():
    if not have_bpf():
        pytest.skip("needs root and a BPF-capable kernel")


@pytest.mark.kernel
def test_loader_program_runs_and_returns_fds(built, tmp_path):
    kernel_or_skip()
    lib = open_library(built / SONAME)
    prog, blob = loader_program(), loader_blob()
    ctx = ctypes.create_string_buffer(16)
    log = ctypes.create_string_buffer(1 << 16)
    opts = LoaderOpts(ctypes.sizeof(LoaderOpts), ctypes.cast(log, ctypes.c_char_p), len(log), 1)
    loader = lib.bpf_loader__load_and_run(prog, len(prog), blob, len(blob), ctx, len(ctx), ctypes.byref(opts))
    assert loader, (os.strerror(ctypes.get_errno()), lib.libbpf_build_errstr(), log.value)
    try:
        assert b"processed" in log.value  # the verifier log of the loader program reached us
        assert lib.bpf_loader__fd(loader, 4) == 0xABCD  # read from the frozen blob map via fd_array
        fd = lib.bpf_loader__fd(loader, 8)
        assert fd >= 0 and fdinfo(fd)["map_type"] == "2"  # an ARRAY map created by the loader program
        os.close(fd)
        size = ctypes.c_size_t()
        kept = ctypes.string_at(lib.bpf_loader__ctx(loader, ctypes.byref(size)), 16)
        assert size.value == 16 and kept == ctx.raw  # the caller's ctx got the kernel's copy too
        assert struct.unpack_from("<I", ctx.raw, 4)[0] == 0xABCD
        assert lib.bpf_loader__fd(loader, 13) < 0 and ctypes.get_errno() == errno.EINVAL
    finally:
        lib.bpf_loader__free(loader)

    # The same program serialised like bpf_build.loader.gen writes it; the library builds the ctx.
    path = tmp_path / "loader.bin"
    path.write_bytes(serialised(prog, blob))
    loader = lib.bpf_loader__load_and_run_file(str(path).encode(), None, 0, None)
    assert loader, lib.libbpf_build_errstr()
    size = ctypes.c_size_t()
    kept = ctypes.string_at(lib.bpf_loader__ctx(loader, ctypes.byref(size)), 32)
    assert size.value == 32 and struct.unpack_from("<I", kept, 0)[0] == 32  # contract header, sz set
    fd = lib.bpf_loader__fd(loader, 8)
    assert fdinfo(fd)["map_type"] == "2"
    os.close(fd)
    lib.bpf_loader__free(loader)


@pytest.mark.kernel
def test_loader_program_error_is_reported(built):
    kernel_or_skip()
    lib = open_library(built / SONAME)
    failing = b"".join([insn(0x62, 1, 0, 24, 3),          # ctx->error_step = 3
                        insn(0xB7, 0, 0, 0, -errno.ENOENT),  # return -ENOENT
                        insn(0x95)])
    ctx = ctypes.create_string_buffer(32)
    assert lib.bpf_loader__load_and_run(failing, len(failing), b"blob", 4, ctx, len(ctx), None) is None
    assert ctypes.get_errno() == errno.ENOENT
    assert lib.libbpf_build_errstr() == b"error returned by loader prog"
    assert struct.unpack_from("<I", ctx.raw, 24)[0] == 3  # the failing step reaches the caller
    rejected = insn(0x95)  # exit without setting r0: the verifier refuses it
    assert lib.bpf_loader__load_and_run(rejected, len(rejected), b"blob", 4, None, 0, None) is None
    assert ctypes.get_errno() == errno.EACCES
    assert lib.libbpf_build_errstr() == b"failed to load loader prog"


GEN_LOADER_SRC = """
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, __u64);
    } counts SEC(".maps");

    struct {
        __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
        __uint(key_size, sizeof(__u32));
        __uint(value_size, sizeof(__u32));
    } events SEC(".maps");

    __u64 step = 7;

    SEC("tp/syscalls/sys_enter_getpid")
    int count_getpid(void *ctx)
    {
        __u32 key = 0;
        __u64 *value = bpf_map_lookup_elem(&counts, &key);

        if (value)
            *value += step;
        return 0;
    }

    char LICENSE[] SEC("license") = "Dual BSD/GPL";
"""


@pytest.mark.kernel
def test_runs_a_gen_loader_program_from_a_file(built, tmp_path, compile_c):
    """End to end with the project's loader generator: object -> LoaderProgram.to_bytes() ->
    file -> libbpfbuild -> fds of the object's maps and program."""
    kernel_or_skip()
    from bpf_build.model.elf import Object
    from bpf_build.loader.gen import generate_loader, map_desc_offset, prog_desc_offset
    from bpf_build.loader.open import open_object

    loader_program_ = generate_loader(open_object(Object.read(compile_c(GEN_LOADER_SRC, "counter")), "counter"))
    path = tmp_path / "counter.loader"
    path.write_bytes(loader_program_.to_bytes())
    lib = open_library(built / SONAME)
    loader = lib.bpf_loader__load_and_run_file(str(path).encode(), None, 0, None)
    assert loader, (os.strerror(ctypes.get_errno()), lib.libbpf_build_errstr())
    try:
        maps = {m.name: lib.bpf_loader__fd(loader, map_desc_offset(i)) for i, m in enumerate(loader_program_.maps)}
        prog = lib.bpf_loader__fd(loader, prog_desc_offset(len(loader_program_.maps), 0))
        assert set(maps) >= {"counts", "events"}
        assert fdinfo(maps["counts"])["map_type"] == "2"
        events = fdinfo(maps["events"])
        assert events["map_type"] == "4" and int(events["max_entries"]) == possible_cpus()
        assert fdinfo(prog)["prog_type"] == "5"  # BPF_PROG_TYPE_TRACEPOINT
    finally:
        for fd in list(maps.values()) + [prog]:
            if fd > 0:
                os.close(fd)
        lib.bpf_loader__free(loader)


KCONFIG_SRC = """
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    extern int LINUX_KERNEL_VERSION __kconfig;
    int seen_version;

    SEC("tp/syscalls/sys_enter_getpid")
    int record(void *ctx)
    {
        seen_version = LINUX_KERNEL_VERSION;
        return 0;
    }

    char LICENSE[] SEC("license") = "Dual BSD/GPL";
"""


def test_kconfig_loader_needs_a_caller_built_ctx(built, tmp_path, compile_c):
    from bpf_build.model.elf import Object
    from bpf_build.loader.gen import generate_loader
    from bpf_build.loader.open import open_object

    loader_program_ = generate_loader(open_object(Object.read(compile_c(KCONFIG_SRC, "kcfg")), "kcfg"))
    assert loader_program_.kconfig
    path = tmp_path / "kcfg.loader"
    path.write_bytes(loader_program_.to_bytes())
    lib = open_library(built / SONAME)
    assert lib.bpf_loader__load_and_run_file(str(path).encode(), None, 0, None) is None
    assert ctypes.get_errno() == errno.EOPNOTSUPP
    assert lib.libbpf_build_errstr() == b"the loader needs kconfig values: pass a ctx built by bpf_build.runtime"


# Enough global variables of distinct types that the BTF load, if logged, fills a 256 KiB log
# with its type dump (and fails with ENOSPC itself).
MANY_TYPES = "\n".join(f"struct padding_type_{i} {{ int a; long b; char c[{i % 7 + 1}]; }} padding_{i};"
                       for i in range(2000))
REJECTED_SRC = (REPO / "tests" / "corpus" / "rejected.bpf.c").read_text()  # one program is refused
BTF_MAGIC = b"\x9f\xeb\x01"


def big_btf_loader(compile_c, source: str):
    """The LoaderProgram of ``source`` with MANY_TYPES after its includes."""
    from bpf_build.model.elf import Object
    from bpf_build.loader.gen import generate_loader
    from bpf_build.loader.open import open_object

    head, _, body = source.rpartition("#include <bpf/bpf_helpers.h>\n")
    text = f"{head}#include <bpf/bpf_helpers.h>\n{MANY_TYPES}\n{body}"
    loader_program_ = generate_loader(open_object(Object.read(compile_c(text, "bigbtf")), "bigbtf"))
    assert loader_program_.ops[0].kind == "load_btf" and len(loader_program_.blob) > 100_000
    return loader_program_


def run_file_with_log(lib, path):
    """bpf_loader__load_and_run_file with ctx NULL and a 256 KiB level-1 log: (loader, log)."""
    log = ctypes.create_string_buffer(256 << 10)
    opts = LoaderOpts(ctypes.sizeof(LoaderOpts), ctypes.cast(log, ctypes.c_char_p), len(log), 1)
    return lib.bpf_loader__load_and_run_file(str(path).encode(), None, 0, ctypes.byref(opts)), log.value


def open_fds() -> set:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.kernel
def test_callers_log_does_not_log_the_btf_load_of_a_loader_that_works(built, tmp_path, compile_c):
    """The library's ctx gets no log on the first run: the opts log is the loader program's, and
    a BTF dump larger than the log cannot make the BTF load fail with ENOSPC."""
    kernel_or_skip()
    from bpf_build.loader.gen import map_desc_offset

    loader_program_ = big_btf_loader(compile_c, GEN_LOADER_SRC)
    path = tmp_path / "bigbtf.loader"
    path.write_bytes(loader_program_.to_bytes())
    lib = open_library(built / SONAME)
    loader, log = run_file_with_log(lib, path)
    assert loader, (os.strerror(ctypes.get_errno()), lib.libbpf_build_errstr(), log[-300:])
    fds = {m.name: lib.bpf_loader__fd(loader, map_desc_offset(i)) for i, m in enumerate(loader_program_.maps)}
    assert fdinfo(fds["counts"])["map_type"] == "2" and fdinfo(fds["events"])["map_type"] == "4"
    for fd in fds.values():
        os.close(fd)
    assert b"padding_type_" not in log
    lib.bpf_loader__free(loader)


@pytest.mark.kernel
def test_failed_program_is_run_again_with_the_callers_log_without_the_btf_dump(built, tmp_path, compile_c):
    """When a program load fails, the library runs the loader again with the opts log in the ctx
    and CTX_FLAG_NO_BTF_LOG, as a light skeleton does: the log ends with that program's verifier
    log. Nothing either run created stays open."""
    kernel_or_skip()
    path = tmp_path / "rejected.loader"
    path.write_bytes(big_btf_loader(compile_c, REJECTED_SRC).to_bytes())
    lib = open_library(built / SONAME)
    before = open_fds()
    loader, log = run_file_with_log(lib, path)
    assert loader is None and ctypes.get_errno() == errno.EACCES
    assert lib.libbpf_build_errstr() == b"error returned by loader prog"
    assert b"invalid access to map value" in log and b"padding_type_" not in log
    assert open_fds() == before


@pytest.mark.kernel
def test_failed_btf_load_is_run_again_with_the_btf_log(built, tmp_path, compile_c):
    """When step 1, the BTF load, fails, the retry logs it: the log says why the kernel refused
    the BTF (here a type of an unknown kind, planted in the blob)."""
    kernel_or_skip()
    data = bytearray(big_btf_loader(compile_c, GEN_LOADER_SRC).to_bytes())
    assert data.count(BTF_MAGIC) == 1
    btf = data.index(BTF_MAGIC)
    hdr_len, type_off = struct.unpack_from("<II", data, btf + 4)
    first_type_info = btf + hdr_len + type_off + 4  # after its name_off
    struct.pack_into("<I", data, first_type_info, struct.unpack_from("<I", data, first_type_info)[0] | 0x1F << 24)
    path = tmp_path / "badbtf.loader"
    path.write_bytes(bytes(data))
    lib = open_library(built / SONAME)
    before = open_fds()
    loader, log = run_file_with_log(lib, path)
    assert loader is None and ctypes.get_errno() == errno.EINVAL
    assert lib.libbpf_build_errstr() == b"error returned by loader prog"
    assert b"Invalid kind" in log, log[-500:]
    assert open_fds() == before
