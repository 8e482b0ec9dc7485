"""Pass 2: INT, ENUM/ENUM64, FWD and FLOAT deduplicate by exact equality; a forward-declared
enum resolves to the full enum of its name (bpftool 7.1: of the same kind, sign and size)."""

from __future__ import annotations

from ...model.btf import FLOAT, FWD, INT
from .state import ANY_ENUM, DedupState


def dedup_primitives(state: DedupState) -> None:
    graph = state.graph
    # Without a base, an enum whose name no forward-declared enum has matches only an enum of
    # its shape: the first of that shape, which was the first enum with it and so canonical. Its
    # candidates need no walk (anonymous enums share one key: a walk is over all of them).
    plain_enums = graph.enum_fwd_names.isdisjoint if state.start_id == 1 else None
    shapes, names, kinds, m = graph.shapes, graph.names, graph.kinds, state.map
    for tid in graph.own_primitives:
        if plain_enums is not None and kinds[tid] in ANY_ENUM and plain_enums((names[tid],)):
            new_id = m[tid] = shapes[tid]
            if new_id == tid:
                state.table.add(state.enum_match(tid), tid)  # the table grows as libbpf's
        else:
            _dedup_primitive(state, tid)


def _dedup_primitive(state: DedupState, tid: int) -> None:
    k = state.graph.kinds[tid]
    if k not in (INT, FWD, FLOAT) and k not in ANY_ENUM:
        return
    key = state.key(tid)
    new_id = tid
    if k in ANY_ENUM:
        shapes, enum_fwd = state.graph.shapes, state.graph.enum_fwd
        for cand in state.table.get(key):
            if shapes[cand] == shapes[tid]:
                new_id = cand
                break
            if enum_fwd[tid] or enum_fwd[cand]:  # same name, one side forward-declared
                if enum_fwd[tid]:
                    new_id = cand
                    break
                state.map[cand] = tid  # a canonical enum forward now resolves to this enum
    else:
        for cand in state.table.get(key):  # the key is the whole type: any candidate is equal
            new_id = cand
            break
    state.map[tid] = new_id
    if new_id == tid:
        state.table.add(key, tid)
