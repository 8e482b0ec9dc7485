"""struct_ops maps in a loader: the blob space the runner fills, and the loader's final update.

The kernel's value layout (struct bpf_struct_ops_<name>) is only known where the object loads,
so the generator reserves room and the runner fills it before the run (the loader contract's
"struct_ops" paragraph in runtime/loader_contract.py): the value with the data members at their
kernel offsets, and a table of the kernel offsets where each program's fd goes. After every
program is loaded the loader stores those fds and updates the map's key 0 with the value, which
registers a legacy ``.struct_ops`` map; a ``.struct_ops.link`` one is attached by the runner.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, List, Optional

from ...model.insn import (ADD, DW, JEQ, JGT, JSLE, R1, R2, R3, R7, W, alu64_reg, call_helper, mov64_imm,
    stx_mem)
from ...runtime.loader_contract import MAP_ELEM_ATTR, STRUCT_OPS_MEMBER_OFFSET, STRUCT_OPS_VALUE_RESERVE
from ...runtime.uapi import Cmd, Helper
from ..open import OpenedObject
from ..open.struct_ops import StructOps
from .blob import Blob, BlobRef, FdTable
from .code import LoaderCode, ld_blob

EINVAL = 22
UNRESOLVED_OFFSET = 0xFFFFFFFF  # a member offset the runner did not write: the loader refuses it


@dataclass
class StructOpsPlan:
    map_index: int
    ops: StructOps
    prog_indices: List[int]   # the program of each program member (ops.programs), by index
    value: BlobRef            # the value the runner lays out, ``reserve`` bytes
    reserve: int
    member_offsets: BlobRef   # u32 per program member: its kernel offset in the value
    update_attr: BlobRef
    key: BlobRef
    delete_attr: Optional[BlobRef]  # legacy maps: unregistered again if a later step fails


def plan_struct_ops(opened: OpenedObject, blob: Blob, byte_order: str,
                    key_zero: Callable[[], BlobRef]) -> List[StructOpsPlan]:
    """Blob space for every struct_ops map, in map order (after everything else)."""
    plans = []
    prog_index = {p.name: j for j, p in reversed(list(enumerate(opened.programs)))}
    for i, m in enumerate(opened.maps):
        ops = m.struct_ops
        if ops is None:
            continue
        reserve = max(STRUCT_OPS_VALUE_RESERVE, 2 * len(ops.data) + 64)
        members = ops.programs
        table = b"".join(struct.pack(byte_order + STRUCT_OPS_MEMBER_OFFSET.formats["offset"], UNRESOLVED_OFFSET)
                         for _ in members)
        plans.append(StructOpsPlan(
            i, ops, [prog_index[x.program or ""] for x in members], blob.add(bytes(reserve), tail=True), reserve,
            blob.add(table), blob.add(bytes(MAP_ELEM_ATTR.size)), key_zero(),
            None if ops.link else blob.add(bytes(MAP_ELEM_ATTR.size))))
    return plans


def struct_ops_update_text(map_name: str) -> str:
    """The update's description, as ``loader explain`` reads it back too."""
    return f"update map \"{map_name[:15]}\" [0] = struct_ops value"


def emit_struct_ops_update(code: LoaderCode, fds: FdTable, sp: StructOpsPlan, map_name: str) -> None:
    """Store each loaded program's fd at the kernel offset the runner wrote, then update key 0."""
    a, i = code.asm, sp.map_index
    code.step("update_map", i, struct_ops_update_text(map_name))
    value_off = code.off(sp.value)
    for k, prog in enumerate(sp.prog_indices):
        skip = f"struct_ops_{i}_{k}"
        code.load_blob(W, R3, FdTable.offset(fds.prog_slot(prog)))
        a.jmp_imm(JEQ, R3, 0, skip)          # not loaded (autoload off): the pointer stays NULL
        code.load_blob(W, R2, code.off(sp.member_offsets) + STRUCT_OPS_MEMBER_OFFSET.size * k)
        a.emit(mov64_imm(R7, -EINVAL))
        a.jmp_imm(JGT, R2, sp.reserve - 8, "cleanup")  # unresolved, or past the reserved value
        a.emit(ld_blob(R1, value_off), alu64_reg(ADD, R1, R2), stx_mem(DW, R1, R3, 0))
        a.label(skip)
    attr = code.attr(sp.update_attr, MAP_ELEM_ATTR)
    code.copy_blob(W, attr["map_fd"], FdTable.offset(i))
    code.set_pointer(attr["key"], sp.key)
    code.set_pointer(attr["value"], sp.value)
    code.sys_bpf(Cmd.MAP_UPDATE_ELEM, sp.update_attr, MAP_ELEM_ATTR.size)
    code.check()


def emit_struct_ops_unregister(code: LoaderCode, plans: List[StructOpsPlan]) -> None:
    """On the clean-up path, before the fds close: delete key 0 of every legacy struct_ops map, so
    that one whose update registered it before a later step failed is unregistered (a registered
    map outlives its fds). r7, the error returned, is kept; a delete that fails changes nothing."""
    a = code.asm
    for sp in plans:
        if sp.delete_attr is None:
            continue
        skip = f"struct_ops_kept_{sp.map_index}"
        code.load_blob(W, R1, FdTable.offset(sp.map_index))
        a.jmp_imm(JSLE, R1, 0, skip)
        attr = code.attr(sp.delete_attr, MAP_ELEM_ATTR)
        code.store_blob(W, attr["map_fd"], R1, scratch=R2)
        code.set_pointer(attr["key"], sp.key)
        a.emit(mov64_imm(R1, Cmd.MAP_DELETE_ELEM), ld_blob(R2, code.off(sp.delete_attr)),
               mov64_imm(R3, MAP_ELEM_ATTR.size), call_helper(Helper.SYS_BPF))
        a.label(skip)
