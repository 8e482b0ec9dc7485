"""libbpf 1.1 itself (libbpf.so.1 from libbpf-dev, through ctypes) as the oracle for BTF
deduplication: btf__new / btf__new_split, btf_ext__new, btf__dedup, and the raw bytes back."""

from __future__ import annotations

import ctypes
import ctypes.util
import tempfile
from typing import Optional, Tuple


class LibbpfMissing(OSError):
    pass


class _DedupOpts(ctypes.Structure):
    _fields_ = [("sz", ctypes.c_size_t), ("btf_ext", ctypes.c_void_p),
                ("force_collisions", ctypes.c_bool)]


_lib = None


def libbpf():
    global _lib
    if _lib is None:
        name = ctypes.util.find_library("bpf") or "libbpf.so.1"
        try:
            lib = ctypes.CDLL(name, use_errno=True)
        except OSError:
            raise LibbpfMissing("libbpf.so.1 not installed") from None
        for fn, res, args in (
                ("btf__new", ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_uint32]),
                ("btf__parse_raw_split", ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_void_p]),
                ("btf_ext__new", ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_uint32]),
                ("btf__dedup", ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(_DedupOpts)]),
                ("btf__raw_data", ctypes.c_void_p, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]),
                ("btf_ext__get_raw_data", ctypes.c_void_p, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32)]),
                ("btf__free", None, [ctypes.c_void_p]),
                ("bpf_linker__new", ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_void_p]),
                ("bpf_linker__add_file", ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]),
                ("bpf_linker__finalize", ctypes.c_int, [ctypes.c_void_p]),
                ("bpf_linker__free", None, [ctypes.c_void_p]),
                ("btf_ext__free", None, [ctypes.c_void_p])):
            f = getattr(lib, fn)
            f.restype, f.argtypes = res, args
        _lib = lib
    return _lib


def require_libbpf() -> None:
    """Skip the calling test when libbpf.so is not installed (it is the oracle)."""
    import pytest

    try:
        libbpf()
    except LibbpfMissing as e:
        pytest.skip(f"{e} (oracle)")


def _raw(getter, handle) -> bytes:
    size = ctypes.c_uint32()
    ptr = getter(handle, ctypes.byref(size))
    return ctypes.string_at(ptr, size.value)


def libbpf_dedup(btf_raw: bytes, ext_raw: Optional[bytes] = None,
                 base_raw: Optional[bytes] = None) -> Tuple[bytes, Optional[bytes]]:
    """Deduplicate with libbpf; (new .BTF bytes, new .BTF.ext bytes or None)."""
    lib = libbpf()
    base = lib.btf__new(base_raw, len(base_raw)) if base_raw is not None else None
    if base_raw is not None and not base:
        raise OSError(ctypes.get_errno(), "libbpf could not parse the base BTF")
    if base:  # libbpf 1.1 exports no btf__new_split; it parses split BTF from a file
        with tempfile.NamedTemporaryFile(suffix=".btf") as f:
            f.write(btf_raw)
            f.flush()
            btf = lib.btf__parse_raw_split(f.name.encode(), base)
    else:
        btf = lib.btf__new(btf_raw, len(btf_raw))
    if not btf:
        raise OSError(ctypes.get_errno(), "libbpf could not parse the BTF")
    ext = lib.btf_ext__new(ext_raw, len(ext_raw)) if ext_raw is not None else None
    if ext_raw is not None and not ext:
        lib.btf__free(btf)
        raise OSError(ctypes.get_errno(), "libbpf could not parse the .BTF.ext")
    try:
        opts = _DedupOpts(sz=ctypes.sizeof(_DedupOpts), btf_ext=ext)
        err = lib.btf__dedup(btf, ctypes.byref(opts))
        if err:
            raise OSError(-err, "btf__dedup failed")
        return _raw(lib.btf__raw_data, btf), (_raw(lib.btf_ext__get_raw_data, ext) if ext else None)
    finally:
        if ext:
            lib.btf_ext__free(ext)
        lib.btf__free(btf)
        if base:
            lib.btf__free(base)


def libbpf_link(inputs, out: str) -> bytes:
    """Link with libbpf.so's own static linker (bpf_linker__*), as `bpftool gen object` does
    with its libbpf; the output's bytes."""
    lib = libbpf()
    linker = lib.bpf_linker__new(out.encode(), None)
    if not linker:
        raise OSError(ctypes.get_errno(), "bpf_linker__new failed")
    try:
        for path in inputs:
            err = lib.bpf_linker__add_file(linker, path.encode(), None)
            if err:
                raise OSError(-err, f"bpf_linker__add_file({path}) failed")
        err = lib.bpf_linker__finalize(linker)
        if err:
            raise OSError(-err, "bpf_linker__finalize failed")
    finally:
        lib.bpf_linker__free(linker)
    with open(out, "rb") as f:
        return f.read()
