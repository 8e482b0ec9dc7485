"""What the dedup reads and writes: one BTF's type section as a list of 32-bit words (no record
made), with each type's word offset and kind, its string table and its base (split BTF); and
the deduplicated BTF written back out as bytes in the same layout as its input.

A blob is read as the parser reads it (header, framing and the kernel's rules, so bad input
fails with the parser's errors); a ``Btf`` of records is encoded first (its records are not
checked against the kernel's rules, as they never were for dedup).
"""

from __future__ import annotations

import array
import sys
from operator import attrgetter
from typing import List, Optional, Sequence, cast

from ...errors import PathLike
from ...model.btf import HEADER_SIZE, Btf, StringTable, TypeWords, validate
from ...model.btf.encode import type_words
from ...model.btf.kinds import BTF_MAGIC, BTF_VERSION, HEADER
from ...model.btf.words import NameTable, read_framed


class BtfWords:
    """One BTF's own types as words (``offsets[i]``: where type ``start_id + i`` begins in
    ``words``, ``kinds[i]`` its kind), its string table, its base, and the header fields the
    output keeps (byte order, flags, extra header words and what they describe)."""

    __slots__ = ("words", "offsets", "kinds", "strings", "base", "start_id", "lookups", "bo", "flags",
                 "header_extra", "trailer", "path")

    def __init__(self, words: List[int], offsets: Sequence[int], kinds: bytes, strings: StringTable,
                 base: Optional[BtfWords], lookups: TypeWords, bo: str, flags: int, header_extra: bytes,
                 trailer: bytes, path: PathLike) -> None:
        self.words = words
        self.offsets = offsets
        self.kinds = kinds
        self.strings = strings
        self.base = base
        self.start_id: int = base.start_id + len(base.kinds) if base is not None else 1
        self.lookups = lookups  # the validator's view of these types (a split BTF's base lookups)
        self.bo = bo
        self.flags = flags
        self.header_extra = header_extra
        self.trailer = trailer
        self.path = path


def read_btf_words(data: bytes, path: PathLike = None, base: Optional[BtfWords] = None) -> BtfWords:
    """The BTF in ``data`` (split on ``base``), checked as ``Btf.parse`` checks it (framing and
    the kernel's rules); BtfError naming the first problem."""
    # validate, which follows at once, checks the names (read_words' names_pending)
    sections, lookups = read_framed(data, path, base.lookups if base is not None else None,
                                    names_pending=True, as_list=True)  # the passes read a list quicker
    validate(lookups, path)
    strings = StringTable(sections.strings, start=lookups.names.end - len(sections.strings),
                          base=base.strings if base is not None else None)
    return BtfWords(cast(List[int], lookups.words), lookups.offsets, lookups.kinds, strings, base, lookups,
                    sections.bo, sections.flags, sections.header_extra, sections.trailer, path)


def btf_words_of(btf: Btf) -> BtfWords:
    """A ``Btf`` of records (and its bases) as words: encoded (which appends to its string
    table the names of records that have no offset yet), each type's offset counted from the
    records' encoding rather than found again by framing the words."""
    base = btf_words_of(btf.base) if btf.base is not None else None
    offsets: List[int] = []
    words = type_words(btf, offsets)  # what encoding writes, as a list: no bytes made and read back
    own_strings = btf.strings.data()
    kinds = bytes(map(attrgetter("kind"), btf.types))
    str_start = base.strings.start + base.strings.size if base is not None else 0
    lookups = TypeWords(words, offsets, kinds, NameTable(own_strings, str_start, None),
                        base.lookups if base is not None else None, btf.start_id, btf.path)
    strings = StringTable(own_strings, start=str_start, base=base.strings if base is not None else None)
    return BtfWords(words, offsets, kinds, strings, base, lookups, "<" if btf.byteorder == "little" else ">",
                    btf.flags, btf.header_extra, btf.trailer, btf.path)


def encode_words(source: BtfWords, type_words: List[int], strings: bytes) -> bytes:
    """A BTF blob with ``source``'s header fields, these type words and this string table."""
    out = array.array("I", type_words)
    if (source.bo == "<") != (sys.byteorder == "little"):
        out.byteswap()
    types_len = len(out) * 4
    hdr_len = HEADER_SIZE + len(source.header_extra)
    header = HEADER[source.bo].pack(BTF_MAGIC, BTF_VERSION, source.flags, hdr_len, 0, types_len, types_len,
                                    len(strings))
    # One copy of each part into the blob (no bytes of the array, no blob per concatenation).
    return b"".join((header, source.header_extra, out, strings, source.trailer))
