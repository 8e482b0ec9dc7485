"""Which record size each ring buffer / perf buffer map receives, read off the programs' calls.

A Python skeleton types the records of a ring or perf buffer when that is unambiguous: every
``bpf_ringbuf_reserve(&map, SIZE, ...)``, ``bpf_ringbuf_output(&map, data, SIZE, ...)`` and
``bpf_perf_event_output(ctx, &map, flags, data, SIZE)`` of the object names the same constant
size, and one struct of the object has that size. This module finds the sizes: a forward walk
over each program's instructions that knows a register's value only when a ``mov`` of a constant
or a map load put it there in the same straight-line stretch (any jump target forgets everything),
which is how clang emits these calls. Anything less certain yields no size, never a wrong one.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

from ..model.insn import ALU, ALU64, ATOMIC, CALL, EXIT, JA, JMP, JMP32, LD, LDX, MOV, STX, X, Insn
from ..loader.open import OpenedObject
from ..runtime.uapi import Helper

HELPER_PERF_EVENT_OUTPUT, HELPER_RINGBUF_OUTPUT, HELPER_RINGBUF_RESERVE = (
    Helper.PERF_EVENT_OUTPUT, Helper.RINGBUF_OUTPUT, Helper.RINGBUF_RESERVE)
# helper id -> (register holding the map, register holding the size)
_SENDS: Dict[int, Tuple[int, int]] = {HELPER_PERF_EVENT_OUTPUT: (2, 5), HELPER_RINGBUF_OUTPUT: (1, 3),
                                       HELPER_RINGBUF_RESERVE: (1, 2)}

Known = Tuple[str, int]    # ("map", map index) or ("imm", value)


def record_sizes(opened: OpenedObject) -> Dict[str, int]:
    """Map name -> the one constant size every send to it uses (maps with none or several are
    left out)."""
    sizes: Dict[int, Set[Optional[int]]] = {}
    for prog in opened.programs:
        maps_at = {r.insn_idx: r.map_index for r in prog.relocations if r.kind == "map"}
        for map_index, size in _sends(prog.insns, maps_at):
            sizes.setdefault(map_index, set()).add(size)
    constant: Dict[str, int] = {}
    for i, s in sizes.items():
        size = next(iter(s)) if len(s) == 1 else None
        if size is not None:
            constant[opened.maps[i].name] = size
    return constant


def _sends(insns: List[Insn], maps_at: Dict[int, int]):
    """(map index, size or None) for each call of a sending helper whose map is known."""
    targets = _jump_targets(insns)
    regs: Dict[int, Known] = {}
    i = 0
    while i < len(insns):
        if i in targets:
            regs = {}
        insn = insns[i]
        cls = insn.cls
        if insn.is_ld_imm64:
            regs.pop(insn.dst, None)
            if i in maps_at:
                regs[insn.dst] = ("map", maps_at[i])
            i += 2
            continue
        if insn.is_call and insn.src == 0:
            send = _SENDS.get(insn.imm)  # (map register, size register) of a sending helper
            if send is not None and regs.get(send[0], ("", 0))[0] == "map":
                map_reg, size_reg = send
                size = regs.get(size_reg)
                yield regs[map_reg][1], size[1] if size and size[0] == "imm" else None
            for reg in range(6):  # the call clobbers r0-r5
                regs.pop(reg, None)
        elif cls in (ALU, ALU64) and insn.op == MOV and not insn.code & X:
            regs[insn.dst] = ("imm", insn.imm & 0xFFFFFFFF if cls == ALU else insn.imm)
        elif cls == ALU64 and insn.op == MOV and insn.off == 0 and insn.src in regs:
            regs[insn.dst] = regs[insn.src]
        elif cls in (ALU, ALU64, LD, LDX):
            regs.pop(insn.dst, None)
        elif cls == STX and insn.code & 0xE0 == ATOMIC:
            regs.pop(insn.src, None)  # fetching atomics write their source register
            regs.pop(0, None)         # cmpxchg writes r0
        i += 1


def _jump_targets(insns: List[Insn]) -> Set[int]:
    targets = set()
    for i, insn in enumerate(insns):
        if insn.cls in (JMP, JMP32) and insn.op not in (CALL, EXIT):
            targets.add(i + 1 + (insn.imm if insn.cls == JMP32 and insn.op == JA else insn.off))
    return targets
