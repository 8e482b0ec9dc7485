"""Pass 1: the string table rebuilt in the order libbpf first references each string (type
names, then member/enumerator/parameter names, then .BTF.ext's section names, file names,
source lines and CO-RE access strings), and every name offset rewritten to match.

Two ways, one result. Where the old table's strings are unique and every name starts a string
(a non-split BTF, as compilers and pahole write them), an old offset already identifies its
text: the passes compare the old offsets, the new table is the referenced strings in order of
first reference, found from the offsets alone, and compaction writes the new offsets
(``map_names_by_offset``). Otherwise each distinct old offset's text is looked up, duplicates and
(for split BTF) the base's strings found by text, and the own types' names rewritten in their
words before the passes (``rewrite_names_by_text``)."""

from __future__ import annotations

from itertools import accumulate, chain, repeat
from typing import Callable, Dict, List, Optional, cast

from ...errors import BtfError
from ...model.btf import ENUM, ENUM64, FUNC_PROTO, STRUCT, UNION, StringTable
from ...model.btf_ext import CoreRelo, LineInfo
from .state import DedupState

# The words an entry takes, for the kinds whose entries have names (the name is its first word).
NAMED_ENTRY_WORDS = {STRUCT: 3, UNION: 3, ENUM: 2, ENUM64: 3, FUNC_PROTO: 2}


class _NewTable:
    """The new string table as it grows: each text's new offset (for split BTF, a base string
    keeps its base offset), and the texts in order."""

    __slots__ = ("by_text", "order", "pos", "base")

    def __init__(self, start: int, base: Optional[StringTable]) -> None:
        self.base = base
        self.by_text: Dict[str, int] = {} if base is not None else {"": 0}
        self.order: List[str] = [] if base is not None else [""]
        self.pos = start + len(self.order)  # the offset of the next new string

    def offset_of(self, s: str) -> int:
        off = self.by_text.get(s)
        if off is None:
            if self.base is not None:
                if s == "":
                    return 0
                off = self.base.find(s)
            if off is None:
                off = self.pos
                self.order.append(s)
                self.pos += (len(s) if s.isascii() else len(s.encode("utf-8", "surrogateescape"))) + 1
            self.by_text[s] = off
        return off

    def data(self) -> bytes:
        return ("\0".join(self.order) + "\0").encode("utf-8", "surrogateescape") if self.order else b""


def _old_text(strings: StringTable) -> Callable[[int], str]:
    starts_get, get = strings.starts().get, strings.get

    def old_text(off: int) -> str:
        s = starts_get(off)
        if s is None:
            s = get(off)
            if s is None:
                raise BtfError(None, f".BTF.ext refers to string offset {off}, outside .BTF's strings")
        return s
    return old_text


def map_names_by_offset(state: DedupState) -> bool:
    """The string pass by old offset (see the module), once describe_types has listed the
    names; False where it does not apply (nothing done). Where the names' first references
    already list the table's strings in its order (a deduplicated kernel's BTF), the table and
    every name stay as they are.

    Only the referenced strings are looked at: each name's text is cut from the table where it
    starts to its NUL, and a name is a string's start when the byte before it is a NUL (offset
    0's "byte before" is the table's last, a NUL too)."""
    old = state.source.strings
    if old.base is not None:
        return False
    data = old.data()
    names = list(map(state.words.__getitem__, state.graph.name_at))  # read once: compaction maps them
    order = dict.fromkeys(chain((0,), names))  # "" first
    if not data.endswith(b"\0") or max(order) >= len(data):
        return False  # a name past the table: the text pass says which
    if bytes(map(data.__getitem__, map((-1).__add__, order))).count(0) != len(order):
        return False  # a name in the middle of a string: its text may be another's too
    chosen = list(map(data.__getitem__, map(slice, order, map(data.index, repeat(0), order))))
    if len(set(chosen)) != len(chosen):
        return False  # two offsets, one text: libbpf gives them one offset
    chosen.append(b"")  # the last string's NUL, without a copy of the joined table
    strings = b"\0".join(chosen)
    chosen.pop()
    # The same bytes: every string is referenced, and (unique) at its old offset.
    if strings != data:
        new_offset = dict(zip(order, accumulate(map((1).__add__, map(len, chosen)), initial=0)))
        state.new_names = list(map(new_offset.__getitem__, names))
    state.strings = strings
    if state.ext is not None:
        new_at = list(accumulate(map((1).__add__, map(len, chosen)), initial=0))
        table = _table_of(chosen, new_at[:-1], new_at[-1])
        _rewrite_ext(state, table, _old_text(old))
        state.strings = table.data()
    return True


def _table_of(pieces: List[bytes], offsets: List[int], end: int) -> _NewTable:
    """A new table holding these strings at these offsets already."""
    table = _NewTable(0, None)
    table.order = [p.decode("utf-8", "surrogateescape") for p in pieces]
    table.by_text = dict(zip(table.order, offsets))
    table.pos = end
    return table


def rewrite_names_by_text(state: DedupState) -> None:
    """The string pass by text (see the module): the own types' name offsets rewritten in
    ``state.words``."""
    old = state.source.strings
    table = _NewTable(old.start, old.base)
    old_text = _old_text(old)
    offset_of = table.offset_of
    # Old offset -> new: one text look-up per distinct old offset, every later use one dict
    # look-up.
    by_old: Dict[int, int] = {}
    get = by_old.get

    def new_off(old_off: int) -> int:
        off = by_old[old_off] = offset_of(old_text(old_off))
        return off

    words, offsets, kinds = state.words, state.offsets, state.kinds
    named = NAMED_ENTRY_WORDS
    for tid in range(state.start_id, len(offsets)):
        off = offsets[tid]
        x = get(words[off])
        words[off] = new_off(words[off]) if x is None else x
        step = named.get(kinds[tid])
        if step is not None:
            vlen = words[off + 1] & 0xFFFF
            if vlen:
                end = off + 3 + step * vlen
                olds = words[off + 3:end:step]
                news = list(map(get, olds))
                if None in news:
                    news = [new_off(o) if n is None else n for o, n in zip(olds, news)]
                words[off + 3:end:step] = cast(List[int], news)
    if state.ext is not None:
        _rewrite_ext(state, table, old_text)
    state.strings = table.data()


def _rewrite_ext(state: DedupState, table: _NewTable, old_text: Callable[[int], str]) -> None:
    """.BTF.ext's strings, after the types' (its section names are texts already)."""
    ext = state.ext
    assert ext is not None
    offset_of = table.offset_of
    for sec in ext.func_info.sections:
        sec.name_off = offset_of(sec.name)
    for sec in ext.line_info.sections:
        sec.name_off = offset_of(sec.name)
        for r in cast(List[LineInfo], sec.records):  # what the line_info table holds
            r.file_name_off = offset_of(old_text(r.file_name_off))
            r.line_off = offset_of(old_text(r.line_off))
    for sec in ext.core_relo.sections:
        sec.name_off = offset_of(sec.name)
        for c in cast(List[CoreRelo], sec.records):
            c.access_str_off = offset_of(old_text(c.access_str_off))
