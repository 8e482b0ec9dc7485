"""Passes 6 and 7: compaction (canonical types keep their relative order, others go) and the
remapping of every type id: the kept types' words copied out with their ids remapped (names
too, where the string pass left them), and .BTF.ext's func_info and CO-RE records following."""

from __future__ import annotations

from collections import deque
from typing import List, Tuple, cast

from ...errors import BtfError
from ...model.btf_ext import CoreRelo, FuncInfo
from ...model.btf.words import REFS_AT
from .state import UNPROCESSED, DedupState


def compact_and_remap(state: DedupState) -> Tuple[List[int], List[int]]:
    """Keep the canonical types (``state.words`` becomes their type section); return
    ``mapping[old_id] == new_id`` for every id, and the kept ids."""
    m, start, n = state.map, state.start_id, len(state.offsets)
    compact = list(range(start)) + [UNPROCESSED] * (n - start)
    kept_ids = [tid for tid in range(start, n) if m[tid] == tid]
    for new_id, tid in enumerate(kept_ids, start):
        compact[tid] = new_id
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
    state.words = _kept_words(state, kept_ids, mapping)
    ext = state.ext
    if ext is not None:
        remap = mapping.__getitem__
        for sec in ext.func_info.sections:
            for f in cast(List[FuncInfo], sec.records):  # what the func_info table holds
                f.type_id = remap(f.type_id)
        for sec in ext.core_relo.sections:
            for c in cast(List[CoreRelo], sec.records):
                c.type_id = remap(c.type_id)
    return mapping, kept_ids


def _kept_words(state: DedupState, kept_ids: List[int], mapping: List[int]) -> List[int]:
    """The type section of the kept types: every name rewritten in the words (where the string
    pass left that to compaction), at the positions describe_types listed; then the kept types'
    words, their referenced ids remapped (unless no id changes)."""
    words, offsets = state.words, state.offsets
    if state.new_names is not None:
        name_at = state.graph.name_at
        deque(map(words.__setitem__, name_at, map(state.new_names.__getitem__, map(words.__getitem__, name_at))),
              maxlen=0)
    start = state.start_id
    unchanged_ids = mapping == list(range(len(mapping)))
    if unchanged_ids and len(kept_ids) == len(offsets) - start:  # every type kept as it is
        return words[offsets[start]:state.types_end] if kept_ids else []
    out: List[int] = []
    extend = out.extend
    last = len(offsets) - 1
    kinds = state.kinds
    remap = mapping.__getitem__
    for tid in kept_ids:
        off = offsets[tid]
        at = len(out)
        extend(words[off:offsets[tid + 1] if tid < last else state.types_end])
        if not unchanged_ids:
            first, fixed, per, step = REFS_AT[kinds[tid]]
            if per:  # entries: the info word's vlen counts them
                end = at + fixed + per * (out[at + 1] & 0xFFFF)
                out[at + first:end:step] = map(remap, out[at + first:end:step])
            elif first:
                out[at + first:at + fixed] = map(remap, out[at + first:at + fixed])
    return out
