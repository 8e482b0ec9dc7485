"""What the dedup passes share: the types by id (base and split together, void at 0), the map
from each id to its canonical id, the candidate table, and the per-type description the graph
walks compare (``TypeGraph``, made once by graph.describe_types)."""

from __future__ import annotations

from typing import Callable, Dict, Hashable, List, Optional, Sequence, Tuple

from ...model.btf import (ARRAY, CONST, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_PROTO, FWD, INT, PTR,
    RESTRICT, SIZED_KINDS, STRUCT, TYPE_TAG, TYPEDEF, UNION, VOLATILE, Btf, BtfType)
from ...model.btf_ext import BtfExt

# Which libbpf's results to reproduce. Two generations of libbpf 1.1 are in use:
LIBBPF = "libbpf-1.1"
"""libbpf 1.1 as released (and every libbpf since, kernel >= 6.2): forward declarations that
name exactly one struct/union resolve to it, and a forward-declared enum matches a full ENUM or
ENUM64 of its name whatever the size."""
BPFTOOL_7_1 = "bpftool-7.1"
"""The libbpf inside kernel 6.1's tools (bpftool 7.1, Debian 12): no pass resolving unambiguous
forward declarations, and a forward-declared enum only matches an enum of the same kind, sign
and size."""
FLAVOURS = (LIBBPF, BPFTOOL_7_1)

# Map entries that are not (yet) a type id.
UNPROCESSED = -1
IN_PROGRESS = -2

COMPOSITE = (STRUCT, UNION)
ANY_ENUM = (ENUM, ENUM64)
# Kinds deduplicated as "reference" types: one referenced type id in ``type``.
SINGLE_REF = frozenset({CONST, VOLATILE, RESTRICT, PTR, TYPEDEF, FUNC, TYPE_TAG})
# In a graph walk: kinds compared on their own, and kinds whose referenced types are walked.
LEAVES = frozenset({INT, ENUM, ENUM64, FWD, FLOAT})
WALKED = SINGLE_REF | {ARRAY, STRUCT, UNION, FUNC_PROTO}

# A table key: a tuple of the compared fields, or an interned shape id.
Key = Hashable


# ----------------------------------------------------------------------------------------------
# Signatures: what libbpf hashes and compares. Names compare as text; after string dedup equal
# text means equal offsets, which is what libbpf compares.

def _size_or_type(t: BtfType) -> int:
    if t.kind in SIZED_KINDS:
        return t.size
    return 0 if t.kind == ARRAY else t.type


def common_sig(t: BtfType) -> Tuple[object, ...]:
    return (t.name, t.kind, t.kflag, t.vlen, _size_or_type(t))


def int_tag_sig(t: BtfType) -> Tuple[object, ...]:
    if t.kind == INT:
        return common_sig(t) + (t.int_encoding, t.int_offset, t.int_bits)
    return common_sig(t) + (t.component_idx,)


def array_sig(t: BtfType) -> Tuple[object, ...]:
    return common_sig(t) + (t.type, t.index_type, t.nelems)


def enum_members(t: BtfType) -> Tuple[Tuple[str, int], ...]:
    return tuple((e.name, e.value & 0xFFFFFFFFFFFFFFFF) for e in t.enums)


class CandidateTable:
    """libbpf's dedup hash table, reduced to what decides results: for each signature, the
    candidate ids in the order libbpf visits them. libbpf prepends new entries to a bucket and
    every growth of the table re-inserts a bucket's entries one by one, reversing them."""

    def __init__(self) -> None:
        self.lists: Dict[Key, List[int]] = {}
        self.multi: List[List[int]] = []  # lists of more than one entry: growth reverses them
        self.size = 0
        self.capacity = 0

    def get(self, key: Key) -> Sequence[int]:
        return self.lists.get(key, ())

    def add(self, key: Key, type_id: int) -> None:
        self.size += 1
        if self.size * 4 // 3 > self.capacity:
            self.grow()
        entries = self.lists.get(key)
        if entries is None:
            self.lists[key] = [type_id]
        else:
            if len(entries) == 1:
                self.multi.append(entries)
            entries.insert(0, type_id)

    def add_new(self, key: Key, type_id: int) -> None:
        """add() of a key that has no entries yet."""
        self.size += 1
        if self.size * 4 // 3 > self.capacity:
            self.grow()
        self.lists[key] = [type_id]

    def grow(self) -> None:
        self.capacity = max(4, self.capacity * 2)
        for entries in self.multi:
            entries.reverse()


class TypeGraph:
    """Per type id, what the struct phase compares, computed once: kind, name, an interned id
    of the fields that never change during dedup ("shape", which includes the name and the
    kind), and the referenced ids (last to first). Reference types are rewritten
    only in the later ref phase, so these stay valid for the whole graph-equivalence phase.

    Plain classes here, not dataclasses: bpf-link would load ``dataclasses`` for them alone."""

    __slots__ = ("kinds", "names", "shapes", "children", "enum_fwd", "composites", "own_composites",
                 "own_primitives", "unwalkable", "struct_key")

    def __init__(self, kinds: List[int], names: List[str], shapes: List[int], children: List[Tuple[int, ...]],
                 enum_fwd: List[bool], composites: List[int], own_composites: List[int],
                 own_primitives: List[int], unwalkable: List[int], struct_key: Callable[[int], Key]) -> None:
        self.kinds = kinds
        self.names = names
        self.shapes = shapes
        # The referenced ids, last to first: a walk pushes them on its stack as they are and so
        # visits them in libbpf's order (keys built from them only need a fixed order).
        self.children = children
        self.enum_fwd = enum_fwd  # an enum without enumerators: a forward declaration
        self.composites = composites  # STRUCT/UNION ids, base included
        self.own_composites = own_composites
        self.own_primitives = own_primitives  # INT, ENUM*, FWD, FLOAT ids of the split (or only) BTF
        self.unwalkable = unwalkable  # non-void ids of kinds a graph walk must not meet
        self.struct_key = struct_key  # the table key of a STRUCT/UNION (graph.struct_key_function)


class DedupState:
    __slots__ = ("btf", "ext", "flavour", "graph", "types", "start_id", "map", "table")

    def __init__(self, btf: Btf, ext: Optional[BtfExt], flavour: str, graph: TypeGraph, types: List[BtfType],
                 start_id: int, map: List[int]) -> None:
        self.btf = btf
        self.ext = ext
        self.flavour = flavour
        self.graph = graph
        self.types = types  # by id: void, the base's types, then this BTF's own
        self.start_id = start_id  # this BTF's first own id
        # id -> the id it deduplicates to (itself if canonical), UNPROCESSED or IN_PROGRESS.
        self.map = map
        self.table = CandidateTable()

    def enum_match(self, t: BtfType) -> Key:
        """What a forward-declared enum must share with a full one to match it."""
        if self.flavour == LIBBPF:
            return ("enum", t.name)
        return ("enum", t.name, t.kind, t.kflag, t.size)

    def key(self, tid: int) -> Key:
        """The dedup-table key of a type: its shape for kinds whose fields never change; for
        enums only what a forward declaration shares with the full enum (the name; for bpftool
        7.1 also kind, sign and size); for reference types everything, including the (by then
        canonical) ids they refer to: the shape and the referenced ids."""
        t = self.types[tid]
        k = t.kind
        shapes = self.graph.shapes
        if k in SINGLE_REF:
            return (shapes[tid], t.type)
        if k == FUNC_PROTO:
            return (shapes[tid], t.type) + tuple([p.type for p in t.params])
        if k == ARRAY:
            return (shapes[tid], t.type, t.index_type)
        if k in ANY_ENUM:
            return self.enum_match(t)
        if k in COMPOSITE:
            return self.graph.struct_key(tid)
        if k == DECL_TAG:
            return int_tag_sig(t)
        return shapes[tid]  # INT, FWD, FLOAT (VAR and DATASEC never enter the table)

    def resolve(self, tid: int) -> int:
        """The canonical id ``tid`` resolves to (itself while unprocessed)."""
        m = self.map
        while m[tid] >= 0 and m[tid] != tid:
            tid = m[tid]
        return tid

