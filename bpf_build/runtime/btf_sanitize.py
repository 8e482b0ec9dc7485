"""Make an object's BTF loadable by a kernel that lacks some BTF kinds.

A kernel refuses a whole BTF blob that uses one kind it does not know, and without BTF it
refuses the maps and programs that name it. Like libbpf's bpf_object__sanitize_btf, each type of
a missing kind is rewritten *in place* into an older kind of the same encoded size, so every
type id (map key/value types, func_info, CO-RE records) stays valid:

  DECL_TAG (5.16)  -> INT of 1 byte, anonymous    (same 16 bytes: the tag's component index
                                                   becomes the int's encoding)
  TYPE_TAG (5.17)  -> CONST of the same type      (12 bytes)
  FLOAT    (5.13)  -> empty anonymous STRUCT of the same size
  ENUM64   (6.0)   -> UNION of the same size, one member per enumerator (12 bytes each, like
                      an enumerator), every member an appended anonymous 1-byte INT
  signed ENUM (6.0, the kflag)  -> unsigned, when ENUM64 is missing too

What a kernel has is asked of the kernel (features.has_btf_kind); tests may pass their own answer.
"""

from __future__ import annotations

import struct
from typing import Callable, Optional, Set

from .btf_types import (KIND_CONST, KIND_DECL_TAG, KIND_ENUM, KIND_ENUM64, KIND_FLOAT, KIND_INT,
                        KIND_STRUCT, KIND_TYPE_TAG, KIND_UNION, BtfTypes)

SANITIZED_KINDS = {KIND_DECL_TAG: "DECL_TAG", KIND_TYPE_TAG: "TYPE_TAG", KIND_FLOAT: "FLOAT",
                   KIND_ENUM64: "ENUM64"}
_INT_ONE_BYTE = 8  # encoding word of an unsigned 8-bit int at bit offset 0


def _info(kind: int, vlen: int = 0, kflag: bool = False) -> int:
    return kind << 24 | vlen | (int(kflag) << 31)


def missing_kinds(has_btf_kind: Optional[Callable[[str], bool]] = None) -> Set[int]:
    """The sanitized kinds this kernel lacks (``has_btf_kind`` answers instead of the probes)."""
    if has_btf_kind is None:
        from . import features
        has_btf_kind = features.has_btf_kind
    return {kind for kind, name in SANITIZED_KINDS.items() if not has_btf_kind(name)}


def sanitize_btf(raw: bytes, has_btf_kind: Optional[Callable[[str], bool]] = None) -> bytes:
    """``raw`` with every kind the kernel lacks rewritten (the same bytes if it lacks none)."""
    missing = missing_kinds(has_btf_kind)
    if not missing:
        return bytes(raw)
    btf = BtfTypes(raw, "the object's BTF")
    used = {btf.kind(t) for t in range(1, len(btf))}
    if not (used & missing) and not (KIND_ENUM64 in missing and KIND_ENUM in used):
        return bytes(raw)
    out = bytearray(raw)
    head = struct.Struct(btf.bo + "III")
    placeholder = 0
    for type_id in range(1, len(btf)):
        kind, at = btf.kind(type_id), btf.offsets[type_id]
        name_off, info, size_or_type = head.unpack_from(out, at)
        if kind == KIND_DECL_TAG and kind in missing:
            head.pack_into(out, at, 0, _info(KIND_INT), 1)
            struct.pack_into(btf.bo + "I", out, at + 12, _INT_ONE_BYTE)
        elif kind == KIND_TYPE_TAG and kind in missing:
            head.pack_into(out, at, 0, _info(KIND_CONST), size_or_type)
        elif kind == KIND_FLOAT and kind in missing:
            head.pack_into(out, at, 0, _info(KIND_STRUCT), size_or_type)
        elif kind == KIND_ENUM64 and kind in missing:
            if not placeholder:
                placeholder = len(btf)
            vlen = btf.vlen(type_id)
            head.pack_into(out, at, name_off, _info(KIND_UNION, vlen), size_or_type)
            for i in range(vlen):
                member = at + 12 + 12 * i   # name_off stays; the value's two words become type, offset
                struct.pack_into(btf.bo + "II", out, member + 4, placeholder, 0)
        elif kind == KIND_ENUM and KIND_ENUM64 in missing and btf.kflag(type_id):
            head.pack_into(out, at, name_off, _info(KIND_ENUM, btf.vlen(type_id)), size_or_type)
    if placeholder:
        out = _append_type(btf, out, head.pack(0, _info(KIND_INT), 1) + struct.pack(btf.bo + "I", _INT_ONE_BYTE))
    return bytes(out)


def _append_type(btf: BtfTypes, raw: bytearray, encoded: bytes) -> bytearray:
    """``raw`` with one more type after the last (its id is the old type count)."""
    hdr = struct.Struct(btf.bo + "HBBIIIII")
    magic, version, flags, hdr_len, type_off, type_len, str_off, str_len = hdr.unpack_from(raw)
    types = raw[btf.types_start:btf.types_end] + encoded
    strings = raw[btf.strings_start:btf.strings_end]
    header = bytearray(raw[:hdr_len])
    hdr.pack_into(header, 0, magic, version, flags, hdr_len, 0, len(types), len(types), len(strings))
    return header + types + strings
