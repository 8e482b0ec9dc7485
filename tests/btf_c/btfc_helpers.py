"""Helpers for BTF-to-C tests: clang checks of rendered headers, layout assertions derived from
BTF."""

from __future__ import annotations

import os
import subprocess

from bpf_build.model.btf import ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, PTR, STRUCT, UNION, Btf
from bpf_build.btf.c import CWriter, render_header
from bpf_build.errors import BtfError
from bpf_build.project.compile import find_clang

from bpf_build.cli.commands.vmlinux import SYSFS_BTF
from tests.skel_c import userland  # noqa: F401  (re-exported for the btf_c tests)

VMLINUX = f"{SYSFS_BTF}/vmlinux"


def clang_check(source: str, directory, name: str = "check", syntax_only: bool = True,
                extra=()) -> str:
    """Compile ``source`` for the BPF target with the real clang; fail with its diagnostics."""
    path = os.path.join(directory, f"{name}.c")
    with open(path, "w") as f:
        f.write(source)
    out = os.path.join(directory, f"{name}.o")
    argv = [find_clang().path, "-target", "bpf", "-O2", "-g", "-Werror", "-Wall",
            "-Wno-unused-variable", *extra, f"-I{directory}"]
    argv += ["-fsyntax-only", path] if syntax_only else ["-c", path, "-o", out]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, f"clang rejected {path}:\n{proc.stderr[:4000]}"
    return out


def _embeds_compiler_builtin(btf: Btf, tid: int, seen=None) -> bool:
    """True if the type's size depends on a compiler built-in (va_list is 8 bytes for BPF,
    24 on x86-64: no header can reproduce the kernel's layout for it)."""
    seen = set() if seen is None else seen
    if tid == 0 or tid in seen:
        return False
    seen.add(tid)
    t = btf.get(tid)
    if t.name == "__builtin_va_list":
        return True
    if t.kind in (STRUCT, UNION):
        return any(_embeds_compiler_builtin(btf, m.type, seen) for m in t.members)
    if t.kind in (INT, PTR, ENUM, ENUM64, FWD, FUNC_PROTO, FLOAT):  # nothing embedded beyond
        return False
    return _embeds_compiler_builtin(btf, t.type, seen)


def _member_offsets(btf: Btf, t, base: int = 0):
    """(designator, bit offset) of every byte-addressable named member, looking through
    anonymous struct/union members as C does."""
    for m in t.members:
        if m.bitfield_size:
            continue
        if not m.name:
            inner = btf.get(btf.skip_modifiers(m.type)) if m.type else None
            if inner is not None and inner.kind in (STRUCT, UNION):
                yield from _member_offsets(btf, inner, base + m.offset)
            continue
        yield m.name, base + m.offset


def layout_asserts(btf: Btf, writer: CWriter) -> str:
    """_Static_asserts that every named struct/union has the size and member offsets BTF says."""
    lines = []
    for tid, t in btf.items():
        if t.kind not in (STRUCT, UNION) or not t.name or _embeds_compiler_builtin(btf, tid):
            continue
        spelled = f"{'struct' if t.kind == STRUCT else 'union'} {writer.type_name(tid)}"
        lines.append(f'_Static_assert(sizeof({spelled}) == {t.size}, "size of {spelled}");')
        for designator, bits in _member_offsets(btf, t):
            if bits % 8 == 0:
                lines.append(f"_Static_assert(__builtin_offsetof({spelled}, {designator}) == "
                             f'{bits // 8}, "{spelled}.{designator}");')
    return "\n".join(lines) + "\n"


def short_way_spells_as_the_general_walk(btf: Btf, path=None) -> int:
    """Check that a writer spelling the usual declarations the short way (Declarator._plain_parts)
    writes, for every type of ``btf`` with a name and without, what a writer always taking the
    general walk writes, naming (de-duplicating) the same types in the same order, and then the
    same whole header. Returns how many declarations took the short way."""
    short, general = CWriter(btf, path), CWriter(btf, path)
    taken = []
    short_parts = short._decl._plain_parts

    def counted(tid: int, lvl: int):
        parts = short_parts(tid, lvl)
        taken.append(parts is not None)
        return parts
    setattr(short._decl, "_plain_parts", counted)
    setattr(general._decl, "_plain_parts", lambda tid, lvl: None)

    def spelled(writer: CWriter, tid: int, name: str) -> str:
        try:
            return writer.declaration(tid, name)
        except BtfError as e:  # e.g. a type tag with no C spelling: the same error both ways
            return f"error: {e}"
    for tid in short.table.c_type_ids():
        assert spelled(short, tid, "x") == spelled(general, tid, "x"), tid
        assert spelled(short, tid, "") == spelled(general, tid, ""), tid
    assert render_header(btf, path=path, writer=short) == render_header(btf, path=path, writer=general)
    return sum(taken)
