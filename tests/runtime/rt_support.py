"""Support for runtime tests: small BPF programs assembled with bpf_build.insn (tests may use the build
side; the runtime itself never does), and a test-only way to load a clang-compiled program whose
map references point at maps the test created."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from bpf_build import insn as I
from bpf_build.elf import Object

HELPER_MAP_LOOKUP_ELEM = 1
HELPER_GET_CURRENT_PID_TGID = 14


def _count_into(a: I.Assembler, map_fd: int, key: int, skip: str) -> None:
    """counts[key] += 1 on an ARRAY/HASH map of u32 -> u64 that already holds the key."""
    a.emit(I.st_mem(I.W, I.R10, -4, key), I.mov64_reg(I.R2, I.R10), I.alu64_imm(I.ADD, I.R2, -4),
           I.ld_map_fd(I.R1, map_fd), I.call_helper(HELPER_MAP_LOOKUP_ELEM))
    a.jmp_imm(I.JEQ, I.R0, 0, skip)
    a.emit(I.mov64_imm(I.R1, 1), I.atomic_op(I.DW, I.ADD, I.R0, I.R1, 0))


def counter(map_fd: int, *, tgid: Optional[int] = None, ret: int = 0, key: int = 0,
            ctx_u64: Optional[Tuple[int, int]] = None) -> bytes:
    """Count every run into counts[key] and return ``ret``. Only runs in process ``tgid`` count when
    given, and only runs whose context holds ``value`` at ``offset`` when ``ctx_u64=(offset, value)``
    (e.g. the syscall number of a raw sys_enter tracepoint)."""
    a = I.Assembler()
    if ctx_u64 is not None:
        a.emit(I.ldx_mem(I.DW, I.R2, I.R1, ctx_u64[0]))
        a.jmp_imm(I.JNE, I.R2, ctx_u64[1], "out")
    if tgid is not None:
        a.emit(I.call_helper(HELPER_GET_CURRENT_PID_TGID), I.alu64_imm(I.RSH, I.R0, 32))
        a.jmp_imm(I.JNE, I.R0, tgid, "out")
    _count_into(a, map_fd, key, "out")
    a.label("out")
    a.emit(I.mov64_imm(I.R0, ret), I.exit_insn())
    return I.encode(a.finish())


def returns(value: int) -> bytes:
    return I.encode([I.mov64_imm(I.R0, value), I.exit_insn()])


def load_compiled(obj_path: str, function: str, prog_type: int, maps: Dict[str, object] = None, **load_kw):
    """Load the program ``function`` of a clang object; ``ld_imm64`` references to map symbols
    become the fds of ``maps`` (created by the test, by symbol name). Programs must not call
    subprograms (tests use __always_inline helpers)."""
    from bpf_build.runtime import Program

    obj = Object.read(obj_path)
    sym = obj.symbol(function)
    start, end = sym.value, sym.value + sym.size
    insns = I.decode(obj.sections[sym.shndx].data[start:end])
    for rel in obj.relocations_for(sym.shndx):
        if not start <= rel.offset < end:
            continue
        target = obj.symbols[rel.symbol]
        if target.name not in (maps or {}):
            raise KeyError(f"{function}: relocation against '{target.name}' and no map of that name given")
        slot = (rel.offset - start) // 8
        insns[slot].src = I.PSEUDO_MAP_FD
        insns[slot].imm = maps[target.name].fileno()
    load_kw.setdefault("name", function)
    return Program.load(prog_type, I.encode(insns), **load_kw)


def kernel_ids(kind: str):
    """Ids of every prog/map/link in the kernel, through the runtime's own GET_NEXT_ID walk."""
    from bpf_build.runtime import syscall
    from bpf_build.runtime.constants import Cmd

    cmd = {"prog": Cmd.PROG_GET_NEXT_ID, "map": Cmd.MAP_GET_NEXT_ID, "link": Cmd.LINK_GET_NEXT_ID}[kind]
    ids, current = set(), 0
    while True:
        current = syscall.get_next_id(cmd, current)
        if current is None:
            return ids
        ids.add(current)

