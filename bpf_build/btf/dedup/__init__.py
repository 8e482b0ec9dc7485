"""BTF deduplication with libbpf's algorithm (``btf__dedup``), so the output matches libbpf's type
for type, id for id and string offset for string offset.

The passes, in libbpf's order (``dedup`` below runs them; a module each):

1. strings: rebuilt in the order they are first referenced (types, then .BTF.ext);
2. primitives: INT, ENUM*, FWD, FLOAT by exact equality; enum forward declarations resolve
   to full enums;
3. structs: STRUCT/UNION by type-graph equivalence: a side-by-side walk of the candidate's and
   the canonical type's graphs, recording a hypothetical canonical -> candidate mapping that
   must stay consistent; a FWD on either side may stand for a STRUCT/UNION of the same name;
4. fwds: forward declarations that are still unresolved map to the one struct/union of their
   name (not in the BPFTOOL_7_1 flavour);
5. refs: reference types (PTR, modifiers, TYPEDEF, ARRAY, FUNC, FUNC_PROTO, DECL_TAG) once
   everything they point at is canonical;
6. compact: compaction (canonical types keep their relative order) and 7. remapping of every
   type id, including those in .BTF.ext.

What the passes share is a ``DedupState`` (state.py); graph.py describes each type once for
the struct walks. Candidate lists replay the order of libbpf's hash map (new entries first,
every table growth reverses the entries of one key) because the first equivalent candidate
wins. STRUCT/UNION candidates are keyed more finely than libbpf hashes them (see
graph.struct_key_function): that only leaves out candidates whose graph walk would fail, so
the outcome is the same without the walks.
"""

from __future__ import annotations

from typing import List, Optional

from ...collector import paused_gc
from ...model.btf import DATASEC, VAR, Btf, BtfType
from ...model.btf_ext import BtfExt
from .compact import compact_and_remap
from .fwds import resolve_fwds
from .graph import describe_types
from .primitives import dedup_primitives
from .refs import dedup_refs
from .state import BPFTOOL_7_1, FLAVOURS, IN_PROGRESS, LIBBPF, UNPROCESSED, DedupState
from .strings import dedup_strings
from .structs import dedup_structs

__all__ = ["BPFTOOL_7_1", "FLAVOURS", "IN_PROGRESS", "LIBBPF", "UNPROCESSED", "DedupState", "dedup"]


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
        state = _start(btf, ext, flavour)
        if rebuild_strings:
            dedup_strings(state)
        dedup_primitives(state)
        dedup_structs(state)
        if flavour == LIBBPF:
            resolve_fwds(state)
        dedup_refs(state)
        mapping = compact_and_remap(state)
        # Freed while the collector is paused: it would otherwise walk all of the state's
        # objects in its first collection after the pause.
        del state
        return mapping


def _start(btf: Btf, ext: Optional[BtfExt], flavour: str) -> DedupState:
    """The state before the first pass: every type described; VAR and DATASEC canonical as they
    are; for split BTF, the base's types canonical and in the table (split types dedup against
    them)."""
    base_types: List[BtfType] = []
    base = btf.base
    while base is not None:
        base_types[:0] = base.types
        base = base.base
    types = [BtfType(0)] + base_types + btf.types
    start = btf.start_id
    graph = describe_types(types, start)
    mapping = [UNPROCESSED] * len(types)
    mapping[0] = 0
    state = DedupState(btf, ext, flavour, graph, types, start, mapping)
    for tid in graph.unwalkable:
        if tid >= start and graph.kinds[tid] in (VAR, DATASEC):
            mapping[tid] = tid
    for tid in range(1, start):
        mapping[tid] = tid
        if graph.kinds[tid] not in (VAR, DATASEC):
            state.table.add(state.key(tid), tid)
    return state
