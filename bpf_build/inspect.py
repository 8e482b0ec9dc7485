"""A human summary of a BPF object: sections, symbols, programs, maps, BTF counts."""

from __future__ import annotations

from typing import List

from . import btf as btfmod
from .elf import (BIND_NAMES, SHT_NOBITS, SHT_PROGBITS, SHT_REL, STB_LOCAL, STT_FUNC, STT_OBJECT,
                  STT_SECTION, STT_FILE, TYPE_NAMES, VIS_NAMES, Object)

GLOBAL_DATA_PREFIXES = (".data", ".rodata", ".bss", ".kconfig")


def _is_data_section(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in GLOBAL_DATA_PREFIXES)


def summarize(obj: Object) -> str:
    out: List[str] = []
    out.append(f"object: {obj.path or '<memory>'} ({obj.byteorder}-endian BPF)")
    out.append("sections:")
    for i, s in enumerate(obj.sections):
        if i == 0 or s.name.startswith(".debug_") or s.name.startswith(".rel.debug_"):
            continue
        kind = {SHT_PROGBITS: "PROGBITS", SHT_NOBITS: "NOBITS", SHT_REL: "REL"}.get(s.type, str(s.type))
        extra = f" relocs={len(s.relocs)}" if s.type == SHT_REL else ""
        out.append(f"  [{i:2d}] {s.name:<32} {kind:<8} size={s.size} align={s.addralign}{extra}")
    out.append("symbols:")
    for s in obj.symbols[1:]:
        if s.type in (STT_SECTION, STT_FILE):
            continue
        where = obj.sections[s.shndx].name if 0 < s.shndx < len(obj.sections) else (
            "UNDEF" if s.shndx == 0 else f"shndx={s.shndx:#x}")
        out.append(f"  {s.name:<32} {BIND_NAMES.get(s.bind, s.bind):<6} {TYPE_NAMES.get(s.type, s.type):<7} "
                   f"{VIS_NAMES.get(s.visibility, s.visibility):<7} {where} +{s.value} size={s.size}")
    out.append("programs:")
    for s in obj.symbols[1:]:
        if s.type == STT_FUNC and s.bind != STB_LOCAL and 0 < s.shndx < len(obj.sections):
            sec = obj.sections[s.shndx]
            if sec.is_code and sec.name != ".text":
                out.append(f"  {s.name:<32} section {sec.name} insns={s.size // 8}")
    out.append("maps:")
    maps_idx = obj.section_index(".maps")
    for s in obj.symbols[1:]:
        if maps_idx is not None and s.shndx == maps_idx and s.type == STT_OBJECT:
            out.append(f"  {s.name:<32} (.maps)")
    for s in obj.sections:
        if _is_data_section(s.name) and s.type in (SHT_PROGBITS, SHT_NOBITS):
            out.append(f"  {s.name:<32} (global data, {s.size} bytes)")
    if obj.btf is not None:
        counts = btfmod.kind_counts(obj.btf)
        out.append(f"btf: {len(obj.btf.types)} types (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
    if obj.btf_ext is not None:
        e = obj.btf_ext
        out.append(f"btf.ext: func_info {len(e.func_info)}, line_info {len(e.line_info)}, core_relo {len(e.core_relo)}")
    return "\n".join(out) + "\n"
