"""Pass 3: STRUCT/UNION by type-graph equivalence. For each candidate of a struct's key, a
side-by-side walk of both type graphs records a hypothetical canonical -> candidate mapping that
must stay consistent; a FWD on either side may stand for a STRUCT/UNION of the same name. The
first candidate whose walk succeeds is the struct's canonical type, and the walk's pairs are
merged into the map."""

from __future__ import annotations

from typing import List

from ...errors import BtfError
from ...model.btf import ARRAY, FWD, KIND_NAMES, STRUCT, UNION
from .state import ANY_ENUM, COMPOSITE, LEAVES, UNPROCESSED, WALKED, DedupState


class Hypothesis:
    """One walk's canonical -> candidate pairs (libbpf's hypot_map and hypot_list)."""

    __slots__ = ("map", "list", "adjust_canon")

    def __init__(self, map: List[int]) -> None:
        self.map = map  # by canonical id: the candidate paired with it, or UNPROCESSED
        self.list: List[int] = []  # the canonical ids set in map
        # The walk would have to resolve a FWD of the base BTF (which stays as it is): the
        # candidate is not taken.
        self.adjust_canon = False

    def clear(self) -> None:
        """Forget the last walk: only the entries it set (libbpf keeps a list of them too)."""
        hm = self.map
        for tid in self.list:
            hm[tid] = UNPROCESSED
        self.list.clear()
        self.adjust_canon = False


def dedup_structs(state: DedupState) -> None:
    m, struct_key, lists, add = state.map, state.graph.struct_key, state.table.lists, state.table.add
    hypot = Hypothesis([UNPROCESSED] * len(state.offsets))
    for tid in state.graph.own_composites:
        if m[tid] >= 0:
            continue
        key = struct_key(tid)
        new_id = tid
        for cand in lists.get(key, ()):
            hypot.clear()
            if not _is_equiv(state, hypot, tid, cand):
                continue
            _merge_hypot(state, hypot)
            if hypot.adjust_canon:
                continue
            new_id = cand
            break
        m[tid] = new_id
        if new_id == tid:
            add(key, tid)


def _identical_arrays(state: DedupState, id1: int, id2: int) -> bool:
    kinds = state.kinds
    if kinds[id1] != ARRAY or kinds[id2] != ARRAY:
        return False
    w, off1, off2 = state.words, state.offsets[id1], state.offsets[id2]
    return w[off1:off1 + 6] == w[off2:off2 + 6]  # the whole record, element and index ids too


def _identical_structs(state: DedupState, id1: int, id2: int) -> bool:
    kinds = state.kinds
    shapes = state.graph.shapes
    if kinds[id1] not in COMPOSITE or kinds[id1] != kinds[id2] or shapes[id1] != shapes[id2]:
        return False
    w, off1, off2 = state.words, state.offsets[id1], state.offsets[id2]
    end = 3 + 3 * (w[off1 + 1] & 0xFFFF)  # equal shapes: as many members
    for m1, m2 in zip(w[off1 + 4:off1 + end:3], w[off2 + 4:off2 + end:3]):
        if (m1 != m2 and not _identical_arrays(state, m1, m2)
                and not _identical_structs(state, m1, m2)):
            return False
    return True


def _is_equiv(state: DedupState, hypothesis: Hypothesis, cand_id: int, canon_id: int) -> bool:
    """Walk both graphs depth first in libbpf's order, stopping at the first difference."""
    m, hypot, hypot_list = state.map, hypothesis.map, hypothesis.list
    graph = state.graph
    kinds, shapes, children = graph.kinds, graph.shapes, graph.children
    # Two stacks of the pairs still to visit; the top is the next pair.
    cands, canons = [cand_id], [canon_id]
    pop_cand, pop_canon = cands.pop, canons.pop
    push_cands, push_canons = cands.extend, canons.extend
    seen_canon = hypot_list.append
    walked, leaves = WALKED, LEAVES
    while cands:
        cand = pop_cand()
        canon = pop_canon()
        if hypot[canon] == cand:
            # Visited before in this walk (hypot is set only at canons that are not a resolved
            # FWD standing for its struct, and the map does not change in a walk): passes.
            continue
        a = cand  # both sides resolved to their canonical types
        x = m[cand]
        if x >= 0:  # (the candidate's side is mostly not processed yet: itself)
            if x == canon or x == m[canon]:
                continue  # both resolve through the same type: passes
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
        if b != canon and kinds[canon] == FWD and kinds[b] != FWD:
            canon = b  # a canonical FWD already resolved to a struct/union stands for it
        seen = hypot[canon]
        if seen >= 0:
            if seen == cand or _identical_arrays(state, seen, cand) \
                    or _identical_structs(state, seen, cand):
                continue
            return False
        hypot[canon] = cand
        seen_canon(canon)
        ck = kinds[cand]
        if shapes[cand] != shapes[canon]:  # equal shapes: same name, kind and fields
            if graph.names[cand] != graph.names[canon]:
                return False
            nk = kinds[canon]
            if ck != nk:
                if ck != FWD and nk != FWD:
                    return False
                if ck == FWD:
                    real_kind, fwd_kind = nk, (UNION if state.kflag(cand) else STRUCT)
                else:
                    real_kind, fwd_kind = ck, (UNION if state.kflag(canon) else STRUCT)
                    if fwd_kind == real_kind and canon < state.start_id:
                        hypothesis.adjust_canon = True  # would have to resolve a base FWD
                if fwd_kind != real_kind:
                    return False
                continue
            if not (ck in ANY_ENUM and (graph.enum_fwd[cand] or graph.enum_fwd[canon])
                    and state.key(cand) == state.key(canon)):
                return False
        refs = children[cand]  # only walked kinds have children (equal shapes: as many)
        if refs:  # last to first: the first is on top
            push_cands(refs)
            push_canons(children[canon])
        elif ck not in walked and ck not in leaves:
            raise BtfError(None, f"BTF dedup: unexpected {KIND_NAMES[ck]} [{cand}] in a type graph")
    return True


# The kinds a merge can change the map of. A type of another kind resolves to one of its own
# kind class (maps go FWD -> STRUCT/UNION, STRUCT/UNION -> STRUCT/UNION, enum -> enum, and a
# primitive or reference type to an equal one), so a pair of two such types merges nothing.
_MERGED_KINDS = frozenset({FWD, STRUCT, UNION})


def _merge_hypot(state: DedupState, hypothesis: Hypothesis) -> None:
    kinds, m, hypot = state.graph.kinds, state.map, hypothesis.map
    adjust_canon = hypothesis.adjust_canon
    for canon_id in hypothesis.list:
        t_id = hypot[canon_id]
        if kinds[t_id] not in _MERGED_KINDS and kinds[canon_id] not in _MERGED_KINDS:
            continue  # nothing below applies: resolving keeps a type's kind outside those
        # both resolved (state.resolve inlined: one call per pair cost more)
        x = m[t_id]
        while x >= 0 and x != t_id:
            t_id, x = x, m[x]
        c_id = canon_id
        x = m[c_id]
        while x >= 0 and x != c_id:
            c_id, x = x, m[x]
        t_kind, c_kind = kinds[t_id], kinds[c_id]
        # FWD -> STRUCT/UNION resolution goes both ways; a base FWD may still point into split.
        if t_kind != FWD and c_kind == FWD:
            m[c_id] = t_id
        if adjust_canon:
            continue
        if t_kind == FWD and c_kind != FWD:
            m[t_id] = c_id
        if t_kind in COMPOSITE and c_kind != FWD and m[c_id] >= 0 and m[t_id] < 0:
            m[t_id] = c_id  # shortcut: the candidate graph's struct has a canonical twin
