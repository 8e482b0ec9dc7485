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
    kept_ids = [tid for tid in range(start, n) if m[tid] == tid]
    # Every type canonical (a deduplicated kernel's BTF) and the base's ids still their own (a
    # struct walk's merge may map a base FWD to a struct of the split BTF): no id moves.
    all_kept = len(kept_ids) == n - start and m[:start] == list(range(start))
    if all_kept:
        mapping = list(range(n))
    else:
        mapping = _mapping(m, kept_ids, start)
    state.words = _kept_words(state, kept_ids, mapping, all_kept)
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


def _mapping(m: List[int], kept_ids: List[int], start: int) -> List[int]:
    """``mapping[old_id] == new_id``: the kept types numbered in order from ``start``, every
    other type the new id of the canonical type it resolves to."""
    n = len(m)
    compact = list(range(start)) + [UNPROCESSED] * (n - start)
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
    return mapping


def _kept_words(state: DedupState, kept_ids: List[int], mapping: List[int], all_kept: bool) -> List[int]:
    """The type section of the kept types: every name rewritten in the words (where the string
    pass left that to compaction), at the positions describe_types listed; then the kept types'
    words, their referenced ids remapped (unless every type is kept: then no id changes)."""
    words, offsets = state.words, state.offsets
    if state.new_names is not None:
        deque(map(words.__setitem__, state.graph.name_at, state.new_names), maxlen=0)
    start = state.start_id
    # Every type kept, no id changes (a type that goes shares its new id with another).
    if all_kept:
        if not kept_ids:
            return []
        if offsets[start] == 0:  # the source's own list (no base): void's words dropped, no copy
            del words[state.types_end:]
            return words
        return words[offsets[start]:state.types_end]
    out: List[int] = []
    extend = out.extend
    last = len(offsets) - 1
    kinds = state.kinds
    remap = mapping.__getitem__
    for tid in kept_ids:
        off = offsets[tid]
        at = len(out)
        extend(words[off:offsets[tid + 1] if tid < last else state.types_end])
        first, fixed, per, step = REFS_AT[kinds[tid]]
        if per:  # entries: the info word's vlen counts them
            end = at + fixed + per * (out[at + 1] & 0xFFFF)
            out[at + first:end:step] = map(remap, out[at + first:end:step])
        elif first:
            out[at + first:at + fixed] = map(remap, out[at + first:at + fixed])
    return out
