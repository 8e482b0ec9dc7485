"""Passes 6 and 7: compaction (canonical types keep their relative order, others go) and the
remapping of every type id, in the types and in .BTF.ext's func_info and CO-RE records."""

from __future__ import annotations

from typing import List, cast

from ...errors import BtfError
from ...model.btf import REF_KINDS
from ...model.btf_ext import CoreRelo, FuncInfo
from .state import COMPOSITE, UNPROCESSED, DedupState


def compact_and_remap(state: DedupState) -> List[int]:
    """Keep the canonical types; return ``mapping[old_id] == new_id`` for every id."""
    types, m, start, n = state.types, state.map, state.start_id, len(state.types)
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
        elif k in COMPOSITE:
            for member in t.members:
                member.type = mapping[member.type]
        else:
            t.remap_ids(remap)
    state.btf.types = kept
    ext = state.ext
    if ext is not None:
        for sec in ext.func_info.sections:
            for f in cast(List[FuncInfo], sec.records):  # what the func_info table holds
                f.type_id = remap(f.type_id)
        for sec in ext.core_relo.sections:
            for c in cast(List[CoreRelo], sec.records):
                c.type_id = remap(c.type_id)
    return mapping
