"""What every part of the C writer reads: the types by id (void and the base's types included),
read from their BTF words, with the file they came from, the roles BTF kinds play in C, and the
errors that name a type.

The writer never builds records: a kernel's ~130k types are read where they lie, in the type
section's 32-bit words (model/btf/words.py), by id through a few columns (kind, the referenced
type or size) and the record's words for the rest. A ``Btf`` of records reaches the same table
through its encoding, so one writer serves both."""

from __future__ import annotations

import array
from itertools import compress, islice
from operator import itemgetter
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

from ...errors import BtfError, PathLike
from ...model.btf import (ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_PROTO, FWD, INT,
    KIND_NAMES, PTR, REF_KINDS, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VAR, VOLATILE, Btf, TypeWords,
    read_words)

MODIFIERS = frozenset({VOLATILE, CONST, RESTRICT, TYPE_TAG})
# Kinds that describe functions, variables and sections rather than types.
NOT_TYPES = frozenset({FUNC, VAR, DATASEC, DECL_TAG})
QUALIFIERS: Dict[int, str] = {VOLATILE: "volatile", CONST: "const", RESTRICT: "restrict"}
COMPOSITES = frozenset({STRUCT, UNION})
ENUMS = frozenset({ENUM, ENUM64})
# Kinds that end a declaration chain: they are written by name (or inline, if anonymous).
TERMINAL_KINDS = frozenset({INT, FLOAT, ENUM, ENUM64, FWD, STRUCT, UNION, TYPEDEF})
# The kinds a declaration chain passes through on its way to a terminal kind.
CHAIN_KINDS = frozenset({PTR, VOLATILE, CONST, RESTRICT, FUNC_PROTO, TYPE_TAG})

# Per-type progress of the ordering and emitting walks.
NOT_DONE, IN_PROGRESS, DONE = 0, 1, 2

BtfSource = Union[Btf, TypeWords]

# How many ids' words TypeTable._refs gathers at a time: ~40 KiB of temporary tuples and ints. (4096
# at a time, ~300 KiB, was as quick but raised bpf-build vmlinux's peak RSS by ~2.6 MiB in some runs.)
_GATHERED = 512
# The kinds of types with a C definition (void aside).
_C_TYPE_KINDS = bytes(int(k != 0 and k not in NOT_TYPES) for k in range(256))
# The kinds whose names C spells (``TypeTable.type_names``), as a bytes.translate table.
_NAMED_TYPE_KINDS = bytes(int(k in TERMINAL_KINDS or k == TYPE_TAG) for k in range(256))


def _words_of(btf: Btf) -> TypeWords:
    """A record ``Btf`` (and its bases) as words, by its encoding: not validated, so the writer
    meets what the records say, good or bad, and names it as before."""
    base = _words_of(btf.base) if btf.base is not None else None
    return read_words(btf.encode(), btf.path, base)


class TypeTable:
    """The types of one BTF and its bases by id, id 0 being void (kind 0, no name, no references).

    Columns by id: ``kinds`` (bytes), ``refs`` (array), the type a record refers to (an ARRAY's
    element type) or, for the kinds with a size, that size, and ``type_names``, the names of the
    kinds C spells by name (INT, FLOAT, STRUCT, UNION, ENUM, ENUM64, FWD, TYPEDEF, TYPE_TAG; ""
    for the others: ``name`` reads any). The rest is read from the record's words at
    ``offsets[id]`` in ``words``, which hold the base's types first."""

    def __init__(self, source: BtfSource, path: PathLike = None):
        types = _words_of(source) if isinstance(source, Btf) else source
        self.path = path if path is not None else types.path
        chain: List[TypeWords] = []
        part: Optional[TypeWords] = types
        while part is not None:
            chain.append(part)
            part = part.base if isinstance(part.base, TypeWords) else None
        chain.reverse()
        if len(chain) == 1:
            self.words: Sequence[int] = types.words
            offsets = array.array("I", [0])
            offsets += array.array("I", types.offsets)
        else:
            # Split BTF: one word array, the base's first, so that one offset finds any type.
            words = array.array("I")
            offsets = array.array("I", [0])
            for part in chain:
                shift = len(words)
                words += array.array("I", part.words)
                offsets.extend([o + shift for o in part.offsets])
            self.words = words
        self.offsets = offsets
        self.kinds = b"\0" + b"".join(part.kinds for part in chain)
        self.start_id = len(self.kinds) - len(types.kinds)  # the top BTF's first own type
        # Names by string offset: a split table asks its base for offsets below its own.
        self.string: Callable[[int], str] = types.names.namer()
        self.refs = self._refs()
        self.type_names = self._type_names()

    def _refs(self) -> array.array[int]:
        words, offsets = self.words, self.offsets
        refs = array.array("I", [0])
        if isinstance(words, array.array):
            # Word 2 of each record gathered a few hundred at a time by itemgetter, from a view of
            # the words past their first two (no copy): half the time of a call an id.
            with memoryview(words) as whole, whole[2:] as from_word_2:
                for start in range(1, len(offsets), _GATHERED):
                    chunk = offsets[start:start + _GATHERED]
                    if len(chunk) == 1:  # (itemgetter of one index gives no tuple)
                        refs.append(from_word_2[chunk[0]])
                    else:
                        refs.extend(itemgetter(*chunk)(from_word_2))
        else:
            refs.extend(map(words.__getitem__, map((2).__add__, islice(offsets, 1, None))))  # no list
        pos = self.kinds.find(ARRAY)
        while pos > 0:
            refs[pos] = words[offsets[pos] + 3]
            pos = self.kinds.find(ARRAY, pos + 1)
        return refs

    def _type_names(self) -> List[str]:
        words, offsets, string = self.words, self.offsets, self.string
        names = [""] * len(self.kinds)
        for tid in compress(range(len(self.kinds)), self.kinds.translate(_NAMED_TYPE_KINDS)):
            names[tid] = string(words[offsets[tid]])
        return names

    def c_type_ids(self) -> Iterator[int]:
        """The ids of every type with a C definition (functions, variables, sections and tags
        have none), in order."""
        return compress(range(len(self.kinds)), self.kinds.translate(_C_TYPE_KINDS))

    def __len__(self) -> int:
        """How many ids there are, void included (ids are below it)."""
        return len(self.kinds)

    # -- one type's fields ---------------------------------------------------------------------
    def name(self, tid: int) -> str:
        return self.string(self.words[self.offsets[tid]]) if tid else ""

    def kind_name(self, tid: int) -> str:
        kind = self.kinds[tid]
        return KIND_NAMES.get(kind, f"KIND{kind}")

    def kflag(self, tid: int) -> bool:
        return tid != 0 and self.words[self.offsets[tid] + 1] >> 31 == 1

    def vlen(self, tid: int) -> int:
        return self.words[self.offsets[tid] + 1] & 0xFFFF if tid else 0

    def extra(self, tid: int, index: int = 0) -> int:
        """Word ``index`` after the 3-word record: an INT's data, an ARRAY's element, index type
        (1) and count (2), a VAR's linkage, a DECL_TAG's component."""
        return self.words[self.offsets[tid] + 3 + index]

    def linkage(self, tid: int) -> int:
        kind = self.kinds[tid]
        return self.vlen(tid) if kind == FUNC else self.extra(tid) if kind == VAR else 0

    def component_idx(self, tid: int) -> int:
        v = self.extra(tid)
        return v - 0x100000000 if v & 0x80000000 else v

    def member_types(self, tid: int) -> Sequence[int]:
        """The types of a STRUCT's or UNION's members (and of a FUNC_PROTO's parameters)."""
        off = self.offsets[tid]
        words = self.words
        info = words[off + 1]
        if (info >> 24) & 0x1F == FUNC_PROTO:
            return words[off + 4:off + 3 + 2 * (info & 0xFFFF):2]
        return words[off + 4:off + 3 + 3 * (info & 0xFFFF):3]

    def members(self, tid: int) -> Tuple[List[str], Sequence[int], Sequence[int], Sequence[int]]:
        """A STRUCT's or UNION's members as columns: names, types, bit offsets, bitfield sizes."""
        words = self.words
        off = self.offsets[tid]
        info = words[off + 1]
        end = off + 3 + 3 * (info & 0xFFFF)
        names = list(map(self.string, words[off + 3:end:3]))
        at = words[off + 5:end:3]
        if info >> 31:
            return names, words[off + 4:end:3], [o & 0xFFFFFF for o in at], [o >> 24 for o in at]
        return names, words[off + 4:end:3], at, bytes(len(at))

    def member_layout(self, tid: int) -> Tuple[Sequence[int], Sequence[int], Sequence[int]]:
        """A struct's member types, bit offsets and bitfield sizes (no names: what layout needs)."""
        words = self.words
        off = self.offsets[tid]
        info = words[off + 1]
        end = off + 3 + 3 * (info & 0xFFFF)
        at = words[off + 5:end:3]
        if info >> 31:
            return words[off + 4:end:3], [o & 0xFFFFFF for o in at], [o >> 24 for o in at]
        return words[off + 4:end:3], at, bytes(len(at))

    def enums(self, tid: int) -> Tuple[List[str], Sequence[int]]:
        """An ENUM's or ENUM64's enumerators as columns: names and values, signed if the enum is
        (kind_flag)."""
        words = self.words
        off = self.offsets[tid]
        info = words[off + 1]
        signed = info >> 31
        n = info & 0xFFFF
        if (info >> 24) & 0x1F == ENUM:
            end = off + 3 + 2 * n
            values: Sequence[int] = words[off + 4:end:2]
            if signed:
                values = [v - 0x100000000 if v & 0x80000000 else v for v in values]
            return list(map(self.string, words[off + 3:end:2])), values
        end = off + 3 + 3 * n
        wide = [(hi << 32) | lo for lo, hi in zip(words[off + 4:end:3], words[off + 5:end:3])]
        if signed:
            wide = [v - (1 << 64) if v >> 63 else v for v in wide]
        return list(map(self.string, words[off + 3:end:3])), wide

    def params(self, tid: int) -> List[Tuple[str, int]]:
        """A FUNC_PROTO's parameters: (name, type)."""
        words = self.words
        off = self.offsets[tid]
        end = off + 3 + 2 * (words[off + 1] & 0xFFFF)
        return list(zip(map(self.string, words[off + 3:end:2]), words[off + 4:end:2]))

    def secinfo(self, tid: int) -> List[Tuple[int, int, int]]:
        """A DATASEC's entries: (type, offset, size)."""
        words = self.words
        off = self.offsets[tid]
        end = off + 3 + 3 * (words[off + 1] & 0xFFFF)
        return list(zip(words[off + 3:end:3], words[off + 4:end:3], words[off + 5:end:3]))

    def referenced_ids(self, tid: int) -> List[int]:
        """Every type id the type points at."""
        kind = self.kinds[tid]
        if kind in REF_KINDS:
            return [self.refs[tid]]
        if kind == ARRAY:
            return [self.refs[tid], self.extra(tid, 1)]
        if kind in COMPOSITES:
            return list(self.member_types(tid))
        if kind == FUNC_PROTO:
            return [self.refs[tid], *self.member_types(tid)]
        if kind == DATASEC:
            return [entry[0] for entry in self.secinfo(tid)]
        return []

    # -- errors --------------------------------------------------------------------------------
    def error(self, type_id: int, reason: str) -> BtfError:
        what = f"type [{type_id}]"
        if 0 < type_id < len(self.kinds):
            what += f" {self.kind_name(type_id)} '{self.name(type_id)}'"
        return BtfError(self.path, f"{what}: {reason}")

    def check_id(self, ref: int, owner: Optional[int]) -> None:
        """A BtfError unless type id ``ref`` (referenced by type ``owner``) exists."""
        if not 0 <= ref < len(self.kinds):
            where = f"type [{owner}] refers to" if owner is not None else "no"
            raise BtfError(self.path, f"{where} type id {ref}; only {len(self.kinds) - 1} types exist")

    def dangling_reference(self) -> BtfError:
        """The error for a reference to a type id that does not exist. Looked for only once an
        index fails: checking every reference up front would cost every render."""
        limit = len(self.kinds)
        for tid in range(1, limit):
            for ref in self.referenced_ids(tid):
                if not 0 <= ref < limit:
                    return BtfError(self.path, f"type [{tid}] refers to type id {ref}; "
                                               f"only {limit - 1} types exist")
        return BtfError(self.path, "a type id is out of range")

    def cycle_text(self, start: int) -> str:
        """A readable path of the cycle through ``start`` (for the error message only)."""
        limit = len(self.kinds)
        path: List[int] = []
        seen: Dict[int, int] = {}
        tid = start
        while tid and tid not in seen and tid < limit:
            seen[tid] = len(path)
            path.append(tid)
            nxt = self._first_strong_ref(tid, start)
            if nxt is None:
                break
            tid = nxt
        if tid in seen:
            path = path[seen[tid]:] + [tid]
        return " -> ".join(f"[{i}] {self.kind_name(i)} '{self.name(i)}'"
                           if 0 < i < limit else f"[{i}]" for i in path)

    def _first_strong_ref(self, tid: int, target: int) -> Optional[int]:
        """The referenced id leading back to ``target`` without passing a named pointee."""
        refs = [r for r in self.referenced_ids(tid) if 0 < r < len(self.kinds)]
        for r in refs:
            if self._reaches(r, target, set()):
                return r
        return refs[0] if refs else None

    def _reaches(self, tid: int, target: int, seen: Set[int]) -> bool:
        stack = [tid]
        while stack:
            cur = stack.pop()
            if cur == target:
                return True
            if cur in seen or not 0 < cur < len(self.kinds):
                continue
            seen.add(cur)
            stack.extend(self.referenced_ids(cur))
        return False
