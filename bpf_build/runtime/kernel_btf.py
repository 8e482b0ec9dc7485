"""Find a type id in the running kernel's BTF (/sys/kernel/btf/vmlinux) by name and kind.

tp_btf, fentry/fexit/fmod_ret, lsm and iter programs are loaded with the BTF id of their target.
A loader program asks the kernel (bpf_btf_find_by_name_kind); a program loaded directly from
Python needs this small scanner instead. It reads only the type headers it must step over, so
the runtime does not need the build side's full BTF model.
"""

from __future__ import annotations

import functools
import struct
from typing import Dict, Optional, Tuple

from .errors import AttachError

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"

KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_FWD, KIND_TYPEDEF = range(1, 9)
KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC = 12, 13, 14, 15
KIND_DECL_TAG, KIND_ENUM64 = 17, 19

_BTF_MAGIC = 0xEB9F
_HEADER = struct.Struct("<HBBIIIII")
_TYPE = struct.Struct("<III")

# Bytes that follow the 12-byte common header: (fixed, per vlen entry).
_TRAILER = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0),
            15: (0, 12), 17: (4, 0), 19: (0, 12)}


def _index(data: bytes) -> Dict[Tuple[str, int], int]:
    magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = _HEADER.unpack_from(data)
    if magic != _BTF_MAGIC:
        raise AttachError(f"{VMLINUX_BTF}: not little-endian BTF (magic {magic:#x})")
    types_at = hdr_len + type_off
    strings = data[hdr_len + str_off:hdr_len + str_off + str_len]
    found: Dict[Tuple[str, int], int] = {}
    # Only names are interesting; decode each lazily and keep the first id per (name, kind).
    offsets: Dict[Tuple[int, int], int] = {}
    pos, end, type_id = types_at, types_at + type_len, 1
    unpack = _TYPE.unpack_from
    trailer = _TRAILER
    while pos < end:
        name_off, info, _ = unpack(data, pos)
        kind = (info >> 24) & 0x1F
        if name_off:
            offsets.setdefault((name_off, kind), type_id)
        extra = trailer.get(kind)
        pos += 12 + (extra[0] + extra[1] * (info & 0xFFFF) if extra else 0)
        type_id += 1
    for (name_off, kind), tid in offsets.items():
        name = strings[name_off:strings.index(b"\0", name_off)].decode()
        found.setdefault((name, kind), tid)
    return found


@functools.lru_cache(maxsize=1)
def _vmlinux_index() -> Dict[Tuple[str, int], int]:
    try:
        with open(VMLINUX_BTF, "rb") as f:
            return _index(f.read())
    except FileNotFoundError:
        raise AttachError(f"{VMLINUX_BTF} is missing: the kernel was built without CONFIG_DEBUG_INFO_BTF, "
                          "which tp_btf/fentry/fexit/lsm programs need") from None


def find_type_id(name: str, kind: int) -> Optional[int]:
    """The vmlinux BTF id of the type ``name`` of ``kind``, or None."""
    return _vmlinux_index().get((name, kind))


def find_kernel_btf_id(name: str, kind: int) -> Optional[int]:
    """What the kernel's bpf_btf_find_by_name_kind answers a loader program: the vmlinux id, or
    for a type only a module has, that id with an fd of the module's BTF object in bits 32-63
    (the caller owns the fd); None if no BTF has it."""
    type_id = find_type_id(name, kind)
    if type_id is not None:
        return type_id
    from . import module_btf
    found = module_btf.find_type(name, kind)
    if found is None:
        return None
    module, type_id = found
    return module_btf.open_module_btf(module) << 32 | type_id


def require_type_id(name: str, kind: int, purpose: str) -> int:
    type_id = find_type_id(name, kind)
    if type_id is None:
        raise AttachError(f"{purpose}: '{name}' is not in the kernel's BTF ({VMLINUX_BTF})")
    return type_id
