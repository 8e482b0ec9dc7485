"""Writing BTF: a ``Btf`` back to bytes, or its type section as a list of words for a reader of
words (``type_words``: the dedup). An untouched model re-encodes byte for byte: names keep the
string offsets they were read at; new or renamed ones are appended to the string table."""

from __future__ import annotations

import array
import struct
import sys
from typing import Callable, List, Optional, Tuple

from ...errors import BtfError
from .container import Btf
from .kinds import (ARRAY, BTF_MAGIC, BTF_VERSION, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FUNC, FUNC_PROTO,
    HEADER, HEADER_SIZE, INT, MAX_VLEN, PTR, SIZED_KINDS, STRUCT, TYPEDEF, UNION, VAR)

def encode_btf(btf: Btf) -> bytes:
    """The bytes of ``btf``: header, type records, string table (struct.error if a value
    does not fit its field; ``Btf.encode`` reports that as a BtfError)."""
    bo = "<" if btf.byteorder == "little" else ">"
    try:
        type_data = _type_bytes(_type_words(btf), bo)
    except (OverflowError, TypeError):
        # A value that does not fit 32 bits: the packing path below names it as struct does.
        # (The names the first attempt appended are found again, in the same order.)
        type_data = _packed_types(btf, bo)
    return _assemble(btf, bo, type_data)


def _assemble(btf: Btf, bo: str, type_data: bytes) -> bytes:
    str_data = btf.strings.data()
    hdr_len = HEADER_SIZE + len(btf.header_extra)
    header = HEADER[bo].pack(BTF_MAGIC, BTF_VERSION, btf.flags, hdr_len, 0, len(type_data),
                             len(type_data), len(str_data))
    return header + btf.header_extra + type_data + str_data + btf.trailer


def _name_offsets(btf: Btf) -> Tuple[Callable[[Optional[int]], Optional[str]], Callable[[str, Optional[int]], int]]:
    """(the string starting at an offset, the offset to write for a name and the offset it was
    read at: that one while it still holds the name, else the name appended)."""
    strings = btf.strings
    add = strings.add
    get = strings.get
    at_offset = strings.starts().get  # exact string starts (untouched names hit this)

    def off_of(name: str, name_off: Optional[int]) -> int:
        if name_off is not None and (at_offset(name_off) == name or get(name_off) == name):
            return name_off
        return add(name)

    return at_offset, off_of  # type: ignore[return-value]


def type_words(btf: Btf, record_at: Optional[List[int]] = None) -> List[int]:
    """The type section of ``btf`` as the list of its 32-bit words (values, not bytes): what
    ``Btf.encode`` writes, names without an offset appended to the string table alike, and a
    value that does not fit its field the same BtfError. For a reader of words: no bytes made
    and read back, and the words are mostly the records' own int objects (a link's 51k types:
    ~14 MiB of ints fewer than words read from bytes). ``record_at``, if given, gets the index
    of each record's first word (what framing the words would find)."""
    try:
        words = _type_words(btf, record_at)
        array.array("I", words)  # refuses what does not fit, as writing the bytes would
    except (OverflowError, TypeError):
        btf.encode()  # the packing path names the value (BtfError)
        raise AssertionError("BTF words that do not fit, yet the packing path took them") from None
    return words


def _type_bytes(words: List[int], bo: str) -> bytes:
    """The words as the type section's bytes (array refuses a value that does not fit:
    OverflowError, or TypeError for a non-int)."""
    out = array.array("I", words)
    if (bo == "<") != (sys.byteorder == "little"):
        out.byteswap()
    return out.tobytes()


def _type_words(btf: Btf, record_at: Optional[List[int]] = None) -> List[int]:
    """The type section as one list of 32-bit words, unchecked (OverflowError for more entries
    than a record holds); where each record starts appended to ``record_at`` if given."""
    at_offset, off_of = _name_offsets(btf)
    words: List[int] = []
    append = words.append
    extend = words.extend
    mark = record_at.append if record_at is not None else None
    for tid, t in btf.items():
        if mark is not None:
            mark(len(words))
        k = t.kind
        if k == STRUCT or k == UNION:
            members = t.members
            vlen = len(members)
        elif k == FUNC_PROTO:
            params = t.params
            vlen = len(params)
        elif k == FUNC:
            vlen = t.linkage
        elif k == ENUM or k == ENUM64:
            vlen = len(t.enums)
        elif k == DATASEC:
            vlen = len(t.secinfo)
        else:
            vlen = 0
        if vlen > MAX_VLEN:
            raise OverflowError(vlen)  # the packing path reports it (or an earlier problem)
        n = t.name_off
        if n is None or at_offset(n) != t.name:
            n = off_of(t.name, n)
        extend((n, (int(t.kflag) << 31) | (k << 24) | vlen,
                t.size if k in SIZED_KINDS else (0 if k == ARRAY else t.type)))
        if k == FUNC or k == PTR or k == CONST or k == TYPEDEF:
            pass
        elif k == FUNC_PROTO:
            for p in params:
                n = p.name_off
                if n is None or at_offset(n) != p.name:
                    n = off_of(p.name, n)
                append(n)
                append(p.type)
        elif k == STRUCT or k == UNION:
            kflag = t.kflag
            for m in members:
                n = m.name_off
                if n is None or at_offset(n) != m.name:
                    n = off_of(m.name, n)
                extend((n, m.type, (m.bitfield_size << 24) | m.offset if kflag else m.offset))
        elif k == INT:
            append((t.int_encoding << 24) | (t.int_offset << 16) | t.int_bits)
        elif k == ARRAY:
            extend((t.type, t.index_type, t.nelems))
        elif k == ENUM:
            signed = t.kflag
            for e in t.enums:
                v = e.value
                extend((off_of(e.name, e.name_off), _signed32(v) if signed and v < 0 else v & 0xFFFFFFFF))
        elif k == ENUM64:
            for e in t.enums:
                v = e.value & 0xFFFFFFFFFFFFFFFF
                extend((off_of(e.name, e.name_off), v & 0xFFFFFFFF, v >> 32))
        elif k == VAR:
            append(t.linkage)
        elif k == DATASEC:
            for entry in t.secinfo:
                extend((entry.type, entry.offset, entry.size))
        elif k == DECL_TAG:
            append(_signed32(t.component_idx))
    return words


def _signed32(v: int) -> int:
    """A signed 32-bit value as its unsigned word (OverflowError if it does not fit, as
    struct's "i" refuses it)."""
    if not -0x80000000 <= v <= 0x7FFFFFFF:
        raise OverflowError(v)
    return v & 0xFFFFFFFF


def _packed_types(btf: Btf, bo: str) -> bytes:
    """The type section packed record by record: the path that reports a value too large for
    its field as struct.error."""
    at_offset, off_of = _name_offsets(btf)
    pack3 = struct.Struct(bo + "III").pack
    pack1 = struct.Struct(bo + "I").pack
    pack1s = struct.Struct(bo + "i").pack
    pack2 = struct.Struct(bo + "II").pack
    pack2s = struct.Struct(bo + "Ii").pack
    out: List[bytes] = []
    append = out.append
    for tid, t in btf.items():
        k = t.kind
        vlen = (len(t.members) if k == STRUCT or k == UNION else len(t.params) if k == FUNC_PROTO
                else t.vlen)
        if vlen > MAX_VLEN:
            raise BtfError(None, f"type [{tid}] {t.kind_name} '{t.name}': {vlen} entries exceed BTF's limit")
        info = (int(t.kflag) << 31) | (k << 24) | vlen
        n = t.name_off
        if n is None or at_offset(n) != t.name:
            n = off_of(t.name, n)
        append(pack3(n, info,
                     t.size if k in SIZED_KINDS else (0 if k == ARRAY else t.type)))
        if k == INT:
            append(pack1((t.int_encoding << 24) | (t.int_offset << 16) | t.int_bits))
        elif k == ARRAY:
            append(pack3(t.type, t.index_type, t.nelems))
        elif k in (STRUCT, UNION):
            kflag = t.kflag
            for m in t.members:
                n = m.name_off
                if n is None or at_offset(n) != m.name:
                    n = off_of(m.name, n)
                append(pack3(n, m.type, (m.bitfield_size << 24) | m.offset if kflag else m.offset))
        elif k == ENUM:
            for e in t.enums:
                n = off_of(e.name, e.name_off)
                append(pack2s(n, e.value) if t.kflag and e.value < 0 else pack2(n, e.value & 0xFFFFFFFF))
        elif k == ENUM64:
            for e in t.enums:
                v = e.value & 0xFFFFFFFFFFFFFFFF
                append(pack3(off_of(e.name, e.name_off), v & 0xFFFFFFFF, v >> 32))
        elif k == FUNC_PROTO:
            for p in t.params:
                n = p.name_off
                if n is None or at_offset(n) != p.name:
                    n = off_of(p.name, n)
                append(pack2(n, p.type))
        elif k == VAR:
            append(pack1(t.linkage))
        elif k == DATASEC:
            for entry in t.secinfo:
                append(pack3(entry.type, entry.offset, entry.size))
        elif k == DECL_TAG:
            append(pack1s(t.component_idx))
    return b"".join(out)

