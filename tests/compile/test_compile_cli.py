"""`bpf-build compile`: default flags, targets, user flags, failures, finding clang."""

from __future__ import annotations

import os
import platform
import shutil
import struct
import sys

import pytest

from bpf_build.model.elf import Object

DATA_SOURCE = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    #ifndef __TARGET_ARCH_{arch}
    #error "no __TARGET_ARCH_ define"
    #endif
    int value = VALUE;
    SEC("socket") int prog(struct __sk_buff *skb) {{ return value; }}
    char LICENSE[] SEC("license") = "GPL";
"""


def data_value(obj: Object) -> int:
    fmt = "<i" if obj.byteorder == "little" else ">i"
    return struct.unpack(fmt, obj.section(".data").data[:4])[0]


def test_default_flags_make_a_btf_object_without_ident(project):
    project.bpf_build("compile", "counter.bpf.c", "-o", "out/counter.bpf.o", check=0)
    obj = Object.read(str(project.root / "out/counter.bpf.o"))
    names = {s.name for s in obj.sections}
    assert obj.byteorder == "little"
    assert {".BTF", ".BTF.ext", ".debug_info"} <= names, "-g gives BTF and line info"
    assert ".comment" not in names, "-fno-ident: no compiler version string in the object"
    assert obj.btf is not None


def test_object_does_not_depend_on_build_directory(tmp_path, make_project):
    outputs = []
    for where in ("first/place", "second/elsewhere/deeper"):
        project = make_project(tmp_path / where)
        project.bpf_build("compile", "counter.bpf.c", "-o", "counter.bpf.o", check=0)
        data = (project.root / "counter.bpf.o").read_bytes()
        assert str(tmp_path).encode() not in data
        outputs.append(data)
    assert outputs[0] == outputs[1]


def test_target_arch_define_and_user_cflags(project):
    from bpf_build.project.targets import target_arch
    project.write("data.bpf.c", DATA_SOURCE.format(arch=target_arch()))
    project.bpf_build("compile", "data.bpf.c", "-o", "data.o", "--cflags=-DVALUE=7", check=0)
    assert data_value(Object.read(str(project.root / "data.o"))) == 7


ARCH_PROBE = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    #if defined(__TARGET_ARCH_x86)
    int arch = 1;
    #elif defined(__TARGET_ARCH_arm64)
    int arch = 2;
    #elif defined(__TARGET_ARCH_s390)
    int arch = 3;
    #else
    int arch = 9;
    #endif
    SEC("socket") int prog(struct __sk_buff *skb) { return arch; }
    char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("target,byteorder,arch", [
    ("bpfeb", "big", 9),       # arch-neutral: no __TARGET_ARCH_*
    ("bpfel", "little", 9),
    ("arm64", "little", 2),    # cross-arch from this machine: the kernel's name...
    ("aarch64", "little", 2),  # ...and uname's are one
    ("s390x", "big", 3),
    ("native", sys.byteorder, 1 if platform.machine() == "x86_64" else None),
])
def test_targets_set_byte_order_and_arch(project, target, byteorder, arch):
    project.write("probe.bpf.c", ARCH_PROBE)
    project.bpf_build("compile", "probe.bpf.c", "-o", "probe.o", "--target", target, check=0)
    obj = Object.read(str(project.root / "probe.o"))
    assert obj.byteorder == byteorder
    value = struct.unpack("<i" if byteorder == "little" else ">i", obj.section(".data").data[:4])[0]
    if arch is not None:
        assert value == arch


def test_big_endian_data(project):
    project.write("data.bpf.c", DATA_SOURCE.format(arch="s390"))
    project.bpf_build("compile", "data.bpf.c", "-o", "data.o", "--target", "s390x",
                      "--cflags=-DVALUE=0x01020304", check=0)
    obj = Object.read(str(project.root / "data.o"))
    assert obj.byteorder == "big"
    assert obj.section(".data").data[:4] == b"\x01\x02\x03\x04"


def test_unknown_target_is_a_usage_error(project):
    proc = project.bpf_build("compile", "counter.bpf.c", "-o", "x.o", "--target", "vax", check=2)
    assert "unknown target 'vax'" in proc.stderr and "arm64" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_include_dirs_come_before_the_source_directory_defaults(project):
    project.write("inc/common.h", "#define STEP 5\n")
    project.write("src/counter.bpf.c", open(project.root / "counter.bpf.c").read())
    # src/ has no common.h: only -I inc can provide it.
    project.bpf_build("compile", "src/counter.bpf.c", "-o", "c.o", "-I", "inc", check=0)
    proc = project.bpf_build("compile", "src/counter.bpf.c", "-o", "c2.o")
    assert proc.returncode == 1
    assert "'common.h' file not found" in proc.stderr


def test_out_dir_names_objects_after_sources(project):
    project.write("second.bpf.c", open(project.root / "counter.bpf.c").read())
    project.bpf_build("compile", "counter.bpf.c", "second.bpf.c", "--out-dir", "objs", check=0)
    assert sorted(p for p in os.listdir(project.root / "objs") if not p.startswith(".")) == \
        ["counter.bpf.o", "second.bpf.o"]


def test_failing_compile_shows_diagnostics_and_leaves_no_stale_output(project):
    project.bpf_build("compile", "counter.bpf.c", "-o", "counter.bpf.o", "--depfile", "counter.d", check=0)
    assert (project.root / "counter.bpf.o").exists()
    project.write("counter.bpf.c", "int broken(void) { return undefined_thing; }\n")
    proc = project.bpf_build("compile", "counter.bpf.c", "-o", "counter.bpf.o", "--depfile", "counter.d")
    assert proc.returncode == 1
    # clang's own diagnostic, as clang printed it, then our one line.
    assert "counter.bpf.c:1:27: error: use of undeclared identifier 'undefined_thing'" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == \
        "error: counter.bpf.c: compile failed (clang exited with status 1)"
    assert "Traceback" not in proc.stderr
    leftovers = sorted(os.listdir(project.root))
    assert leftovers == ["common.h", "counter.bpf.c"], "the old object, its depfile and state are gone"


def test_failure_stops_a_multi_source_build(project):
    project.write("bad.bpf.c", "int fine(void) { return 0; }\n")
    project.bpf_build("compile", "bad.bpf.c", "counter.bpf.c", "--out-dir", "objs", check=0)
    project.write("bad.bpf.c", "int broken(void) { return nope; }\n")
    project.write("common.h", "#define STEP 2\n")  # counter.bpf.o is out of date too
    proc = project.bpf_build("compile", "bad.bpf.c", "counter.bpf.c", "--out-dir", "objs", "-j", "1", "-v")
    assert proc.returncode == 1
    assert "error: bad.bpf.c: compile failed" in proc.stderr
    assert "compiling counter.bpf.c" not in proc.stdout, "-j 1 stops at the first failure"
    assert [p for p in os.listdir(project.root / "objs")] == [], \
        "neither the failed object nor the out-of-date one it stopped is left"


def test_missing_source(project):
    proc = project.bpf_build("compile", "nope.bpf.c", "-o", "x.o")
    assert proc.returncode == 1
    assert proc.stderr == "error: nope.bpf.c: no such source file\n"


def test_bpf_clang_that_does_not_exist_gives_the_install_hint(project):
    proc = project.bpf_build("compile", "counter.bpf.c", "-o", "x.o", env={"BPF_CLANG": "/nonexistent"})
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: /nonexistent: $BPF_CLANG is not a working clang;")
    assert "apt-get install clang" in proc.stderr
    assert not (project.root / "x.o").exists()


def test_no_clang_on_path_gives_the_install_hint(project, tmp_path_factory):
    empty_bin = tmp_path_factory.mktemp("bin")
    proc = project.bpf_build("compile", "counter.bpf.c", "-o", "x.o", env={"PATH": str(empty_bin)})
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: clang: no clang that targets BPF: no clang on PATH;")
    assert "apt-get install clang" in proc.stderr


def test_bpf_clang_selects_the_compiler(project, tmp_path_factory):
    # A directory on PATH whose only clang is a link to the real one, under another name.
    real = shutil.which("clang-19") or shutil.which("clang")
    bindir = tmp_path_factory.mktemp("bin")
    os.symlink(real, bindir / "my-bpf-cc")
    proc = project.bpf_build("compile", "counter.bpf.c", "-o", "x.o", "-v",
                             env={"BPF_CLANG": "my-bpf-cc", "PATH": f"{bindir}:{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stderr
    assert (project.root / "x.o").exists()


def test_usage_errors_exit_2(project):
    proc = project.bpf_build("compile", "counter.bpf.c", "counter.bpf.c", "-o", "x.o")
    assert proc.returncode == 2 and "-o takes one source" in proc.stderr
    proc = project.bpf_build("compile", "counter.bpf.c", "--out-dir", "d", "--depfile", "x.d")
    assert proc.returncode == 2 and "--depfile needs -o" in proc.stderr
    proc = project.bpf_build("compile", "counter.bpf.c", "-o", "x.o", "--target", "sparc")
    assert proc.returncode == 2


VMLINUX_SOURCE = r"""
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_core_read.h>
    int last_tgid;
    SEC("raw_tp/sched_process_exec")
    int on_exec(void *ctx) {
        struct task_struct *task = (void *)bpf_get_current_task();
        last_tgid = BPF_CORE_READ(task, tgid);
        return 0;
    }
    char LICENSE[] SEC("license") = "GPL";
"""


def test_vmlinux_h_is_generated_once_and_cached(project, tmp_path_factory):
    import pytest
    if not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("no kernel BTF")
    cache = tmp_path_factory.mktemp("cache")
    project.write("exec.bpf.c", VMLINUX_SOURCE)
    project.bpf_build("compile", "exec.bpf.c", "-o", "exec.o", env={"BPF_BUILD_CACHE_DIR": str(cache)}, check=0)
    headers = list(cache.glob("vmlinux/*/vmlinux.h"))
    assert len(headers) == 1 and "struct task_struct {" in headers[0].read_text()
    assert str(cache).encode() not in (project.root / "exec.o").read_bytes()
    stamp = headers[0].stat().st_mtime_ns
    project.bpf_build("compile", "exec.bpf.c", "-o", "exec2.o", env={"BPF_BUILD_CACHE_DIR": str(cache)}, check=0)
    assert headers[0].stat().st_mtime_ns == stamp, "the cached header is reused"


def test_a_provided_vmlinux_h_wins(project, tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    project.write("exec.bpf.c", VMLINUX_SOURCE)
    # A tiny stand-in for the kernel's header: enough for this program, and proof it was used.
    project.write("include/vmlinux.h", """
        #pragma once
        #include <linux/bpf.h>
        struct task_struct { int pid; int tgid; } __attribute__((preserve_access_index));
    """)
    project.bpf_build("compile", "exec.bpf.c", "-o", "exec.o", "-I", "include",
                      env={"BPF_BUILD_CACHE_DIR": str(cache)}, check=0)
    assert list(cache.iterdir()) == []
