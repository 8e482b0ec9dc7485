"""Reading BTF into a ``Btf``: the header, the string table and the type records, validated.

The header and the type section's framing are read as words (words.py), the rules checked over
those words (validate.py), and the records built from them. Parsing vmlinux (~130k records) is
on every build's path, hence the records built in bulk from one list of words, one dict lookup
for a name in the common case, and records made without ``__init__``.
"""

from __future__ import annotations

from itertools import repeat
from operator import attrgetter
from typing import Callable, List, Optional, Tuple, cast

from ...collector import paused_gc
from ...errors import PathLike
from .container import Btf
from .kinds import (ARRAY, DATASEC, DECL_TAG, ENUM, ENUM64, FUNC, FUNC_PROTO, INFO_RESERVED, INT,
    INT_RESERVED, STRUCT, UNION, VAR, CONST, FLOAT, FWD, PTR, RESTRICT, TYPE_TAG, TYPEDEF, VOLATILE)
from .records import BtfType, EnumValue, Member, Param, VarSecinfo
from .strings import StringTable
from .validate import validate
from .words import NameTable, TypeWords, frame, magic_byteorder, read_sections, section_words

__all__ = ["magic_byteorder", "parse_btf", "record_of", "RecordTypes"]


def parse_btf(data: bytes, path: PathLike, base: Optional[Btf], *, check_rules: bool = True) -> Btf:
    """The ``Btf`` in ``data`` (split on ``base`` if given), validated; BtfError if it is not
    well-formed BTF. ``check_rules=False`` leaves out the kernel's rules (framing stays), for
    bytes this program wrote from BTF it had checked as it read it (the link's dedup output)."""
    with paused_gc():
        return _parse_unpaused(data, path, base, check_rules)


class RecordTypes:
    """The lookups validate.py asks of a base's type ids (words.TypeLookups), over records."""

    def __init__(self, btf: Btf):
        self.btf = btf

    def kind(self, type_id: int) -> int:
        t = self.btf.get(type_id)
        return t.kind if t is not None else 0

    def ref(self, type_id: int) -> int:
        t = self.btf.get(type_id)
        return t.type if t is not None else 0

    def linkage(self, type_id: int) -> int:
        t = self.btf.get(type_id)
        return t.linkage if t is not None else 0

    def count(self, type_id: int) -> int:
        t = self.btf.get(type_id)
        return t.vlen if t is not None and t.kind != FUNC else 0

    def name(self, name_off: int) -> str:
        return self.btf.strings.get(name_off) or ""

    def type_name(self, type_id: int) -> str:
        t = self.btf.get(type_id)
        return t.name if t is not None else ""


def _parse_unpaused(data: bytes, path: PathLike, base: Optional[Btf], check_rules: bool) -> Btf:
    sections = read_sections(data, path, base is not None)
    if base is not None:
        strings = StringTable(sections.strings, start=base.strings.start + base.strings.size, base=base.strings)
    else:
        strings = StringTable(sections.strings)
    btf = Btf([], strings, byteorder=sections.byteorder, base=base, flags=sections.flags,
              header_extra=sections.header_extra, trailer=sections.trailer)
    btf.path = path
    first_id = btf.start_id
    words = section_words(data, sections).tolist()  # a list: its items are read many times
    try:
        if sections.types_len % 4:
            raise _Irregular()
        types, offsets = _parse_words(words, cast(Callable[[int], str], strings.starts().get))
    except _Irregular:
        # Framing names the first problem; if there is none, what sent the fast path here was a
        # name offset into the middle of a string: legal, and read in full by the slow lookup.
        frame(words, sections.types_len, strings.start + strings.size, first_id, path)
        types, offsets = _parse_words(words, _any_name(strings))
    if check_rules:
        kinds = bytes(map(attrgetter("kind"), types))
        lookups = RecordTypes(base) if base is not None else None
        names = NameTable(sections.strings, strings.start, lookups, _any_name(strings))
        validate(TypeWords(words, offsets, kinds, names, lookups, first_id, path), path)
    btf.types = types
    return btf


def _any_name(strings: StringTable) -> Callable[[int], str]:
    starts = strings.starts().get
    get = strings.get

    def name(off: int) -> str:
        s = starts(off)
        if s is None:
            s = get(off)
        return cast(str, s)
    return name


def record_of(words: List[int], start: int, end: int, strings: StringTable) -> BtfType:
    """The record framed at ``words[start:end]`` (framing already checked, any name offset
    inside ``strings``), made as parse_btf makes it: for a reader of words that needs a
    record for a few of its types (the link's VARs, FUNCs, DATASECs and what it compares)."""
    return _parse_words(words[start:end], _any_name(strings))[0][0]


class _Irregular(Exception):
    """Raised by the fast path on anything it does not handle: framing (words.frame) names it."""


def _parse_words(words: List[int], names: Callable[[int], str]) -> Tuple[List[BtfType], List[int]]:
    """The records of the type section and the word offset of each. ``names``: the string at an
    offset, or None, which sends the section to framing (an offset into the middle of a string,
    or outside the table)."""
    nwords = len(words)
    new_type = object.__new__
    types: List[BtfType] = []
    append = types.append
    record_at: List[int] = []
    add_offset = record_at.append
    i = 0
    while i < nwords:
        if i + 3 > nwords:
            raise _Irregular()
        add_offset(i)
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
            if kind == FUNC:  # kind_flag on a FUNC: read as one for validate to name the problem
                t.type = size_type
                t.linkage = vlen
                append(t)
                continue
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
                raise _Irregular()  # a vlen on a kind without entries: framing names it
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
            raise _Irregular()  # unknown kinds: framing names them
        append(t)
    return types, record_at
