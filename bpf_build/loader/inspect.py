"""A human summary of a BPF object: sections, symbols, programs, maps, BTF counts."""

from __future__ import annotations

from typing import List

from ..model import btf as btfmod
from ..model.elf import BIND_NAMES, SHT_LLVM_ADDRSIG, STT_FILE, STT_SECTION, TYPE_NAMES, VIS_NAMES, Object
from ..errors import BpfBuildError
from .open import open_object


def section_type_name(sh_type: int) -> str:
    """readelf's name for a section type (PROGBITS, SYMTAB, LLVM_ADDRSIG...), hex if unknown."""
    from elftools.elf.enums import ENUM_SH_TYPE_BASE
    names = {v: k[len("SHT_"):] for k, v in ENUM_SH_TYPE_BASE.items() if isinstance(v, int) and k.startswith("SHT_")}
    names[SHT_LLVM_ADDRSIG] = "LLVM_ADDRSIG"
    return names.get(sh_type, f"{sh_type:#x}")


def summarize(obj: Object) -> str:
    out: List[str] = []
    out.append(f"object: {obj.path or '<memory>'} ({obj.byteorder}-endian BPF)")
    out.append("sections:")
    for i, s in enumerate(obj.sections):
        if i == 0 or s.name.startswith(".debug_") or s.name.startswith(".rel.debug_"):
            continue
        kind = section_type_name(s.type)
        extra = f" relocs={len(s.relocs)}" if kind == "REL" else ""
        out.append(f"  [{i:2d}] {s.name:<32} {kind:<12} size={s.size} align={s.addralign}{extra}")
    out.append("symbols:")
    for sym in obj.symbols[1:]:
        if sym.type in (STT_SECTION, STT_FILE):
            continue
        where = obj.sections[sym.shndx].name if 0 < sym.shndx < len(obj.sections) else (
            "UNDEF" if sym.shndx == 0 else f"shndx={sym.shndx:#x}")
        out.append(f"  {sym.name:<32} {BIND_NAMES.get(sym.bind, sym.bind):<6} "
                   f"{TYPE_NAMES.get(sym.type, sym.type):<7} {VIS_NAMES.get(sym.visibility, sym.visibility):<7} "
                   f"{where} +{sym.value} size={sym.size}")
    out += _programs_and_maps(obj)
    if obj.btf is not None:
        counts = btfmod.kind_counts(obj.btf)
        out.append(f"btf: {len(obj.btf.types)} types (" + ", ".join(f"{k} {v}" for k, v in counts.items()) + ")")
    if obj.btf_ext is not None:
        ext = obj.btf_ext
        out.append(f"btf.ext: func_info {len(ext.func_info)}, line_info {len(ext.line_info)}, "
                   f"core_relo {len(ext.core_relo)}")
    return "\n".join(out) + "\n"


def _programs_and_maps(obj: Object) -> List[str]:
    """Programs, maps and externs as libbpf's open phase sees them (bpf_build.loader.open)."""
    try:
        opened = open_object(obj)
    except BpfBuildError as refusal:
        return [f"programs, maps: the open phase refuses this object: {refusal.reason}"]
    out = ["programs:"]
    for p in opened.programs:
        extra = "" if p.autoload else " (not autoloaded: SEC(\"?...\"))"
        subs = f" +{', '.join(p.subprograms)}" if p.subprograms else ""
        out.append(f"  {p.name:<32} {p.type_name or '?'} section {p.section} "
                   f"insns={len(p.insns)}{subs}{extra}")
    out.append("maps:")
    for m in opened.maps:
        flags = f" flags={m.map_flags:#x}" if m.map_flags else ""
        what = "global data" if m.is_internal else m.kind
        out.append(f"  {m.name:<32} {m.type_name} key={m.key_size} value={m.value_size} "
                   f"max_entries={m.max_entries}{flags} ({m.section}, {what})")
    if opened.externs:
        out.append("externs:")
        for e in opened.externs:
            kind = f"kconfig {e.kcfg_type}" if e.kind == "kconfig" else \
                ("kfunc/function" if e.is_func else "ksym" + (" (typeless)" if e.typeless else ""))
            out.append(f"  {e.name:<32} {kind}{' weak' if e.weak else ''}")
    return out

