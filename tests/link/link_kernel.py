"""Load a linked object into the running kernel and run its programs.

Loading goes through `bpftool prog loadall` (our own loader does not exist yet); running uses
BPF_OBJ_GET on the pinned programs and BPF_PROG_TEST_RUN through a tiny ctypes bpf() wrapper.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import uuid
from typing import Dict

from bpf_build.runtime.uapi import Cmd

BPF_OBJ_GET, BPF_PROG_TEST_RUN = Cmd.OBJ_GET, Cmd.PROG_TEST_RUN
_NR_BPF = 321  # x86_64
BPFFS = "/sys/fs/bpf"

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _ObjGetAttr(ctypes.Structure):
    _fields_ = [("pathname", ctypes.c_uint64), ("bpf_fd", ctypes.c_uint32),
                ("file_flags", ctypes.c_uint32), ("path_fd", ctypes.c_int32)]


class _TestRunAttr(ctypes.Structure):
    _fields_ = [("prog_fd", ctypes.c_uint32), ("retval", ctypes.c_uint32),
                ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
                ("data_in", ctypes.c_uint64), ("data_out", ctypes.c_uint64),
                ("repeat", ctypes.c_uint32), ("duration", ctypes.c_uint32),
                ("ctx_size_in", ctypes.c_uint32), ("ctx_size_out", ctypes.c_uint32),
                ("ctx_in", ctypes.c_uint64), ("ctx_out", ctypes.c_uint64),
                ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32),
                ("batch_size", ctypes.c_uint32), ("_pad", ctypes.c_uint32)]


def _bpf(cmd: int, attr: ctypes.Structure) -> int:
    ret = _libc.syscall(_NR_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"bpf({cmd}): {os.strerror(err)}")
    return ret


def obj_get(path: str) -> int:
    raw = ctypes.create_string_buffer(path.encode())
    attr = _ObjGetAttr(pathname=ctypes.addressof(raw))
    return _bpf(BPF_OBJ_GET, attr)


def test_run(prog_fd: int, data: bytes = bytes(64), ctx: bytes = b"", repeat: int = 1) -> int:
    """Run a program with BPF_PROG_TEST_RUN; its return value. raw_tp programs take a context
    and no data, and must pass repeat=0."""
    data_buf = ctypes.create_string_buffer(data, len(data)) if data else None
    out_buf = ctypes.create_string_buffer(len(data) + 256) if data else None
    ctx_buf = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None
    attr = _TestRunAttr(prog_fd=prog_fd, repeat=repeat)
    if data:
        attr.data_in, attr.data_size_in = ctypes.addressof(data_buf), len(data)
        attr.data_out, attr.data_size_out = ctypes.addressof(out_buf), len(out_buf)
    if ctx:
        attr.ctx_in, attr.ctx_size_in = ctypes.addressof(ctx_buf), len(ctx)
    _bpf(BPF_PROG_TEST_RUN, attr)
    return attr.retval


class LoadError(Exception):
    pass


def require_bpf() -> None:
    """Skip unless this process can load BPF programs and bpftool is there to load them."""
    import pytest

    if os.geteuid() != 0 or not os.path.isdir(BPFFS) or not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("needs root, bpffs at /sys/fs/bpf and kernel BTF")
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool not installed (used to load the linked object)")


def load_and_run(obj_path: str, runs: Dict[str, dict]) -> Dict[str, int]:
    """`bpftool prog loadall` the object into a fresh pin directory, test-run the programs named
    in ``runs`` (name -> keyword arguments of test_run) and return their return values. The pin
    directory is removed afterwards."""
    pin_dir = os.path.join(BPFFS, f"bpflink_{uuid.uuid4().hex[:12]}")
    proc = subprocess.run(["bpftool", "prog", "loadall", obj_path, pin_dir],
                          capture_output=True, text=True)
    try:
        if proc.returncode != 0:
            raise LoadError(f"bpftool prog loadall {obj_path} failed:\n{proc.stderr[-4000:]}")
        results = {}
        for name, kwargs in runs.items():
            fd = obj_get(os.path.join(pin_dir, name))
            try:
                results[name] = test_run(fd, **kwargs)
            finally:
                os.close(fd)
        return results
    finally:
        shutil.rmtree(pin_dir, ignore_errors=True)
