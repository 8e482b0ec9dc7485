"""struct_ops maps in a loader: which program each function-pointer member names, for the runner.

A loader creates a struct_ops map and loads its programs, as libbpf's load does; it writes no
value. The kernel's value layout (struct bpf_struct_ops_<name>) and member indices are only known
where the object loads, so the runner patches the map's and programs' attrs before the run (the
loader contract's "struct_ops" paragraph in runtime/loader_contract.py) and, at attach, stores the
programs' fds in the value it laid out and writes it at key 0 (runtime/struct_ops.py: register),
as libbpf's bpf_map__attach_struct_ops does. So a map whose type refuses registration (such as
bpf_dummy_ops) still loads, and its programs run under BPF_PROG_TEST_RUN.

An optional map's section, ``?.struct_ops``, names a DATASEC that kernels before 6.7 refuse
(only then may a DATASEC name hold any printable character): the BTF the loader loads says
``_.struct_ops`` instead, as libbpf's BTF sanitizing writes it for those kernels. Nothing
looks the DATASEC up by name once the object is open, so every kernel gets the same BTF.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from ...runtime.btf_types import KIND_DATASEC, BtfTypes
from ..open import OpenedObject
from ..open.struct_ops import StructOps

OPTIONAL_MARK, KERNEL_SAFE_MARK = ord("?"), ord("_")


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


def datasec_names_for_every_kernel(raw: bytes) -> bytes:
    """The encoded BTF ``raw`` with each DATASEC name's leading '?' (an optional struct_ops
    map's section) made '_', in place; the same bytes when there is none."""
    if b"\0?" not in raw:
        return raw
    btf = BtfTypes(raw, "the object's BTF")
    out = bytearray(raw)
    for type_id in range(1, len(btf)):
        if btf.kind(type_id) == KIND_DATASEC:
            at = btf.strings_start + btf.name_off(type_id)
            if out[at] == OPTIONAL_MARK:
                out[at] = KERNEL_SAFE_MARK
    return bytes(out)
