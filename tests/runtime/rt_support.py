"""Support for runtime tests: small BPF programs assembled with bpf_build.model.insn (tests may use the build
side; the runtime itself never does), and a test-only way to load a clang-compiled program whose
map references point at maps the test created."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

from bpf_build.model import insn as I
from bpf_build.model.elf import Object
from bpf_build.runtime.uapi import Helper

HELPER_MAP_LOOKUP_ELEM = Helper.MAP_LOOKUP_ELEM
HELPER_GET_CURRENT_PID_TGID = Helper.GET_CURRENT_PID_TGID


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


def ensure_tracefs() -> bool:
    """Tracepoint ids come from tracefs; mount it if the machine has not. True when usable."""
    import os
    import subprocess

    if not os.path.isdir("/sys/kernel/tracing/events"):
        subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"], capture_output=True)
    return os.path.isdir("/sys/kernel/tracing/events")


def kernel_ids(kind: str):
    """Ids of every prog/map/link in the kernel, through the runtime's own GET_NEXT_ID walk."""
    from bpf_build.runtime import syscall
    from bpf_build.runtime.uapi import Cmd

    cmd = {"prog": Cmd.PROG_GET_NEXT_ID, "map": Cmd.MAP_GET_NEXT_ID, "link": Cmd.LINK_GET_NEXT_ID}[kind]
    ids, current = set(), 0
    while True:
        current = syscall.get_next_id(cmd, current)
        if current is None:
            return ids
        ids.add(current)



def loader_spec(obj_path: str):
    """The runtime's LoaderSpec for a compiled object, through the build side's generator (what a
    generated skeleton embeds as literals)."""
    from bpf_build.loader.gen import loader_for_object
    from bpf_build.runtime.loader import KconfigSpec, LoaderSpec, MapSpec, ProgSpec, StepSpec

    L = loader_for_object(Object.read(obj_path))
    return LoaderSpec(
        L.insns_bytes(), L.blob,
        [MapSpec(m.name, m.ident, m.kind, m.type, m.key_size, m.value_size, m.max_entries, m.map_flags,
                 m.initial_value, m.frozen, offset) for m, offset in zip(L.maps, L.map_attr_offsets)],
        [ProgSpec(p.name, p.section, p.type, p.expected_attach_type, p.attach_target, p.autoload, offset)
         for p, offset in zip(L.progs, L.prog_attr_offsets)],
        L.kconfig_map,
        [KconfigSpec(k.name, k.kcfg_type, k.size, k.offset, k.signed, k.weak) for k in L.kconfig],
        [StepSpec(op.kind, op.index, op.text) for op in L.ops])


def object_names(kind: str, ids) -> Dict[int, str]:
    """Names of the kernel objects with these ids that still exist."""
    from bpf_build.runtime import Map, Program

    cls = {"prog": Program, "map": Map}[kind]
    names = {}
    for object_id in ids:
        try:
            with cls.from_id(object_id) as obj:
                names[object_id] = obj.name
        except OSError:
            pass  # gone meanwhile
    return names


def wait_until_gone(before: Dict[str, set], names: set, timeout: float = 10.0) -> Dict[int, str]:
    """Wait until no prog/map created since ``before`` (kind -> ids) and named in ``names`` exists;
    returns the leftovers (empty when clean). The kernel frees objects held by a sleepable program
    only after an RCU tasks-trace grace period, so 'closed' becomes 'gone' a little later."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        left = {}
        for kind, ids in before.items():
            new = kernel_ids(kind) - ids
            left.update({i: n for i, n in object_names(kind, new).items() if n in names})
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
