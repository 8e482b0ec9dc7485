"""BTF deduplication with libbpf's algorithm (``btf__dedup``), so the output matches libbpf's type
for type, id for id and string offset for string offset.

The passes, in libbpf's order:

1. strings: rebuilt in the order they are first referenced (types, then .BTF.ext);
2. primitive types (INT, ENUM*, FWD, FLOAT) by exact equality; enum forward declarations resolve
   to full enums;
3. STRUCT/UNION by type-graph equivalence: a side-by-side walk of the candidate's and the
   canonical type's graphs, recording a hypothetical canonical -> candidate mapping that must
   stay consistent; a FWD on either side may stand for a STRUCT/UNION of the same name;
4. forward declarations that are still unresolved map to the one struct/union of their name
   (not in the BPFTOOL_7_1 flavour);
5. reference types (PTR, modifiers, TYPEDEF, ARRAY, FUNC, FUNC_PROTO, DECL_TAG) once everything
   they point at is canonical;
6. compaction (canonical types keep their relative order) and 7. remapping of every type id,
   including those in .BTF.ext.

Candidate lists replay the order of libbpf's hash map (new entries first, every table growth
reverses the entries of one key) because the first equivalent candidate wins. STRUCT/UNION
candidates are keyed more finely than libbpf hashes them (see _struct_key_function): that only
leaves out candidates whose graph walk would fail, so the outcome is the same without the walks.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter
from typing import Dict, List, Optional

from ..model.btf import (
    ARRAY,
    CONST,
    DATASEC,
    DECL_TAG,
    ENUM,
    ENUM64,
    FLOAT,
    FUNC,
    FUNC_PROTO,
    FWD,
    INT,
    PTR,
    REF_KINDS,
    RESTRICT,
    SIZED_KINDS,
    STRUCT,
    TYPE_TAG,
    TYPEDEF,
    UNION,
    VAR,
    VOLATILE,
    Btf,
    BtfType,
    StringTable,
    paused_gc,
)
from ..model.btf_ext import BtfExt
from ..errors import BtfError

UNPROCESSED = -1
IN_PROGRESS = -2

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

_COMPOSITE = (STRUCT, UNION)
_ANY_ENUM = (ENUM, ENUM64)
# Kinds deduplicated as "reference" types: one referenced type id in ``type``.
_SINGLE_REF = frozenset({CONST, VOLATILE, RESTRICT, PTR, TYPEDEF, FUNC, TYPE_TAG})
# In a graph walk: kinds compared on their own, and kinds whose referenced types are walked.
_LEAVES = frozenset({INT, ENUM, ENUM64, FWD, FLOAT})
_WALKED = _SINGLE_REF | {ARRAY, STRUCT, UNION, FUNC_PROTO}


def dedup(btf: Btf, ext: Optional[BtfExt] = None, *, rebuild_strings: bool = True,
          flavour: str = LIBBPF) -> List[int]:
    """Deduplicate ``btf`` in place (types and strings) and rewrite ``ext``'s type ids and string
    offsets to match. Returns ``mapping`` with ``mapping[old_id] == new_id`` for every id the
    BTF had (base ids of split BTF map to themselves).

    ``rebuild_strings=False`` keeps the string table as it is, which is what libbpf does for a
    BTF it built from scratch (its strings are unique by construction): every name must then
    already have its ``name_off`` in ``btf.strings``.

    ``flavour`` picks the libbpf whose output to reproduce: LIBBPF (default) or BPFTOOL_7_1."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown BTF dedup flavour {flavour!r}; expected one of {FLAVOURS}")
    with paused_gc():  # dedup builds many tuples and lists but no reference cycles
        return _Dedup(btf, ext, flavour).run(rebuild_strings)


# ----------------------------------------------------------------------------------------------
# Signatures: what libbpf hashes and compares. Names compare as text; after string dedup equal
# text means equal offsets, which is what libbpf compares.

def _size_or_type(t: BtfType) -> int:
    if t.kind in SIZED_KINDS:
        return t.size
    return 0 if t.kind == ARRAY else t.type


def _common(t: BtfType) -> tuple:
    return (t.name, t.kind, t.kflag, t.vlen, _size_or_type(t))


def _int_tag_sig(t: BtfType) -> tuple:
    if t.kind == INT:
        return _common(t) + (t.int_encoding, t.int_offset, t.int_bits)
    return _common(t) + (t.component_idx,)


def _array_sig(t: BtfType) -> tuple:
    return _common(t) + (t.type, t.index_type, t.nelems)


def _encoded_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogateescape"))


def _enum_members(t: BtfType) -> tuple:
    return tuple((e.name, e.value & 0xFFFFFFFFFFFFFFFF) for e in t.enums)


class _CandidateTable:
    """libbpf's dedup hash table, reduced to what decides results: for each signature, the
    candidate ids in the order libbpf visits them. libbpf prepends new entries to a bucket and
    every growth of the table re-inserts a bucket's entries one by one, reversing them."""

    def __init__(self):
        self.lists: Dict[tuple, List[int]] = {}
        self.multi: List[List[int]] = []  # lists of more than one entry: growth reverses them
        self.size = 0
        self.capacity = 0

    def get(self, key: tuple) -> List[int]:
        return self.lists.get(key, ())

    def add(self, key: tuple, type_id: int) -> None:
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

    def add_new(self, key: tuple, type_id: int) -> None:
        """add() of a key that has no entries yet."""
        self.size += 1
        if self.size * 4 // 3 > self.capacity:
            self.grow()
        self.lists[key] = [type_id]

    def grow(self) -> None:
        self.capacity = max(4, self.capacity * 2)
        for entries in self.multi:
            entries.reverse()


class _Dedup:
    def __init__(self, btf: Btf, ext: Optional[BtfExt], flavour: str = LIBBPF):
        self.btf = btf
        self.ext = ext
        self.flavour = flavour
        self.start_id = btf.start_id
        base_types: List[BtfType] = []
        base = btf.base
        while base is not None:
            base_types[:0] = base.types
            base = base.base
        void = BtfType(0)
        self.types: List[BtfType] = [void] + base_types + btf.types
        n = len(self.types)
        self.map: List[int] = [UNPROCESSED] * n
        self.map[0] = 0
        self.hypot_map: List[int] = [UNPROCESSED] * n
        self.hypot_list: List[int] = []
        self.hypot_adjust_canon = False
        self.table = _CandidateTable()
        # What a forward-declared enum must share with a full one to match it.
        if flavour == LIBBPF:
            self.enum_match = lambda t: ("enum", t.name)
        else:
            self.enum_match = lambda t: ("enum", t.name, t.kind, t.kflag, t.size)
        self._describe_types()
        for tid in self.unwalkable:
            if tid >= self.start_id and self.kinds[tid] in (VAR, DATASEC):
                self.map[tid] = tid

    def _describe_types(self) -> None:
        """Per type id, what the struct phase compares, computed once: kind, name, an interned
        id of the fields that never change during dedup ("shape", which includes the name and
        the kind), and the referenced ids in the order libbpf walks them. Reference types are
        rewritten only in the later ref phase, so these stay valid for the whole
        graph-equivalence phase."""
        interned: Dict[tuple, int] = {}
        intern = interned.setdefault
        types = self.types
        n = len(types)
        kinds = [t.kind for t in types]
        names = [t.name for t in types]
        shapes = [0] * n
        children = [()] * n
        enum_fwd = [False] * n
        composite_ids: List[int] = []
        primitive_ids: List[int] = []
        fwd_names, enum_fwd_names, unwalkable = set(), set(), []
        member_sig = attrgetter("name", "offset", "bitfield_size")
        type_of, name_of = attrgetter("type"), attrgetter("name")
        for tid in range(n):
            t, k = types[tid], kinds[tid]
            if k in _SINGLE_REF:  # _common(t) but the referenced id
                shapes[tid] = intern((names[tid], k, t.kflag, t.linkage if k == FUNC else 0),
                                     len(interned))
                children[tid] = (t.type,)
            elif k in _COMPOSITE:
                ms = t.members
                # _common(t) and the members but their referenced ids
                shapes[tid] = intern((names[tid], k, t.kflag, len(ms), t.size)
                                     + tuple(map(member_sig, ms)), len(interned))
                children[tid] = tuple(map(type_of, ms))
                composite_ids.append(tid)
            elif k == FUNC_PROTO:  # _common(t) and the params but the referenced ids
                ps = t.params
                shapes[tid] = intern((names[tid], FUNC_PROTO, t.kflag, *map(name_of, ps)),
                                     len(interned))
                children[tid] = (t.type, *map(type_of, ps))
            elif k == ARRAY:  # _array_sig(t) but the referenced ids
                shapes[tid] = intern((names[tid], ARRAY, t.kflag, 0, 0, t.nelems), len(interned))
                children[tid] = (t.index_type, t.type)
            elif k == INT:
                shapes[tid] = intern(_int_tag_sig(t), len(interned))
                primitive_ids.append(tid)
            elif k == FWD:  # _common(t)
                shapes[tid] = intern((names[tid], FWD, t.kflag, 0, t.type), len(interned))
                primitive_ids.append(tid)
                fwd_names.add(names[tid])
            elif k in _ANY_ENUM:
                shapes[tid] = intern(_common(t) + _enum_members(t), len(interned))
                primitive_ids.append(tid)
                if not t.enums:
                    enum_fwd[tid] = True
                    enum_fwd_names.add(names[tid])
            else:  # FLOAT; DECL_TAG, VAR, DATASEC and void never take part in a walk
                shapes[tid] = intern(_common(t), len(interned))
                if k == FLOAT:
                    primitive_ids.append(tid)
                elif tid:
                    unwalkable.append(tid)
        self.kinds, self.names, self.shapes = kinds, names, shapes
        self.children, self.enum_fwd = children, enum_fwd
        start = self.start_id
        self.composites = composite_ids
        self.own_composites = [tid for tid in composite_ids if tid >= start]
        self.own_primitives = [tid for tid in primitive_ids if tid >= start]
        self.unwalkable = unwalkable  # non-void ids of kinds a graph walk must not meet
        self.struct_key = self._struct_key_function(fwd_names, enum_fwd_names, unwalkable)

    def _struct_key_function(self, fwd_names, enum_fwd_names, unwalkable: List[int]):
        """A function giving the table key of a STRUCT/UNION (called only for those still
        unresolved when the struct phase reaches them): its shape, refined by a summary of what
        its members refer to that any equivalent type graph shares ("graph class").

        A successful walk visits every pair it pushes, and each visit passes only if the two
        types are the same canonical type, or were already paired in this walk (or are
        identical arrays/structs), or have equal names, compatible kinds and equal shapes. So
        in a successful walk both sides of every pair have the same graph class, where the
        class of
          - a STRUCT/UNION is its shape, but only (struct-like, name) if some FWD has its name
            (a FWD stands for any struct/union of its name);
          - a FWD is (struct-like, name);
          - an enum is its shape, but only (enum, name) if a forward-declared enum has its name;
          - INT and FLOAT is the shape;
          - a reference kind (PTR, modifiers, TYPEDEF, FUNC, ARRAY, FUNC_PROTO) is its shape
            and the classes of the types it refers to, one level deep.
        Candidates of another refined key would fail is_equiv: skipping them keeps the result,
        and they keep their relative order (a key's list is a subsequence of the shape's).

        If some walked type refers to a kind a walk must not meet (VAR, DATASEC, DECL_TAG),
        is_equiv raises on it; then keys stay plain shapes so that the same walks happen."""
        kinds, names, shapes, children = self.kinds, self.names, self.shapes, self.children
        # only walked kinds have children here
        if unwalkable and not set(unwalkable).isdisjoint(chain.from_iterable(children)):
            return shapes.__getitem__

        def shallow_class(tid: int):
            k = kinds[tid]
            if k in _COMPOSITE or k == FWD:
                return ("C", names[tid]) if names[tid] in fwd_names else shapes[tid]
            if k in _ANY_ENUM:
                return ("E", names[tid]) if names[tid] in enum_fwd_names else shapes[tid]
            return shapes[tid]

        def graph_class(tid: int):
            if kinds[tid] in _COMPOSITE or kinds[tid] not in _WALKED:
                return shallow_class(tid)
            return (shapes[tid],) + tuple([shallow_class(c) for c in children[tid]])

        classes: List[object] = [None] * len(kinds)

        def struct_key(tid: int) -> tuple:
            key = [shapes[tid]]
            for c in children[tid]:
                cls = classes[c]
                if cls is None:
                    cls = classes[c] = graph_class(c)
                key.append(cls)
            return tuple(key)

        return struct_key

    def run(self, rebuild_strings: bool) -> List[int]:
        self.prepare_base()
        if rebuild_strings:
            self.dedup_strings()
        for tid in self.own_primitives:
            self.dedup_primitive(tid)
        self.dedup_structs()
        if self.flavour == LIBBPF:
            self.resolve_fwds()
        try:
            self.dedup_refs()
        except RecursionError:
            raise BtfError(None, "BTF dedup: reference type chain too deep") from None
        return self.compact_and_remap()

    # -- table keys ----------------------------------------------------------------------------
    def key(self, tid: int):
        """The dedup-table key of a type: its shape for kinds whose fields never change; for
        enums only what a forward declaration shares with the full enum (the name; for bpftool
        7.1 also kind, sign and size); for reference types everything, including the (by then
        canonical) ids they refer to: the shape and the referenced ids."""
        t = self.types[tid]
        k = t.kind
        if k in _SINGLE_REF:
            return (self.shapes[tid], t.type)
        if k == FUNC_PROTO:
            return (self.shapes[tid], t.type) + tuple([p.type for p in t.params])
        if k == ARRAY:
            return (self.shapes[tid], t.type, t.index_type)
        if k in _ANY_ENUM:
            return self.enum_match(t)
        if k in _COMPOSITE:
            return self.struct_key(tid)
        if k == DECL_TAG:
            return _int_tag_sig(t)
        return self.shapes[tid]  # INT, FWD, FLOAT (VAR and DATASEC never enter the table)

    # -- split BTF: base types are canonical and already in the table ---------------------------
    def prepare_base(self) -> None:
        for tid in range(1, self.start_id):
            self.map[tid] = tid
            if self.kinds[tid] not in (VAR, DATASEC):
                self.table.add(self.key(tid), tid)

    # -- 1. strings ----------------------------------------------------------------------------
    def dedup_strings(self) -> None:
        btf, ext = self.btf, self.ext
        old = btf.strings
        base_strings = btf.base.strings if btf.base is not None else None
        start = old.start
        offsets: Dict[str, int] = {} if base_strings is not None else {"": 0}
        order: List[str] = [] if base_strings is not None else [""]  # the new table's strings
        pos = start + len(order)  # the offset of the next new string

        def new_off(s: str) -> int:
            nonlocal pos
            off = offsets.get(s)
            if off is None:
                if s == "" and base_strings is not None:
                    return 0
                if base_strings is not None:
                    off = base_strings.find(s)
                if off is None:
                    off = pos
                    order.append(s)
                    pos += _encoded_len(s) + 1
                offsets[s] = off
            return off

        named = []  # types and their members, enumerators and params, in libbpf's order
        for t in btf.types:
            named.append(t)
            named += t.members or t.enums or t.params
        if base_strings is None:  # new_off inlined
            get, append = offsets.get, order.append
            for item in named:
                s = item.name
                off = get(s)
                if off is None:
                    off = offsets[s] = pos
                    append(s)
                    pos += (len(s) if s.isascii() else _encoded_len(s)) + 1
                item.name_off = off
        else:
            for item in named:
                item.name_off = new_off(item.name)
        if ext is not None:
            def old_str(off: int) -> str:
                s = old.get(off)
                if s is None:
                    raise BtfError(None, f".BTF.ext refers to string offset {off}, outside .BTF's strings")
                return s

            for sec in ext.func_info.sections:
                sec.name_off = new_off(sec.name)
            for sec in ext.line_info.sections:
                sec.name_off = new_off(sec.name)
                for r in sec.records:
                    r.file_name_off = new_off(old_str(r.file_name_off))
                    r.line_off = new_off(old_str(r.line_off))
            for sec in ext.core_relo.sections:
                sec.name_off = new_off(sec.name)
                for r in sec.records:
                    r.access_str_off = new_off(old_str(r.access_str_off))
        data = ("\0".join(order) + "\0").encode("utf-8", "surrogateescape") if order else b""
        btf.strings = StringTable(data, start=start, base=base_strings)

    # -- 2. primitive types ----------------------------------------------------------------------
    def dedup_primitive(self, tid: int) -> None:
        k = self.kinds[tid]
        if k not in (INT, FWD, FLOAT) and k not in _ANY_ENUM:
            return
        key = self.key(tid)
        new_id = tid
        if k in _ANY_ENUM:
            shapes, enum_fwd = self.shapes, self.enum_fwd
            for cand in self.table.get(key):
                if shapes[cand] == shapes[tid]:
                    new_id = cand
                    break
                if enum_fwd[tid] or enum_fwd[cand]:  # same name, one side forward-declared
                    if enum_fwd[tid]:
                        new_id = cand
                        break
                    self.map[cand] = tid  # a canonical enum forward now resolves to this enum
        else:
            for cand in self.table.get(key):  # the key is the whole type: any candidate is equal
                new_id = cand
                break
        self.map[tid] = new_id
        if new_id == tid:
            self.table.add(key, tid)

    # -- resolution helpers --------------------------------------------------------------------
    def resolve(self, tid: int) -> int:
        m = self.map
        while m[tid] >= 0 and m[tid] != tid:
            tid = m[tid]
        return tid

    def resolve_fwd(self, tid: int) -> int:
        if self.kinds[tid] != FWD:
            return tid
        resolved = self.resolve(tid)
        return resolved if self.kinds[resolved] != FWD else tid

    def identical_arrays(self, id1: int, id2: int) -> bool:
        t1, t2 = self.types[id1], self.types[id2]
        return t1.kind == ARRAY and t2.kind == ARRAY and _array_sig(t1) == _array_sig(t2)

    def identical_structs(self, id1: int, id2: int) -> bool:
        t1, t2 = self.types[id1], self.types[id2]
        if t1.kind not in _COMPOSITE or t1.kind != t2.kind or self.shapes[id1] != self.shapes[id2]:
            return False
        for m1, m2 in zip(t1.members, t2.members):
            if (m1.type != m2.type and not self.identical_arrays(m1.type, m2.type)
                    and not self.identical_structs(m1.type, m2.type)):
                return False
        return True

    # -- 3. struct/union graph equivalence ----------------------------------------------------
    def clear_hypot(self) -> None:
        """Forget the last walk: only the entries it set (libbpf keeps a list of them too)."""
        hm = self.hypot_map
        for tid in self.hypot_list:
            hm[tid] = UNPROCESSED
        self.hypot_list.clear()
        self.hypot_adjust_canon = False

    def is_equiv(self, cand_id: int, canon_id: int) -> bool:
        """Walk both graphs depth first in libbpf's order, stopping at the first difference."""
        m, hypot, hypot_list = self.map, self.hypot_map, self.hypot_list
        kinds, shapes, children = self.kinds, self.shapes, self.children
        # Two stacks of the pairs still to visit; the top is the next pair.
        cands, canons = [cand_id], [canon_id]
        pop_cand, pop_canon = cands.pop, canons.pop
        push_cands, push_canons = cands.extend, canons.extend
        seen_canon = hypot_list.append
        walked, leaves = _WALKED, _LEAVES
        while cands:
            cand = pop_cand()
            canon = pop_canon()
            x = m[cand]
            if hypot[canon] == cand or x == canon or (x >= 0 and x == m[canon]):
                # Passes whatever follows: both resolve through the same type, or this pair was
                # visited before in this walk (hypot is set only at canons that are not a
                # resolved FWD standing for its struct, and the map does not change in a walk).
                continue
            a = cand  # both sides resolved to their canonical types
            while x >= 0 and x != a:
                a = x
                x = m[a]
            b = canon
            x = m[b]
            while x >= 0 and x != b:
                b = x
                x = m[b]
            if a == b:
                continue
            if kinds[canon] == FWD and kinds[b] != FWD:
                canon = b  # a canonical FWD already resolved to a struct/union stands for it
            seen = hypot[canon]
            if seen >= 0:
                if seen == cand or self.identical_arrays(seen, cand) \
                        or self.identical_structs(seen, cand):
                    continue
                return False
            hypot[canon] = cand
            seen_canon(canon)
            ck = kinds[cand]
            if shapes[cand] != shapes[canon]:  # equal shapes: same name, kind and fields
                if self.names[cand] != self.names[canon]:
                    return False
                nk = kinds[canon]
                if ck != nk:
                    if ck != FWD and nk != FWD:
                        return False
                    types = self.types
                    if ck == FWD:
                        real_kind, fwd_kind = nk, (UNION if types[cand].kflag else STRUCT)
                    else:
                        real_kind, fwd_kind = ck, (UNION if types[canon].kflag else STRUCT)
                        if fwd_kind == real_kind and canon < self.start_id:
                            self.hypot_adjust_canon = True  # would have to resolve a base FWD
                    if fwd_kind != real_kind:
                        return False
                    continue
                if not (ck in _ANY_ENUM and (self.enum_fwd[cand] or self.enum_fwd[canon])
                        and self.key(cand) == self.key(canon)):
                    return False
            if ck in walked:
                refs = children[cand]
                if refs:
                    push_cands(refs[::-1])
                    push_canons(children[canon][::-1])
            elif ck not in leaves:
                raise BtfError(None, f"BTF dedup: unexpected {self.types[cand].kind_name} "
                                     f"[{cand}] in a type graph")
        return True

    def merge_hypot(self) -> None:
        kinds, m, hypot, resolve = self.kinds, self.map, self.hypot_map, self.resolve
        adjust_canon = self.hypot_adjust_canon
        for canon_id in self.hypot_list:
            t_id, c_id = resolve(hypot[canon_id]), resolve(canon_id)
            t_kind, c_kind = kinds[t_id], kinds[c_id]
            # FWD -> STRUCT/UNION resolution goes both ways; a base FWD may still point into split.
            if t_kind != FWD and c_kind == FWD:
                m[c_id] = t_id
            if adjust_canon:
                continue
            if t_kind == FWD and c_kind != FWD:
                m[t_id] = c_id
            if t_kind in _COMPOSITE and c_kind != FWD and m[c_id] >= 0 and m[t_id] < 0:
                m[t_id] = c_id  # shortcut: the candidate graph's struct has a canonical twin

    def dedup_structs(self) -> None:
        m, struct_key, lists, add = self.map, self.struct_key, self.table.lists, self.table.add
        for tid in self.own_composites:
            if m[tid] >= 0:
                continue
            key = struct_key(tid)
            new_id = tid
            for cand in lists.get(key, ()):
                self.clear_hypot()
                if not self.is_equiv(tid, cand):
                    continue
                self.merge_hypot()
                if self.hypot_adjust_canon:
                    continue
                new_id = cand
                break
            m[tid] = new_id
            if new_id == tid:
                add(key, tid)

    # -- 4. forward declarations with one possible target --------------------------------------
    def resolve_fwds(self) -> None:
        """A FWD still unresolved maps to the struct/union of its name if there is exactly one."""
        kinds, names, m = self.kinds, self.names, self.map
        by_name: Dict[str, int] = {}
        for tid in self.composites:
            if m[tid] == tid:
                name = names[tid]
                by_name[name] = 0 if name in by_name else tid  # 0: ambiguous
        for tid in self.own_primitives:
            if kinds[tid] != FWD or m[tid] != tid:
                continue
            cand = by_name.get(names[tid], 0)
            if cand and kinds[cand] == (UNION if self.types[tid].kflag else STRUCT):
                m[tid] = cand

    # -- 5. reference types --------------------------------------------------------------------
    def dedup_refs(self) -> None:
        """Deduplicate every reference type, depth first: a type once the types it refers to
        are canonical, its key then being the whole type."""
        m, types, kinds, shapes = self.map, self.types, self.kinds, self.shapes
        lists, add = self.table.lists, self.table.add_new
        single_ref = _SINGLE_REF

        def ref(tid: int) -> int:
            state = m[tid]
            if state == IN_PROGRESS:
                raise BtfError(None, f"BTF dedup: reference loop through type [{tid}]")
            if state >= 0:
                while state >= 0 and state != tid:  # resolve
                    tid, state = state, m[state]
                return tid
            t = types[tid]
            m[tid] = IN_PROGRESS
            k = kinds[tid]
            if k in single_ref:
                c = t.type
                if m[c] != c:
                    c = t.type = ref(c)
                key = (shapes[tid], c)
            elif k == FUNC_PROTO:
                c = t.type
                if m[c] != c:
                    c = t.type = ref(c)
                key = [shapes[tid], c]
                for p in t.params:
                    c = p.type
                    if m[c] != c:
                        c = p.type = ref(c)
                    key.append(c)
                key = tuple(key)
            elif k == ARRAY:
                c = t.type
                if m[c] != c:
                    c = t.type = ref(c)
                i = t.index_type
                if m[i] != i:
                    i = t.index_type = ref(i)
                key = (shapes[tid], c, i)
            elif k == DECL_TAG:
                t.type = ref(t.type)
                key = _int_tag_sig(t)
            else:
                raise BtfError(None, f"BTF dedup: unexpected {t.kind_name} [{tid}]")
            entries = lists.get(key)
            if entries:  # the key is the whole type: any candidate is equal
                new_id = m[tid] = entries[0]
                return new_id
            m[tid] = tid
            add(key, tid)
            return tid

        try:
            for tid in range(self.start_id, len(types)):
                if m[tid] < 0:
                    ref(tid)
        finally:
            ref = None  # a recursive closure is a reference cycle: it would keep every type alive

    # -- 6./7. compaction and remapping --------------------------------------------------------
    def compact_and_remap(self) -> List[int]:
        types, m, start, n = self.types, self.map, self.start_id, len(self.types)
        compact = list(range(start)) + [UNPROCESSED] * (n - start)
        kept_ids = [tid for tid in range(start, n) if m[tid] == tid]
        for new_id, tid in enumerate(kept_ids, start):
            compact[tid] = new_id
        kept = [types[tid] for tid in kept_ids]
        mapping = compact[:]  # then the types that resolve to another
        for tid in range(n):
            x = m[tid]
            if x >= 0 and x != tid:
                r = x  # resolve
                x = m[r]
                while x >= 0 and x != r:
                    r = x
                    x = m[r]
                mapping[tid] = compact[r]
        if min(mapping) < 0:
            raise BtfError(None, "BTF dedup: a type maps to no canonical type")
        remap = mapping.__getitem__
        one_ref = REF_KINDS
        for t in kept:  # remap_ids, the common kinds inlined
            k = t.kind
            if k in one_ref:
                t.type = mapping[t.type]
            elif k in _COMPOSITE:
                for member in t.members:
                    member.type = mapping[member.type]
            else:
                t.remap_ids(remap)
        self.btf.types = kept
        if self.ext is not None:
            for sec in self.ext.func_info.sections:
                for r in sec.records:
                    r.type_id = remap(r.type_id)
            for sec in self.ext.core_relo.sections:
                for r in sec.records:
                    r.type_id = remap(r.type_id)
        return mapping
