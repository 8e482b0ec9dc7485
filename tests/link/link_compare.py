"""Views of a linked object that two linkers must agree on: sections, symbols (with their
sections named), relocations (with their symbols named), and BTF in a canonical text form that
does not depend on type ids or type order."""

from __future__ import annotations

import os
from typing import Dict, List, Tuple

from bpf_build.model import btf as B
from bpf_build.model.btf import Btf
from bpf_build.model.elf import SHN_LORESERVE, SHT_NOBITS, SHT_REL, SHT_STRTAB, SHT_SYMTAB, Object


def sections(obj: Object) -> List[tuple]:
    """Name, type, flags, alignment, entry size and contents; tables whose bytes are derived
    (string and symbol tables, relocations, BTF) are compared through the other views."""
    derived = (SHT_NOBITS, SHT_REL, SHT_STRTAB, SHT_SYMTAB)
    return [(s.name, s.type, s.flags, s.addralign, s.entsize,
             b"" if s.type in derived or s.name in (".BTF", ".BTF.ext") else s.data)
            for s in obj.sections[1:]]


def _sec_name(obj: Object, shndx: int) -> str:
    if 0 < shndx < SHN_LORESERVE:
        return obj.sections[shndx].name
    return str(shndx)


def symbols(obj: Object) -> List[tuple]:
    return [(s.name, s.value, s.size, s.bind, s.type, s.visibility, _sec_name(obj, s.shndx))
            for s in obj.symbols[1:]]


def relocations(obj: Object) -> Dict[str, List[tuple]]:
    out = {}
    for s in obj.sections:
        if s.type == SHT_REL:
            out[s.name] = [(r.offset, r.type, obj.symbols[r.symbol].name,
                            _sec_name(obj, obj.symbols[r.symbol].shndx)) for r in s.relocs]
    return out


def canonical_btf(btf: Btf) -> List[str]:
    """Every type as text in which a referenced type appears as its own canonical text; named
    structs/unions/enums/typedefs/FWDs are referred to by kind and name, which cuts cycles.
    The sorted list is the 'set of types' two deduplicated BTFs must share."""
    memo: Dict[int, str] = {}

    def ref(tid: int) -> str:
        if tid == 0:
            return "void"
        t = btf.get(tid)
        if t.name and t.kind in (B.STRUCT, B.UNION, B.ENUM, B.ENUM64, B.FWD, B.TYPEDEF):
            return f"{t.kind_name}:{t.name}"
        return full(tid)

    def full(tid: int) -> str:
        if tid in memo:
            return memo[tid]
        t = btf.get(tid)
        k = t.kind
        parts = [t.kind_name, repr(t.name), f"kflag={int(t.kflag)}"]
        if k in B.SIZED_KINDS:
            parts.append(f"size={t.size}")
        if k == B.INT:
            parts.append(f"enc={t.int_encoding},{t.int_offset},{t.int_bits}")
        if k in (B.FUNC, B.VAR):
            parts.append(f"linkage={t.linkage}")
        if k in B.REF_KINDS:
            parts.append(f"-> {ref(t.type)}")
        if k == B.ARRAY:
            parts.append(f"[{t.nelems}] of {ref(t.type)} idx {ref(t.index_type)}")
        if k == B.DECL_TAG:
            parts.append(f"component={t.component_idx}")
        for m in t.members:
            parts.append(f"{m.name}@{m.offset}:{m.bitfield_size} {ref(m.type)}")
        for e in t.enums:
            parts.append(f"{e.name}={e.value}")
        if k == B.FUNC_PROTO:
            parts.append(f"returns {ref(t.type)}")
            parts += [f"{p.name}: {ref(p.type)}" for p in t.params]
        for v in t.secinfo:
            parts.append(f"{ref(v.type)}@{v.offset}+{v.size}")
        memo[tid] = text = "(" + " ".join(parts) + ")"
        return text

    return sorted(full(tid) for tid, _ in btf.items())


def btf_ext_records(obj: Object) -> List[tuple]:
    """func/line/CO-RE records with strings and type names resolved (source files by base
    name: the same sources compiled in different directories compare equal)."""
    out = []
    if obj.btf_ext is None:
        return out
    strings = obj.btf.strings
    for table, info in zip(("func", "line", "core"), obj.btf_ext.tables()):
        for sec in info.sections:
            for r in sec.records:
                if table == "line":
                    out.append((table, sec.name, r.insn_off,
                                os.path.basename(strings.get(r.file_name_off)),
                                strings.get(r.line_off), r.line_col))
                else:
                    t = obj.btf.get(r.type_id)
                    extra = (strings.get(r.access_str_off), r.kind) if table == "core" else ()
                    out.append((table, sec.name, r.insn_off, t.kind_name, t.name) + extra)
    return out


def differences(a: Object, b: Object) -> List[str]:
    """What differs between two linked objects, in the views above (empty: equivalent)."""
    diffs = []
    for what, view in (("sections", sections), ("symbols", symbols),
                       ("relocations", relocations), ("BTF.ext", btf_ext_records)):
        va, vb = view(a), view(b)
        if va != vb:
            diffs.append(f"{what}: {_first_difference(va, vb)}")
    if (a.btf is None) != (b.btf is None):
        diffs.append("BTF present in only one")
    elif a.btf is not None:
        ca, cb = canonical_btf(a.btf), canonical_btf(b.btf)
        if ca != cb:
            only_a = sorted(set(ca) - set(cb))[:3]
            only_b = sorted(set(cb) - set(ca))[:3]
            diffs.append(f"BTF types: only in first {only_a}, only in second {only_b}")
    return diffs


def _first_difference(va, vb) -> str:
    if isinstance(va, dict):
        keys = sorted(set(va) | set(vb))
        for k in keys:
            if va.get(k) != vb.get(k):
                return f"{k}: {_first_difference(va.get(k) or [], vb.get(k) or [])}"
        return "?"
    for i, (x, y) in enumerate(zip(va, vb)):
        if x != y:
            return f"entry {i}: {x!r} != {y!r}"
    return f"lengths {len(va)} != {len(vb)}"


def first_byte_difference(a: bytes, b: bytes) -> Tuple[int, str]:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i, f"byte {i:#x}: {x:#04x} != {y:#04x}"
    return min(len(a), len(b)), f"lengths {len(a)} != {len(b)}"
