"""struct_ops maps in a loader: which program each function-pointer member names, for the runner.

A loader creates a struct_ops map and loads its programs, as libbpf's load does; it writes no
value. The kernel's value layout (struct bpf_struct_ops_<name>) and member indices are only known
where the object loads, so the runner patches the map's and programs' attrs before the run (the
loader contract's "struct_ops" paragraph in runtime/loader_contract.py) and, at attach, stores the
programs' fds in the value it laid out and writes it at key 0 (runtime/struct_ops.py: register),
as libbpf's bpf_map__attach_struct_ops does. So a map whose type refuses registration (such as
bpf_dummy_ops) still loads, and its programs run under BPF_PROG_TEST_RUN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from ..open import OpenedObject
from ..open.struct_ops import StructOps


@dataclass
class StructOpsPlan:
    map_index: int
    ops: StructOps
    prog_indices: List[int]   # the program of each program member (ops.programs), by index


def plan_struct_ops(opened: OpenedObject) -> List[StructOpsPlan]:
    """Every struct_ops map, in map order, with the index of each program member's program."""
    plans = []
    prog_index = {p.name: j for j, p in reversed(list(enumerate(opened.programs)))}
    for i, m in enumerate(opened.maps):
        if m.struct_ops is not None:
            plans.append(StructOpsPlan(i, m.struct_ops, [prog_index[x.program or ""] for x in m.struct_ops.programs]))
    return plans
