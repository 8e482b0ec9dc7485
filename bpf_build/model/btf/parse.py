"""Reading BTF: the header, the string table and the type records into a ``Btf``, validated.

Parsing vmlinux (~130k records) is on every build's path, hence the pre-bound struct unpackers,
one dict lookup for a name in the common case, and records built without ``__init__``.
"""

from __future__ import annotations

import array
import contextlib
import gc
import struct
import sys
from itertools import repeat
from typing import Callable, Iterator, List, Optional, Tuple, cast

from ...errors import BtfError, PathLike
from .container import Btf
from .kinds import (ARRAY, BTF_MAGIC, BTF_VERSION, DATASEC, DECL_TAG, ENUM, ENUM64, FUNC, FUNC_PROTO, HEADER,
    HEADER_SIZE, INFO_RESERVED, INT, INT_RESERVED, KIND_NAMES, MAX_KIND, SIZED_KINDS, STRUCT, UNION, VAR,
    CONST, FLOAT, FWD, PTR, RESTRICT, TYPE_TAG, TYPEDEF, VOLATILE)
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
    walk the growing heap again and again (about 40% of the parse time). Re-enabled as is, its
    first young collection would still walk them all once (~75 ms for vmlinux): instead they
    are moved to the oldest generation unexamined (``gc.freeze`` then ``gc.unfreeze``, two
    list splices), where only a full collection looks at them. That promotes whatever else was
    young too, which a full collection still frees; it is skipped if the program has frozen
    objects of its own (unfreezing would release them)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
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


class _Irregular(Exception):
    """Raised by the fast path on anything it does not handle: the checked path takes over."""


def _parse_types(data: bytes, start: int, length: int, bo: str, strings: StringTable, path: PathLike,
                 first_id: int) -> List[BtfType]:
    """The records of the type section. Well-formed BTF takes the fast path (the section as one
    list of 32-bit words, entries built in bulk); anything it finds irregular is parsed again by
    the checked path, which names the first problem exactly as before."""
    if length % 4 == 0:
        try:
            return _parse_words(data, start, length, bo, strings, first_id)
        except _Irregular:
            pass
    return _parse_checked(data, start, length, bo, strings, path, first_id)


def _section_words(data: bytes, start: int, length: int, bo: str) -> List[int]:
    words = array.array("I")
    if words.itemsize != 4:
        raise _Irregular()
    words.frombytes(data[start:start + length])
    if (bo == "<") != (sys.byteorder == "little"):
        words.byteswap()
    return words.tolist()


def _parse_words(data: bytes, start: int, length: int, bo: str, strings: StringTable,
                 first_id: int) -> List[BtfType]:
    words = _section_words(data, start, length, bo)
    nwords = len(words)
    # The string starting at an offset, or None: a None among a record's names sends the whole
    # section to the checked path (an offset into the middle of a string, or outside the table).
    names = cast(Callable[[int], str], strings.starts().get)
    new_type = object.__new__
    types: List[BtfType] = []
    append = types.append
    i = 0
    while i < nwords:
        if i + 3 > nwords:
            raise _Irregular()
        name_off = words[i]
        info = words[i + 1]
        size_type = words[i + 2]
        i += 3
        kind = info >> 24
        vlen = info & 0xFFFF
        name = names(name_off)
        if name is None or info & INFO_RESERVED:
            raise _Irregular()
        t: BtfType = new_type(BtfType)
        t.kind = kind & 0x1F
        t.name = name
        t.name_off = name_off
        t.type = t.size = t.linkage = 0  # BtfType's slots: every record sets them (records.py)
        t.kflag = False
        t.rare = None
        t.members = t.enums = t.params = ()  # type: ignore[assignment]
        if kind == FUNC:
            t.type = size_type
            t.linkage = vlen
            append(t)
            continue
        if kind > 0x1F:
            kind &= 0x1F
            t.kflag = True
            kflag = True
        else:
            kflag = False
        if kind == FUNC_PROTO:
            t.type = size_type
            if vlen:
                end = i + 2 * vlen
                if end > nwords:
                    raise _Irregular()
                p_names = words[i:end:2]
                p_texts = list(map(names, p_names))
                if None in p_texts:
                    raise _Irregular()
                t.params = list(map(Param, p_texts, words[i + 1:end:2], p_names))
                i = end
            else:
                t.params = []
        elif kind == STRUCT or kind == UNION:
            t.size = size_type
            if vlen:
                end = i + 3 * vlen
                if end > nwords:
                    raise _Irregular()
                m_names = words[i:end:3]
                m_texts = list(map(names, m_names))
                if None in m_texts:
                    raise _Irregular()
                offsets = words[i + 2:end:3]
                if kflag:
                    t.members = list(map(Member, m_texts, words[i + 1:end:3], [o & 0xFFFFFF for o in offsets],
                                         [o >> 24 for o in offsets], m_names))
                else:
                    t.members = list(map(Member, m_texts, words[i + 1:end:3], offsets, repeat(0), m_names))
                i = end
            else:
                t.members = []
        elif vlen:
            if kind == ENUM:
                t.size = size_type
                end = i + 2 * vlen
                if end > nwords:
                    raise _Irregular()
                e_names = words[i:end:2]
                e_texts = list(map(names, e_names))
                if None in e_texts:
                    raise _Irregular()
                values = words[i + 1:end:2]
                if kflag:
                    values = [v - 0x100000000 if v & 0x80000000 else v for v in values]
                t.enums = list(map(EnumValue, e_texts, values, e_names))
                i = end
            elif kind == ENUM64:
                t.size = size_type
                end = i + 3 * vlen
                if end > nwords:
                    raise _Irregular()
                e_names = words[i:end:3]
                e_texts = list(map(names, e_names))
                if None in e_texts:
                    raise _Irregular()
                values = [(hi << 32) | lo for lo, hi in zip(words[i + 1:end:3], words[i + 2:end:3])]
                if kflag:
                    values = [v - (1 << 64) if v >= 1 << 63 else v for v in values]
                t.enums = list(map(EnumValue, e_texts, values, e_names))
                i = end
            elif kind == DATASEC:
                t.size = size_type
                end = i + 3 * vlen
                if end > nwords:
                    raise _Irregular()
                t.secinfo = list(map(VarSecinfo, words[i:end:3], words[i + 1:end:3], words[i + 2:end:3]))
                i = end
            else:
                raise _Irregular()  # a vlen on a kind without entries: the checked path names it
        elif kind == PTR or kind == CONST or kind == TYPEDEF or kind == VOLATILE or kind == RESTRICT \
                or kind == TYPE_TAG:
            t.type = size_type
        elif kind == ARRAY:
            if size_type or i + 3 > nwords:
                raise _Irregular()
            t.type = words[i]
            t.index_type = words[i + 1]
            t.nelems = words[i + 2]
            i += 3
        elif kind == ENUM:
            t.size = size_type
            t.enums = []
        elif kind == INT:
            if i >= nwords:
                raise _Irregular()
            v = words[i]
            i += 1
            if v & INT_RESERVED:
                raise _Irregular()
            t.size = size_type
            t.int_encoding = (v >> 24) & 0x0F
            t.int_offset = (v >> 16) & 0xFF
            t.int_bits = v & 0xFF
        elif kind == VAR:
            if i >= nwords:
                raise _Irregular()
            t.type = size_type
            t.linkage = words[i]
            i += 1
        elif kind == DECL_TAG:
            if i >= nwords:
                raise _Irregular()
            t.type = size_type
            v = words[i]
            t.component_idx = v - 0x100000000 if v & 0x80000000 else v
            i += 1
        elif kind == FWD:
            t.type = size_type
        elif kind == FLOAT:
            t.size = size_type
        elif kind == ENUM64:
            t.size = size_type
            t.enums = []
        elif kind == DATASEC:
            t.size = size_type
            t.secinfo = []
        else:
            raise _Irregular()  # unknown kinds: the checked path names them
        append(t)
    return types


def _parse_checked(data: bytes, start: int, length: int, bo: str, strings: StringTable, path: PathLike,
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
        t.type = t.size = t.linkage = 0  # BtfType's slots: every record sets them (records.py)
        t.kflag = False
        t.rare = None
        t.members = t.enums = t.params = ()  # type: ignore[assignment]
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
