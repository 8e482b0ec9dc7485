"""The link's BTF as words: each input's type section and the merged output under construction
are held as the 32-bit words of their records (what the dedup reads), not as records. A record
is made only for a type the phases single out (the VARs, FUNCs and DATASECs of an input, what
mismatch.py compares, a size to resolve): a few dozen of an input's thousands of types.

``WordsBtf`` is a ``Btf`` whose ``get`` makes that record from the words, so the lookups of
``Btf`` (``type``, ``skip_modifiers``, ``resolve_size``) and mismatch.py work on it unchanged.
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from ..btf.dedup.source import read_btf_words
from ..errors import PathLike
from ..model.btf import Btf, BtfType, StringTable
from ..model.btf.encode import type_words
from ..model.btf.parse import record_of


class WordsBtf(Btf):
    """A BTF (no base) of ``len(offsets)`` types whose records are ``words`` (type ``i + 1``
    starts at ``offsets[i]``, its kind is ``kinds[i]``). ``cached``: the words never change, so
    a record made once is kept; the output's words do change (a global's VAR/FUNC settled), so
    its records are made afresh on each ``get``."""

    def __init__(self, words: List[int], offsets: List[int], kinds: bytearray, strings: StringTable,
                 byteorder: str, path: PathLike, *, cached: bool):
        super().__init__(None, strings, byteorder=byteorder)
        self.path = path
        self.words = words
        self.offsets = offsets
        self.kinds = kinds
        self._made: Optional[Dict[int, BtfType]] = {} if cached else None

    def __len__(self) -> int:
        return 1 + len(self.offsets)

    def get(self, type_id: int) -> Optional[BtfType]:
        offsets = self.offsets
        if not 0 < type_id <= len(offsets):
            return None
        made = self._made
        if made is not None:
            t = made.get(type_id)
            if t is not None:
                return t
        end = offsets[type_id] if type_id < len(offsets) else len(self.words)
        t = record_of(self.words, offsets[type_id - 1], end, self.strings)
        if made is not None:
            made[type_id] = t
        return t

    def items(self) -> Iterator[Tuple[int, BtfType]]:
        for tid in range(1, len(self.offsets) + 1):
            yield tid, self.type(tid)

    def __iter__(self) -> Iterator[BtfType]:
        return (t for _, t in self.items())

    def word_at(self, type_id: int) -> int:
        """The index of type ``type_id``'s first word."""
        return self.offsets[type_id - 1]

    def append(self, record: Sequence[int], kind: int) -> int:
        """A record of ``kind`` (its words, ids and name offsets this BTF's) added; its id."""
        self.offsets.append(len(self.words))
        self.kinds.append(kind)
        self.words += record
        return len(self.offsets)


def empty_words_btf(byteorder: str) -> WordsBtf:
    """The output's BTF before any input: no types, the empty name at offset 0."""
    return WordsBtf([], [], bytearray(), StringTable(), byteorder, None, cached=False)


def read_input_btf(data: bytes, path: PathLike) -> WordsBtf:
    """An input's .BTF read as words and checked as ``Btf.parse`` checks it (framing and the
    kernel's rules, with the parser's errors); for Object.read's ``read_btf``."""
    source = read_btf_words(data, path)
    return WordsBtf(source.words, list(source.offsets), bytearray(source.kinds), source.strings,
                    "little" if source.bo == "<" else "big", path, cached=True)


def words_btf_of(btf: Btf) -> WordsBtf:
    """A caller's ``Btf`` of records as words, encoded from a copy (encoding appends the names
    of records without an offset to the string table, which must not change the caller's)."""
    if isinstance(btf, WordsBtf):
        return btf
    if btf.base is not None:
        raise AssertionError("an object's BTF is never split")
    own = btf.copy()
    offsets: List[int] = []
    words = type_words(own, offsets)
    kinds = bytearray(t.kind for t in own.types)
    return WordsBtf(words, offsets, kinds, own.strings, own.byteorder, btf.path, cached=True)
