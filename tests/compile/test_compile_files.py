"""Files the compile driver creates besides its outputs: the vmlinux.h cache (private, checked
before use) and clang's temporary outputs (created exclusively, under unpredictable names)."""

from __future__ import annotations

import os
import stat
import threading
import types

import pytest

from bpf_build.project import compile as C
from bpf_build.project import vmlinux
from bpf_build.model.elf import Object
from bpf_build.errors import CompileError

TYPES = r"""
    struct task_struct { int pid; int tgid; };
    struct task_struct task;
"""


@pytest.fixture
def small_btf(tmp_path, compile_c):
    """A raw BTF file (a few types, not the kernel's 6 MB): what vmlinux.h is rendered from."""
    obj = Object.read(compile_c(TYPES, name="types"))
    path = tmp_path / "small.btf"
    path.write_bytes(obj.section(".BTF").data)
    return str(path)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("BPF_BUILD_CACHE_DIR", str(root))
    return root


def _writable_by_others(path) -> bool:
    return bool(os.stat(path).st_mode & 0o022)


def test_cache_directories_are_private_under_umask_0(small_btf, cache):
    old = os.umask(0)
    try:
        directory = vmlinux.generated_vmlinux_h_dir(small_btf)
    finally:
        os.umask(old)
    assert "struct task_struct {" in open(os.path.join(directory, "vmlinux.h")).read()
    for d in (cache, cache / "vmlinux", directory):
        assert not _writable_by_others(d), f"{d} is {stat.filemode(os.stat(d).st_mode)}"


def test_a_tampered_cached_header_is_rendered_again(small_btf, cache):
    header = os.path.join(vmlinux.generated_vmlinux_h_dir(small_btf), "vmlinux.h")
    good = open(header).read()
    with open(header, "a") as f:
        f.write('#error "planted"\n')
    assert open(os.path.join(vmlinux.generated_vmlinux_h_dir(small_btf), "vmlinux.h")).read() == good


def test_a_cache_others_can_write_is_refused(small_btf, cache):
    cache.mkdir()
    os.chmod(cache, 0o777)
    with pytest.raises(CompileError, match="writable by other users"):
        vmlinux.generated_vmlinux_h_dir(small_btf)


def test_a_file_planted_at_a_predictable_temp_name_is_not_written_through(tmp_path, monkeypatch):
    """Temp names were <output>.tmp-<pid>-<thread id>: a symlink planted there let clang's
    depfile overwrite any file the build can write."""
    src = tmp_path / "prog.bpf.c"
    src.write_text('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                   'SEC("socket") int prog(void *ctx) { return 0; }\n')
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    victim = tmp_path / "precious.txt"
    victim.write_text("precious\n")
    # The compile module's view of threading only: the real get_ident must keep working.
    monkeypatch.setattr(C, "threading", types.SimpleNamespace(**dict(vars(threading), get_ident=lambda: 4242)))
    for suffix in ("", ".d"):
        os.symlink(victim, out_dir / f".prog.o.tmp-{os.getpid()}-4242{suffix}")
    C.compile_all([C.CompileJob(str(src), str(out_dir / "prog.o"))], parallel=1)
    assert victim.read_text() == "precious\n"
    assert Object.read(str(out_dir / "prog.o")).symbol("prog") is not None
    left = sorted(p.name for p in out_dir.iterdir() if ".tmp" in p.name and not p.is_symlink())
    assert left == [], "temporary files are removed"
