"""Kernel modules' BTF for the user-space load path: CO-RE candidates and BTF ids of types that
live in a module (``struct veth_priv`` in veth), as the kernel and libbpf find them.

A module's BTF (/sys/kernel/btf/<module>, Linux 5.11+) is *split* BTF: its type ids continue
vmlinux's and its string offsets continue vmlinux's string section, so its types name vmlinux
types and strings freely. Two views are kept, each built once per module file:

* a name index of the module's own types only (cheap: modules hold hundreds to thousands of
  types), consulted for every module when vmlinux has no candidate;
* for a module that does have one, vmlinux and the module as one standalone BTF (types and
  strings appended), which the CO-RE rules walk like any other BTF; its ids are the kernel's.

The order is the kernel's and libbpf's: vmlinux first, modules only if vmlinux has no candidate.
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from . import syscall
from .btf_types import BTF_MAGIC, HEADER_SIZE, TRAILER, BtfTypes, essential_name, kernel_types
from .errors import BpfSyscallError, LoaderError
from .uapi import Cmd

BTF_DIR = "/sys/kernel/btf"
VMLINUX = os.path.join(BTF_DIR, "vmlinux")


class _ModuleIndex(NamedTuple):
    start_id: int                                   # the module's first type id
    by_essential: Dict[str, List[Tuple[int, int]]]  # essential name -> [(type id, kind)]
    by_name: Dict[Tuple[str, int], int]             # (name, kind) -> first type id


def module_names() -> List[str]:
    """Modules with BTF in the running kernel, in name order (empty before 5.11)."""
    try:
        return sorted(name for name in os.listdir(BTF_DIR) if name != "vmlinux")
    except FileNotFoundError:
        return []


def _sections(data: bytes, what: str) -> Tuple[str, bytes, bytes]:
    """(byte order, type section, string section) of a raw BTF blob."""
    if len(data) < HEADER_SIZE:
        raise LoaderError(f"{what}: BTF shorter than its header")
    bo = "<" if struct.unpack_from("<H", data)[0] == BTF_MAGIC else ">"
    magic, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(bo + "HBBIIIII", data)
    if magic != BTF_MAGIC:
        raise LoaderError(f"{what}: not BTF (magic {magic:#x})")
    types = data[hdr_len + type_off:hdr_len + type_off + type_len]
    strings = data[hdr_len + str_off:hdr_len + str_off + str_len]
    if len(types) != type_len or len(strings) != str_len:
        raise LoaderError(f"{what}: BTF sections run past its {len(data)} bytes")
    return bo, types, strings


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


@functools.lru_cache(maxsize=None)
def _index(path: str, mtime_ns: int, base_strings_len: int) -> _ModuleIndex:
    base = kernel_types(VMLINUX)
    bo, types, strings = _sections(_read(path), path)
    head = struct.Struct(bo + "III")
    by_essential: Dict[str, List[Tuple[int, int]]] = {}
    by_name: Dict[Tuple[str, int], int] = {}
    pos, type_id = 0, len(base)
    while pos + head.size <= len(types):
        name_off, info, _ = head.unpack_from(types, pos)
        kind = (info >> 24) & 0x1F
        if name_off:
            if name_off < base_strings_len:
                name = base.string(name_off)
            else:
                start = name_off - base_strings_len
                name = strings[start:strings.index(b"\0", start)].decode("utf-8", "surrogateescape")
            by_essential.setdefault(essential_name(name), []).append((type_id, kind))
            by_name.setdefault((name, kind), type_id)
        fixed, each = TRAILER.get(kind, (0, 0))
        pos += head.size + fixed + each * (info & 0xFFFF)
        type_id += 1
    return _ModuleIndex(len(base), by_essential, by_name)


@functools.lru_cache(maxsize=8)
def _combined(path: str, mtime_ns: int) -> BtfTypes:
    base_bo, base_types, base_strings = _sections(kernel_types(VMLINUX).data, VMLINUX)
    bo, types, strings = _sections(_read(path), path)
    if bo != base_bo:
        raise LoaderError(f"{path}: byte order differs from {VMLINUX}")
    all_types, all_strings = base_types + types, base_strings + strings
    header = struct.pack(bo + "HBBIIIII", BTF_MAGIC, 1, 0, HEADER_SIZE, 0, len(all_types),
                         len(all_types), len(all_strings))
    return BtfTypes(header + all_types + all_strings, f"{VMLINUX} + {path}")


def _stat(path: str) -> int:
    return os.stat(path).st_mtime_ns


def module_types(module: str) -> BtfTypes:
    """vmlinux's and ``module``'s types as one BTF (ids as the kernel numbers them)."""
    path = os.path.join(BTF_DIR, module)
    return _combined(path, _stat(path))


def _module_index(module: str) -> _ModuleIndex:
    path = os.path.join(BTF_DIR, module)
    base = kernel_types(VMLINUX)
    return _index(path, _stat(path), base.strings_end - base.strings_start)


def find_candidates(name: str, accept_kind: Callable[[int], bool]) -> List[Tuple[BtfTypes, int]]:
    """CO-RE candidates in modules: every module type whose essential name is ``name`` and whose
    kind ``accept_kind`` takes, each with the BTF to read it in."""
    found: List[Tuple[BtfTypes, int]] = []
    for module in module_names():
        try:
            hits = [tid for tid, kind in _module_index(module).by_essential.get(name, []) if accept_kind(kind)]
        except FileNotFoundError:
            continue  # unloaded meanwhile
        if hits:
            types = module_types(module)
            found.extend((types, tid) for tid in hits)
    return found


def find_type(name: str, kind: int) -> Optional[Tuple[str, int]]:
    """(module, type id) of the first module type named exactly ``name`` of ``kind``, in module
    name order, or None."""
    for module in module_names():
        try:
            type_id = _module_index(module).by_name.get((name, kind))
        except FileNotFoundError:
            continue
        if type_id is not None:
            return module, type_id
    return None


def open_module_btf(module: str) -> int:
    """An fd of the kernel's BTF object of ``module`` (what BPF_PROG_LOAD takes as
    attach_btf_obj_fd, and fd_array as a kfunc's BTF); the caller closes it."""
    btf_id = 0
    while True:
        next_id = syscall.get_next_id(Cmd.BTF_GET_NEXT_ID, btf_id)
        if next_id is None:
            raise LoaderError(f"module '{module}' has BTF in {BTF_DIR} but no kernel BTF object of that name")
        btf_id = next_id
        try:
            fd = syscall.get_fd_by_id(Cmd.BTF_GET_FD_BY_ID, btf_id, f"open BTF object {btf_id}")
        except BpfSyscallError:
            continue  # freed meanwhile
        name = ctypes.create_string_buffer(64)
        info = syscall.BtfInfo(name=ctypes.addressof(name), name_len=len(name))
        try:
            syscall.obj_info(fd, info, f"BTF object {btf_id} info")
        except BpfSyscallError:
            os.close(fd)
            raise
        if info.kernel_btf and name.value.decode("utf-8", "replace") == module:
            return fd
        os.close(fd)
