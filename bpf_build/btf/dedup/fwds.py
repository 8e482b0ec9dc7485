"""Pass 4 (libbpf 1.1, not bpftool 7.1): a forward declaration still unresolved maps to the
struct/union of its name if there is exactly one."""

from __future__ import annotations

from typing import Dict

from ...model.btf import FWD, STRUCT, UNION
from .state import DedupState


def resolve_fwds(state: DedupState) -> None:
    graph, m = state.graph, state.map
    kinds, names = graph.kinds, graph.names
    by_name: Dict[int, int] = {}  # name offset -> its struct/union
    for tid in graph.composites:
        if m[tid] == tid:
            name = names[tid]
            by_name[name] = 0 if name in by_name else tid  # 0: ambiguous
    for tid in graph.own_primitives:
        if kinds[tid] != FWD or m[tid] != tid:
            continue
        cand = by_name.get(names[tid], 0)
        if cand and kinds[cand] == (UNION if state.kflag(tid) else STRUCT):
            m[tid] = cand
