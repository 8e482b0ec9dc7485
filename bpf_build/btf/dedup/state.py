"""What the dedup passes share: the types' words by id (base and split together, void at 0), the
map from each id to its canonical id, the candidate table, and the per-type description the
graph walks compare (``TypeGraph``, made once by graph.describe_types). Names are compared as
string offsets, as libbpf compares them: after the string pass, equal text is an equal offset."""

from __future__ import annotations

from typing import AbstractSet, Callable, Dict, Hashable, List, Optional, Sequence, Tuple

from ...model.btf import (ARRAY, CONST, DECL_TAG, ENUM, ENUM64, FUNC, FUNC_PROTO, PTR,
    RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VOLATILE)
from ...model.btf_ext import BtfExt
from ...model.btf.kinds import NO_REF_KINDS
from .source import BtfWords

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
LEAVES = NO_REF_KINDS
WALKED = SINGLE_REF | {ARRAY, STRUCT, UNION, FUNC_PROTO}

# A table key: a tuple of the compared fields, or an interned shape id.
Key = Hashable


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
    """Per type id, what the struct phase compares, computed once: kind, name, an id of the
    fields that never change during dedup ("shape", which includes the name and the kind; see
    graph.describe_types), and the referenced ids (last to first). Reference types are rewritten
    only in the later ref phase, so these stay valid for the whole graph-equivalence phase.

    Plain classes here, not dataclasses: bpf-link would load ``dataclasses`` for them alone."""

    __slots__ = ("kinds", "names", "shapes", "children", "enum_fwd", "composites", "own_composites",
                 "own_primitives", "unwalkable", "struct_key", "name_at", "enum_fwd_names")

    def __init__(self, kinds: Sequence[int], names: List[int], shapes: List[int], children: List[Tuple[int, ...]],
                 enum_fwd: List[bool], composites: List[int], own_composites: List[int],
                 own_primitives: List[int], unwalkable: List[int], struct_key: Callable[[int], Key],
                 name_at: Sequence[int], enum_fwd_names: AbstractSet[int]) -> None:
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
        # Where in the words every name offset of every type is (void and base included), in
        # the order the string pass meets them: a type's name, then its members', enumerators'
        # or parameters'.
        self.name_at = name_at
        self.enum_fwd_names = enum_fwd_names  # the names of enums without enumerators


class DedupState:
    """The passes' shared state. ``words`` holds every type's words, the base's types first, then
    this BTF's own, then void's (three zero words; ``offsets[tid]``: where type ``tid`` begins):
    the string pass rewrites the own types' name offsets in it, the ref pass their referenced
    ids, and compaction copies the kept types out of it. Without a base, ``words`` is the
    source's own list, rewritten in place."""

    __slots__ = ("source", "ext", "flavour", "words", "offsets", "kinds", "graph", "start_id", "map",
                 "table", "strings", "new_names", "types_end")

    def __init__(self, source: BtfWords, ext: Optional[BtfExt], flavour: str) -> None:
        self.source = source
        self.ext = ext
        self.flavour = flavour
        layers = [source]
        while layers[0].base is not None:
            layers.insert(0, layers[0].base)
        if len(layers) == 1:  # its words as they are (no copy: a BtfWords is deduplicated once)
            words = source.words
            offsets: List[int] = [len(words)]
            offsets += source.offsets
        else:
            words = []
            offsets = [0]
            for layer in layers:
                offsets += map(len(words).__add__, layer.offsets)
                words += layer.words
            offsets[0] = len(words)
        self.types_end = len(words)  # where the last type ends
        words += (0, 0, 0)  # void's record, after them
        self.words = words
        self.offsets = offsets
        self.kinds = b"\0" + b"".join(layer.kinds for layer in layers)  # by id (void: 0)
        self.start_id = source.start_id  # this BTF's first own id
        # id -> the id it deduplicates to (itself if canonical), UNPROCESSED or IN_PROGRESS.
        self.map = [UNPROCESSED] * len(offsets)
        self.table = CandidateTable()
        self.strings = source.strings.data()  # the output's string table (the string pass's)
        # The new name offset for each position of graph.name_at, where the string pass leaves
        # the names in ``words`` as they were and compaction writes these (None: the names in
        # ``words`` are final).
        self.new_names: Optional[List[int]] = None
        self.graph: TypeGraph  # set once the names are final (graph.describe_types)

    def kflag(self, tid: int) -> int:
        return self.words[self.offsets[tid] + 1] >> 31

    def enum_match(self, tid: int) -> Key:
        """What a forward-declared enum must share with a full one to match it."""
        w = self.words
        off = self.offsets[tid]
        if self.flavour == LIBBPF:
            return ("enum", w[off])
        return ("enum", w[off], w[off + 1] >> 16, w[off + 2])  # and kind, sign and size

    def key(self, tid: int) -> Key:
        """The dedup-table key of a type: its shape for kinds whose fields never change; for
        enums only what a forward declaration shares with the full enum (the name; for bpftool
        7.1 also kind, sign and size); for reference types everything, including the (by then
        canonical) ids they refer to: the shape and the referenced ids."""
        k = self.kinds[tid]
        shapes = self.graph.shapes
        w = self.words
        off = self.offsets[tid]
        if k in SINGLE_REF:
            return (shapes[tid], w[off + 2])
        if k == FUNC_PROTO:
            return (shapes[tid], w[off + 2], *w[off + 4:off + 3 + 2 * (w[off + 1] & 0xFFFF):2])
        if k == ARRAY:
            return (shapes[tid], w[off + 3], w[off + 4])
        if k in ANY_ENUM:
            return self.enum_match(tid)
        if k in COMPOSITE:
            return self.graph.struct_key(tid)
        if k == DECL_TAG:
            return tag_key(w, off)
        return shapes[tid]  # INT, FWD, FLOAT (VAR and DATASEC never enter the table)

    def resolve(self, tid: int) -> int:
        """The canonical id ``tid`` resolves to (itself while unprocessed)."""
        m = self.map
        while m[tid] >= 0 and m[tid] != tid:
            tid = m[tid]
        return tid


def tag_key(words: List[int], off: int) -> Key:
    """A DECL_TAG's whole record (name, info, target id, component index) as its table key."""
    return ("tag", *words[off:off + 4])
