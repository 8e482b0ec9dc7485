"""Reading BTF: the header, the string table and the type records into a ``Btf``, validated.

Parsing vmlinux (~130k records) is on every build's path, hence the pre-bound struct unpackers,
one dict lookup for a name in the common case, and records built without ``__init__``.
"""

from __future__ import annotations

import contextlib
import gc
import struct
from typing import Iterator, List, Optional, Tuple

from ...errors import BtfError, PathLike
from .container import Btf
from .kinds import (ARRAY, BTF_MAGIC, BTF_VERSION, DATASEC, DECL_TAG, ENUM, ENUM64, FUNC, FUNC_PROTO, HEADER,
    HEADER_SIZE, INFO_RESERVED, INT, INT_RESERVED, KIND_NAMES, MAX_KIND, SIZED_KINDS, STRUCT, UNION, VAR)
from .records import BtfType, EnumValue, Member, Param, VarSecinfo
from .strings import StringTable
from .validate import validate

# Kinds with entries after the record (vlen counts them) or whose vlen holds a value (FUNC).
_VLEN_KINDS = frozenset({STRUCT, UNION, ENUM, ENUM64, FUNC_PROTO, DATASEC, FUNC})


def magic_byteorder(data: bytes, path: PathLike, what: str) -> Tuple[str, str]:
    """(struct prefix, byte order) from the 0xeB9F magic that .BTF and .BTF.ext share."""
    magic_le = struct.unpack_from("<H", data, 0)[0]
    if magic_le == BTF_MAGIC:
        return "<", "little"
    if magic_le == 0x9FEB:
        return ">", "big"
    raise BtfError(path, f"bad {what} magic 0x{magic_le:04x} (expected 0xeb9f)")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Parsing vmlinux creates ~350k records that reference no cycles; left on, the collector would
    walk the growing heap again and again (about 40% of the parse time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_btf(data: bytes, path: PathLike, base: Optional[Btf]) -> Btf:
    """The ``Btf`` in ``data`` (split on ``base`` if given), validated; BtfError if it is not
    well-formed BTF."""
    with paused_gc():
        return _parse_unpaused(data, path, base)


def _parse_unpaused(data: bytes, path: PathLike, base: Optional[Btf]) -> Btf:
    if len(data) < HEADER_SIZE:
        raise BtfError(path, f"BTF too short for its header ({len(data)} bytes)")
    bo, byteorder = magic_byteorder(data, path, "BTF")
    _, version, flags, hdr_len, type_off, type_len, str_off, str_len = HEADER[bo].unpack_from(data, 0)
    if version != BTF_VERSION:
        raise BtfError(path, f"unsupported BTF version {version}")
    if hdr_len < HEADER_SIZE or hdr_len > len(data):
        raise BtfError(path, f"bad BTF header length {hdr_len}")
    body = len(data) - hdr_len
    if type_off + type_len > body or str_off + str_len > body:
        raise BtfError(path, f"BTF sections exceed the data (types {type_off}+{type_len}, "
                             f"strings {str_off}+{str_len}, {body} bytes after the header)")
    if type_off % 4:
        raise BtfError(path, f"BTF type section offset {type_off} is not 4-byte aligned")
    if type_off + type_len > str_off and str_off + str_len > type_off and str_len and type_len:
        raise BtfError(path, "BTF type and string sections overlap")
    strs = data[hdr_len + str_off: hdr_len + str_off + str_len]
    if base is None:
        if str_len == 0 or strs[0] != 0:
            raise BtfError(path, "BTF string table must start with an empty string")
    if str_len and strs[-1] != 0:
        raise BtfError(path, "BTF string table is not NUL-terminated")
    if base is not None:
        strings = StringTable(strs, start=base.strings.start + base.strings.size, base=base.strings)
    else:
        strings = StringTable(strs)
    header_extra = data[HEADER_SIZE:hdr_len]
    end_of_known = max(type_off + type_len, str_off + str_len)
    trailer = data[hdr_len + end_of_known:]
    if type_off != 0 or (str_off != type_len and str_len):
        # Anything but the canonical layout (types, then strings) would not re-encode the same.
        if not header_extra:
            raise BtfError(path, f"unsupported BTF layout (types at {type_off}, strings at {str_off})")
    btf = Btf([], strings, byteorder=byteorder, base=base, flags=flags,
              header_extra=header_extra, trailer=trailer)
    btf.path = path
    btf.types = _parse_types(data, hdr_len + type_off, type_len, bo, strings, path, btf.start_id)
    validate(btf, path)
    return btf


def _parse_types(data: bytes, start: int, length: int, bo: str, strings: StringTable, path: PathLike,
                 first_id: int) -> List[BtfType]:
    u32x3 = struct.Struct(bo + "III").unpack_from
    u32 = struct.Struct(bo + "I").unpack_from
    i32 = struct.Struct(bo + "i").unpack_from
    u32x2 = struct.Struct(bo + "II").unpack_from
    i32x2 = struct.Struct(bo + "Ii").unpack_from
    get = strings.get
    names = strings.starts().get  # exact string starts: the common case, one dict lookup
    new_type = object.__new__
    end = start + length
    pos = start
    types: List[BtfType] = []
    tid = first_id

    def name_of(off: int, what: str) -> str:
        s = names(off)
        if s is not None:
            return s
        s = get(off)
        if s is None:
            raise BtfError(path, f"type [{tid}]: {what} name offset {off} is outside the string table")
        return s

    def need(n: int) -> None:
        if pos + n > end:
            raise BtfError(path, f"type [{tid}]: truncated BTF type data at byte {pos - start}")

    while pos < end:
        need(12)
        name_off, info, size_type = u32x3(data, pos)
        pos += 12
        kind = (info >> 24) & 0x1F  # an int, not a Kind member: see kinds.py
        vlen = info & 0xFFFF
        kflag = bool(info >> 31)
        if kind == 0 or kind > MAX_KIND:
            raise BtfError(path, f"type [{tid}]: unknown BTF kind {kind}")
        if info & INFO_RESERVED:
            raise BtfError(path, f"type [{tid}] {KIND_NAMES[kind]}: reserved info bits set "
                                 f"(info 0x{info:08x})")
        n = names(name_off)
        t: BtfType = new_type(BtfType)
        t.kind = kind
        t.name = n if n is not None else name_of(name_off, "type")
        t.name_off = name_off
        if kflag:
            t.kflag = True
        if kind in SIZED_KINDS:
            t.size = size_type
        elif kind == ARRAY:
            if size_type:
                raise BtfError(path, f"type [{tid}] ARRAY: size/type field must be 0, found {size_type}")
        else:
            t.type = size_type
        if kind == INT:
            need(4)
            (v,) = u32(data, pos)
            pos += 4
            if v & INT_RESERVED:
                raise BtfError(path, f"type [{tid}] INT: reserved bits set in its data 0x{v:08x}")
            t.int_encoding = (v >> 24) & 0x0F
            t.int_offset = (v >> 16) & 0xFF
            t.int_bits = v & 0xFF
        elif kind == ARRAY:
            need(12)
            t.type, t.index_type, t.nelems = u32x3(data, pos)
            pos += 12
        elif kind in (STRUCT, UNION):
            need(12 * vlen)
            members: List[Member] = []
            t.members = members
            for _ in range(vlen):
                m_name, m_type, m_off = u32x3(data, pos)
                pos += 12
                n = names(m_name)
                if n is None:
                    n = name_of(m_name, "member")
                if kflag:
                    members.append(Member(n, m_type, m_off & 0xFFFFFF, m_off >> 24, m_name))
                else:
                    members.append(Member(n, m_type, m_off, 0, m_name))
        elif kind == ENUM:
            need(8 * vlen)
            t.enums = []
            unpack = i32x2 if kflag else u32x2
            for _ in range(vlen):
                e_name, e_val = unpack(data, pos)
                pos += 8
                t.enums.append(EnumValue(name_of(e_name, "enumerator"), e_val, e_name))
        elif kind == ENUM64:
            need(12 * vlen)
            t.enums = []
            for _ in range(vlen):
                e_name, lo, hi = u32x3(data, pos)
                pos += 12
                v = (hi << 32) | lo
                if kflag and v >= 1 << 63:
                    v -= 1 << 64
                t.enums.append(EnumValue(name_of(e_name, "enumerator"), v, e_name))
        elif kind == FUNC_PROTO:
            need(8 * vlen)
            params: List[Param] = []
            t.params = params
            for _ in range(vlen):
                p_name, p_type = u32x2(data, pos)
                pos += 8
                n = names(p_name)
                params.append(Param(n if n is not None else name_of(p_name, "parameter"), p_type, p_name))
        elif kind == VAR:
            need(4)
            (t.linkage,) = u32(data, pos)
            pos += 4
        elif kind == DATASEC:
            need(12 * vlen)
            t.secinfo = []
            for _ in range(vlen):
                t.secinfo.append(VarSecinfo(*u32x3(data, pos)))
                pos += 12
        elif kind == DECL_TAG:
            need(4)
            (t.component_idx,) = i32(data, pos)
            pos += 4
        elif kind == FUNC:
            t.linkage = vlen
        if vlen and kind not in _VLEN_KINDS:
            raise BtfError(path, f"type [{tid}] {KIND_NAMES[kind]}: vlen must be 0, found {vlen}")
        types.append(t)
        tid += 1
    return types
