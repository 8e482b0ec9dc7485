"""BTF read as 32-bit words, no record made: the header and string table checked, one pass over
the type section that finds each type's offset and kind and checks its framing, and lookups by
type id (kind, referenced type, linkage, entry count, name) straight from the words.

The raw dump (text.py) reads types from here alone; the parser (parse.py) builds its records
from the same words; the validator (validate.py) checks the rules over these lookups for both,
so each check and each error text exists once.
"""

from __future__ import annotations

import array
import re
import struct
import sys
from typing import Callable, Dict, NamedTuple, NoReturn, Optional, Protocol, Sequence, Set, Tuple, Union, cast

from ...errors import BtfError, PathLike
from .kinds import (ARRAY, BTF_MAGIC, BTF_VERSION, DATASEC, DECL_TAG, ENUM, ENUM64, FUNC, FUNC_PROTO, HEADER,
    HEADER_SIZE, INFO_RESERVED, INT, INT_RESERVED, KIND_NAMES, MAX_KIND, NO_REF_KINDS, STRUCT, UNION, VAR)


def magic_byteorder(data: bytes, path: PathLike, what: str) -> Tuple[str, str]:
    """(struct prefix, byte order) from the 0xeB9F magic that .BTF and .BTF.ext share."""
    magic_le = struct.unpack_from("<H", data, 0)[0]
    if magic_le == BTF_MAGIC:
        return "<", "little"
    if magic_le == 0x9FEB:
        return ">", "big"
    raise BtfError(path, f"bad {what} magic 0x{magic_le:04x} (expected 0xeb9f)")


class Sections(NamedTuple):
    """Where a BTF blob's parts are, its header checked."""

    bo: str  # struct prefix, "<" or ">"
    byteorder: str
    flags: int
    types_at: int  # absolute byte offset of the type section
    types_len: int
    strings: bytes  # this blob's own string table
    header_extra: bytes  # header words past the 24-byte header, carried through unchanged
    trailer: bytes  # the bytes after both sections that those words describe


def read_sections(data: bytes, path: PathLike, split: bool) -> Sections:
    """The header's sections, checked as the kernel's btf_parse_hdr does (``split``: on a base,
    whose string table may not start with an empty string)."""
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
    if not split:
        if str_len == 0 or strs[0] != 0:
            raise BtfError(path, "BTF string table must start with an empty string")
    if str_len and strs[-1] != 0:
        raise BtfError(path, "BTF string table is not NUL-terminated")
    header_extra = data[HEADER_SIZE:hdr_len]
    if type_off != 0 or (str_off != type_len and str_len):
        # Anything but the canonical layout (types, then strings) would not re-encode the same.
        if not header_extra:
            raise BtfError(path, f"unsupported BTF layout (types at {type_off}, strings at {str_off})")
    trailer = data[hdr_len + max(type_off + type_len, str_off + str_len):]
    return Sections(bo, byteorder, flags, hdr_len + type_off, type_len, strs, header_extra, trailer)


def section_words(data: bytes, sections: Sections) -> array.array[int]:
    """The type section's whole words in this machine's byte order (a trailing partial word is
    left out: the framing pass reports it as truncated data)."""
    words = array.array("I")
    assert words.itemsize == 4, "array('I') is 4 bytes on every platform CPython supports"
    start = sections.types_at
    words.frombytes(memoryview(data)[start:start + sections.types_len // 4 * 4])
    if (sections.bo == "<") != (sys.byteorder == "little"):
        words.byteswap()
    return words


class TypeLookups(Protocol):
    """What the validator and the dump ask of any type id (void and unknown ids: kind 0)."""

    def kind(self, type_id: int) -> int: ...
    def ref(self, type_id: int) -> int: ...
    def linkage(self, type_id: int) -> int: ...
    def count(self, type_id: int) -> int: ...
    def name(self, name_off: int) -> str: ...
    def type_name(self, type_id: int) -> str: ...


# Words after the 3-word record: per entry (vlen counts them), and fixed, by kind.
_PER_ENTRY = {STRUCT: 3, UNION: 3, ENUM: 2, ENUM64: 3, FUNC_PROTO: 2, DATASEC: 3}
_FIXED = {INT: 1, ARRAY: 3, VAR: 1, DECL_TAG: 1}
# The same by kind number (0..31), for frame's one test a record.
_STEPS = tuple(_PER_ENTRY.get(k, 0) for k in range(32))
_EXTRA = tuple(_FIXED.get(k, 0) for k in range(32))
# The entries that have names, and what an error calls them.
_ENTRY_NAMES = {STRUCT: "member", UNION: "member", ENUM: "enumerator", ENUM64: "enumerator",
                FUNC_PROTO: "parameter"}
# Kinds with entries (vlen counts them) or whose vlen holds a value (FUNC).
_VLEN_KINDS = frozenset(_PER_ENTRY) | {FUNC}
_VLEN_OK = tuple(k in _VLEN_KINDS for k in range(32))
# Kinds whose vlen counts entries.
_COUNTED = frozenset({STRUCT, UNION, FUNC_PROTO, ENUM, ENUM64, DATASEC})


class NameTable:
    """One BTF's own string table, for names by offset (offsets below ``start``: the base's).

    An ASCII table (the usual) is kept decoded: its names are slices of one str. Any other is
    kept as bytes, each name decoded when asked for. ``plain_starts()[name_off]`` is 1 where the
    string at name_off is certainly a non-empty identifier of letters, digits and ``_`` (not
    starting with a digit): the validator passes those without reading them; 0: read it to know
    (base names, non-ASCII tables). Made when asked, not kept: it is the table's size in bytes,
    which nothing needs once the BTF is checked (vmlinux: 2.3 MiB)."""

    __slots__ = ("start", "end", "_ascii", "_text", "_raw", "_base", "_lookup")

    def __init__(self, strings: bytes, start: int, base: Optional[TypeLookups],
                 lookup: Optional[Callable[[int], str]] = None):
        self.start = start
        self.end = start + len(strings)
        self._base = base
        self._lookup = lookup  # the caller's, where it has every name decoded (the parser)
        self._text: Optional[str] = None
        self._raw: Optional[bytes] = None
        self._ascii = strings.isascii()
        if self._ascii and lookup is None:
            self._text = strings.decode("ascii")
        else:
            self._raw = strings

    def plain_starts(self) -> Union[bytes, bytearray]:
        """Where plain identifiers start (see the class), by name offset."""
        if not self._ascii:
            return bytes(self.end)
        table = self._raw if self._raw is not None else cast(str, self._text).encode("ascii")
        return _plain_starts(table, self.start)

    def name(self, name_off: int) -> str:
        """The string at ``name_off`` (framing checked it is inside the table)."""
        if self._lookup is not None:
            return self._lookup(name_off)
        rel = name_off - self.start
        if rel < 0:
            return self._base.name(name_off) if self._base is not None else ""
        text = self._text
        if text is not None:
            return text[rel:text.index("\0", rel)]
        raw = cast(bytes, self._raw)
        return raw[rel:raw.index(0, rel)].decode("utf-8", "surrogateescape")

    def namer(self) -> Callable[[int], str]:
        """``name`` as a plain function, the quickest there is for this table (the dump calls it
        for every type and entry)."""
        text = self._text
        if text is None or self.start or self._lookup is not None:
            return self.name
        index = text.index

        def name(name_off: int) -> str:
            return text[name_off:index("\0", name_off)]
        return name


class TypeWords:
    """One BTF's own types as words (``offsets[i]``: where type ``start_id + i`` begins,
    ``kinds[i]``: its kind), with its string table and its base's lookups (split BTF).
    ``names_pending``: read with the name offsets not yet checked against the string table
    (read_words), which validate does as it reads the names."""

    __slots__ = ("path", "words", "offsets", "kinds", "start_id", "limit", "base", "names", "names_pending")

    def __init__(self, words: Sequence[int], offsets: Sequence[int], kinds: bytes, names: NameTable,
                 base: Optional[TypeLookups], start_id: int, path: PathLike, names_pending: bool = False):
        self.names_pending = names_pending
        self.path = path
        self.words = words
        self.offsets = offsets
        self.kinds = kinds
        self.names = names
        self.base = base
        self.start_id = start_id
        self.limit = start_id + len(kinds)  # ids are below it

    def name(self, name_off: int) -> str:
        return self.names.name(name_off)

    def _own(self, type_id: int) -> int:
        """The index of own type ``type_id``, -1 for a base id (or void), -2 past the end."""
        if type_id >= self.limit:
            return -2
        return type_id - self.start_id if type_id >= self.start_id else -1

    def kind(self, type_id: int) -> int:
        i = self._own(type_id)
        if i >= 0:
            return self.kinds[i]
        return self.base.kind(type_id) if i == -1 and type_id > 0 and self.base is not None else 0

    def ref(self, type_id: int) -> int:
        """The type a type refers to through its record (ARRAY: its element type)."""
        i = self._own(type_id)
        if i >= 0:
            off = self.offsets[i]
            return self.words[off + 3] if self.kinds[i] == ARRAY else self.words[off + 2]
        return self.base.ref(type_id) if i == -1 and type_id > 0 and self.base is not None else 0

    def linkage(self, type_id: int) -> int:
        i = self._own(type_id)
        if i >= 0:
            k = self.kinds[i]
            off = self.offsets[i]
            return self.words[off + 1] & 0xFFFF if k == FUNC else self.words[off + 3] if k == VAR else 0
        return self.base.linkage(type_id) if i == -1 and type_id > 0 and self.base is not None else 0

    def count(self, type_id: int) -> int:
        """How many members, enumerators, parameters or DATASEC entries the type lists."""
        i = self._own(type_id)
        if i >= 0:
            return self.words[self.offsets[i] + 1] & 0xFFFF if self.kinds[i] in _COUNTED else 0
        return self.base.count(type_id) if i == -1 and type_id > 0 and self.base is not None else 0

    def type_name(self, type_id: int) -> str:
        """The name of type ``type_id`` (own or base)."""
        i = self._own(type_id)
        if i >= 0:
            return self.name(self.words[self.offsets[i]])
        return self.base.type_name(type_id) if i == -1 and type_id > 0 and self.base is not None else ""


# The bytes a plain identifier is made of.
_WORD_BYTES = bytes(range(ord("0"), ord("9") + 1)) + bytes(range(ord("A"), ord("Z") + 1)) \
    + bytes(range(ord("a"), ord("z") + 1)) + b"_"


def _plain_starts(table: bytes, start: int) -> bytearray:
    """``NameTable.plain_starts()`` for an ASCII string table at offset ``start``: 1 where a string
    starts (after a NUL) unless it is one of the few odd ones. C-speed: bytes operations."""
    plain = bytearray(start + 1)
    plain[start] = 1  # the table's first string starts at its start
    plain += table.translate(_NUL_TABLE)  # and every other after a NUL: 1 at each NUL, moved by one
    del plain[-1]
    for off in _odd_strings(table):
        plain[start + off] = 0
    return plain


_NUL_TABLE = b"\x01" + bytes(255)
# After a NUL: an empty string, or one starting with a digit. One regex scan: two bytes.find
# scans for the pairs took 2.5x as long over vmlinux's table (its NULs defeat find's skips).
_EMPTY_OR_DIGIT_AFTER_NUL = re.compile(b"\\x00(?=[\\x000-9])")  # a lookahead: NUL NUL NUL is two


def _odd_strings(table: bytes) -> Set[int]:
    """The offsets of the strings in ``table`` that are not plain identifiers: empty, starting
    with a digit, or holding anything but letters, digits and ``_``. A few in any real table
    (vmlinux: 13 of ~120k), found by C-speed searches: each unusual byte at most once a string."""
    odd: Set[int] = set()
    for byte in set(table.translate(None, _WORD_BYTES + b"\0")):
        needle = bytes((byte,))
        pos = table.find(needle)
        while pos >= 0:
            odd.add(table.rfind(b"\0", 0, pos) + 1)
            pos = table.find(needle, table.index(0, pos))
    for match in _EMPTY_OR_DIGIT_AFTER_NUL.finditer(table):
        odd.add(match.start() + 1)
    if table[:1] == b"\0" or table[:1].isdigit():
        odd.add(0)
    return odd


def read_words(data: bytes, path: PathLike, base: Optional[TypeWords] = None, *,
               names_pending: bool = False) -> TypeWords:
    """The BTF in ``data`` (split on ``base``) as words, its header and framing checked (not its
    rules: validate.py's ``validate``); BtfError naming the first problem.

    ``names_pending``: for a caller that validates before anything else: framing leaves out
    whether the name offsets are inside the string table, which validate finds out as it reads
    every name anyway (vmlinux: ~16 ms less), naming a problem as framing would have."""
    return read_framed(data, path, base, names_pending=names_pending)[1]


def read_framed(data: bytes, path: PathLike, base: Optional[TypeWords] = None, *, names_pending: bool = False,
                as_list: bool = False) -> Tuple[Sections, TypeWords]:
    """``read_words`` with the header's sections it read, for a reader that also needs the
    header's fields. ``as_list``: the words as a list, not an array (a list is quicker to read
    item by item, at ~4x the memory)."""
    sections = read_sections(data, path, base is not None)
    names = NameTable(sections.strings, base.names.end if base is not None else 0, base)
    words: Sequence[int] = section_words(data, sections)
    if as_list:
        words = cast("array.array[int]", words).tolist()
    start_id = base.limit if base is not None else 1
    offsets, kinds = frame(words, sections.types_len, names.end, start_id, path, check_names=not names_pending)
    return sections, TypeWords(words, offsets, kinds, names, base, start_id, path, names_pending)


def frame(words: Sequence[int], nbytes: int, str_end: int, first_id: int,
          path: PathLike, *, check_names: bool = True) -> Tuple[array.array[int], bytes]:
    """Each type's word offset and kind, checking that every record and its entries are there,
    its kind is known, reserved bits are clear, vlen only where the kind has one and every name
    offset is inside the string table (below ``str_end``).

    Stepped through once, each distinct info word judged once (_RecordWords) and only the
    records with entry names, ARRAYs and INTs looked into, the type names checked after as one
    column; if anything is wrong, stepped through again record by record, to name the first
    problem as _frame_problem does. ``check_names``: False leaves out the name offsets (they are
    read_words' ``names_pending``) unless something else is wrong."""
    if nbytes % 4 == 0:
        found = _frame_regular(words, str_end, check_names)
        if found is not None:
            return found
    return _frame_one_by_one(words, nbytes, str_end, first_id, path)


class _RecordWords(Dict[int, int]):
    """By a record's info word: how many words the record takes, negated where framing must
    look into it (entries with names, an ARRAY's size/type word, an INT's data word), or
    ``refused`` where the info word alone is wrong (reserved bits, an unknown kind, a vlen the
    kind has not). Info words repeat (vmlinux: ~126k records, 294 distinct words), so each
    is judged once. ``entry_names``: whether framing looks at entry names."""

    def __init__(self, refused: int, entry_names: bool):
        super().__init__()
        self.refused = refused
        self.entry_names = entry_names

    def __missing__(self, info: int) -> int:
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        if info & INFO_RESERVED or not 0 < kind <= MAX_KIND or (vlen and not _VLEN_OK[kind]):
            size = self.refused
        else:
            size = 3 + _EXTRA[kind] + _STEPS[kind] * vlen
            if (vlen and kind in _ENTRY_NAMES and self.entry_names) or kind == ARRAY or kind == INT:
                size = -size
        self[info] = size
        return size


def _frame_regular(words: Sequence[int], str_end: int,
                   check_names: bool = True) -> Optional[Tuple[array.array[int], bytes]]:
    """``frame``'s answer for a section without problems, None if it has one."""
    nwords = len(words)
    offsets = array.array("I")
    infos = array.array("I")
    add_offset = offsets.append
    add_info = infos.append
    sizes = _RecordWords(nwords + 1, check_names)  # a refused record ends the walk past the end
    steps = _STEPS
    i = 0
    try:
        while i < nwords:
            add_offset(i)
            info = words[i + 1]
            add_info(info)
            size = sizes[info]
            if size > 0:
                i += size
                continue
            i -= size
            kind = (info >> 24) & 0x1F
            if kind == ARRAY:
                if words[i + size + 2]:
                    return None
            elif kind == INT:
                if words[i - 1] & INT_RESERVED:
                    return None
            else:
                step = steps[kind]
                if max(words[i + size + 3:i:step]) >= str_end:
                    return None
    except (IndexError, ValueError):  # a record cut short (max() of its missing entries)
        return None
    if i != nwords:
        return None
    if check_names and offsets and max(map(words.__getitem__, offsets)) >= str_end:
        return None
    raw = infos.tobytes()
    return offsets, (raw[3::4] if sys.byteorder == "little" else raw[0::4]).translate(_KIND_BY_TOP)


_KIND_BY_TOP = bytes(t & 0x1F for t in range(256))


def _frame_one_by_one(words: Sequence[int], nbytes: int, str_end: int, first_id: int,
                      path: PathLike) -> Tuple[array.array[int], bytes]:
    """``frame`` record by record: one test a record, what fails it _frame_problem names."""
    nwords = len(words)
    offsets = array.array("I")
    kinds = bytearray()
    add_offset = offsets.append
    add_kind = kinds.append
    steps, extra, vlen_ok = _STEPS, _EXTRA, _VLEN_OK
    i = 0
    end = (nbytes + 3) // 4  # a trailing partial word still starts a (truncated) record
    while i < end:
        if i + 3 > nwords:
            _frame_problem(words, i, str_end, first_id + len(kinds), path)
        info = words[i + 1]
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        step = steps[kind]
        j = i + 3 + step * vlen + extra[kind]
        if (info & INFO_RESERVED or not 0 < kind <= MAX_KIND or words[i] >= str_end or j > nwords
                or (vlen and not vlen_ok[kind]) or (kind == ARRAY and words[i + 2])
                or (kind == INT and words[i + 3] & INT_RESERVED)
                or (vlen and kind in _ENTRY_NAMES and max(words[i + 3:j:step]) >= str_end)):
            _frame_problem(words, i, str_end, first_id + len(kinds), path)
        add_offset(i)
        add_kind(kind)
        i = j
    return offsets, bytes(kinds)


def _frame_problem(words: Sequence[int], i: int, str_end: int, tid: int, path: PathLike) -> NoReturn:
    """Raise the first problem of the record at word ``i``, checked in the order the kernel's
    btf_check_meta does."""
    nwords = len(words)

    def fail(rule: str) -> NoReturn:
        raise BtfError(path, f"type [{tid}]: {rule}")

    if i + 3 > nwords:
        fail(f"truncated BTF type data at byte {i * 4}")
    name_off, info, size_type = words[i:i + 3]
    kind = (info >> 24) & 0x1F
    vlen = info & 0xFFFF
    if kind == 0 or kind > MAX_KIND:
        fail(f"unknown BTF kind {kind}")
    if info & INFO_RESERVED:
        raise BtfError(path, f"type [{tid}] {KIND_NAMES[kind]}: reserved info bits set (info 0x{info:08x})")
    if name_off >= str_end:
        fail(f"type name offset {name_off} is outside the string table")
    if kind == ARRAY and size_type:
        raise BtfError(path, f"type [{tid}] ARRAY: size/type field must be 0, found {size_type}")
    i += 3
    step = _STEPS[kind]
    size = step * vlen + _EXTRA[kind]
    if i + size > nwords:
        fail(f"truncated BTF type data at byte {i * 4}")
    if kind == INT and words[i] & INT_RESERVED:
        raise BtfError(path, f"type [{tid}] INT: reserved bits set in its data 0x{words[i]:08x}")
    if vlen and kind in _ENTRY_NAMES:
        for off in words[i:i + size:step]:
            if off >= str_end:
                fail(f"{_ENTRY_NAMES[kind]} name offset {off} is outside the string table")
    if vlen and kind not in _VLEN_KINDS:
        raise BtfError(path, f"type [{tid}] {KIND_NAMES[kind]}: vlen must be 0, found {vlen}")
    raise AssertionError(f"type [{tid}]: framing found no problem")  # frame's test is this one's


def _refs_at(kind: int) -> Tuple[int, int, int, int]:
    """Where a record of ``kind`` lists the type ids it refers to (see REFS_AT)."""
    if kind in (STRUCT, UNION):
        return 4, 3, 3, 3  # each member's type, the second of its three words
    if kind == DATASEC:
        return 3, 3, 3, 3  # each entry's type, the first of its three words
    if kind == FUNC_PROTO:
        return 2, 3, 2, 2  # the return type, then each parameter's, every second word from there
    if kind == ARRAY:
        return 3, 5, 0, 1  # element and index type
    if kind in NO_REF_KINDS or not 0 < kind <= MAX_KIND:
        return 0, 0, 0, 1  # none
    return 2, 3, 0, 1  # the kinds with one reference, in the record's third word


# The ids a record at word ``off`` refers to (a pointer's, a member's, an array's element and
# index, a prototype's return and parameters, a DATASEC's entries), by kind: with ``first, fixed,
# per, step = REFS_AT[kind]``, they are words[off + first:off + fixed + per * vlen:step] (vlen:
# the info word's low half; a FUNC's is its linkage, counted 0 times). One slice a record: the
# reference-loop search lists each record's references with it.
REFS_AT = tuple(_refs_at(k) for k in range(32))
