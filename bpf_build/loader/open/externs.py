"""Open phase 2, libbpf's ``bpf_object__collect_externs``: the object's ``__kconfig`` and
``__ksym`` externs, in libbpf's order, with their BTF rewritten into what the kernel accepts
(no extern VARs or FUNCs in a DATASEC) and the .kconfig layout computed."""

from __future__ import annotations

from typing import List, Tuple

from ...errors import OpenError
from ...model import btf as B
from ...model.elf import SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_NOTYPE
from .model import Extern
from .names import KCONFIG_SEC, KSYMS_SEC
from .state import OpenState

KSYM_SLOT_SIZE = 4  # what each rewritten .ksyms entry becomes: an allocated int


def collect_externs(st: OpenState) -> None:
    """Every undefined global symbol is an extern: sort them as libbpf does, then lay out
    .ksyms and .kconfig."""
    externs: List[Extern] = []
    for si, sym in enumerate(st.obj.symbols):
        if not (si and sym.shndx == SHN_UNDEF and sym.bind in (STB_GLOBAL, STB_WEAK)
                and sym.type == STT_NOTYPE and sym.name):
            continue
        if st.btf is None:
            st.fail(f"extern '{sym.name}' needs BTF, but the object has no .BTF")
        externs.append(_extern_of(st, st.btf, sym.name, si, sym.bind == STB_WEAK))
    externs.sort(key=_libbpf_order)
    st.out.externs = externs
    if st.btf is not None and any(e.kind == "ksym" for e in externs):
        _rewrite_ksyms_datasec(st, st.btf, externs)
    if any(e.kind == "kconfig" for e in externs):
        _lay_out_kconfig(st, st.need_btf(), externs)


def _extern_of(st: OpenState, btf: B.Btf, name: str, sym_index: int, weak: bool) -> Extern:
    btf_id = _find_extern_btf_id(st, btf, name)
    t = btf.type(btf_id)
    sec = _find_extern_datasec(st, btf, btf_id)
    if sec.name == KCONFIG_SEC:
        if t.kind == B.FUNC:
            st.fail(f"extern function '{name}' cannot be in section {KCONFIG_SEC}")
        ext = Extern(t.name, "kconfig", weak, btf_id, sym_index)
        ext.size = btf.resolve_size(t.type)
        if ext.size <= 0:
            st.fail(f"extern (kconfig) '{name}': cannot determine its size")
        ext.align = _align_of(btf, t.type)
        ext.kcfg_type, ext.signed = _kcfg_type(btf, t.type)
        if not ext.kcfg_type:
            st.fail(f"extern (kconfig) '{name}': type is unsupported (use bool, "
                    "char, an integer of 1/2/4/8 bytes, enum libbpf_tristate or a char array)")
        return ext
    if sec.name == KSYMS_SEC:
        ext = Extern(t.name, "ksym", weak, btf_id, sym_index)
        ext.is_func = t.kind == B.FUNC
        ext.ksym_type_id = btf.skip_modifiers(t.type)
        return ext
    st.fail(f"extern '{name}' is in unrecognized section '{sec.name}' "
            f"(expected {KCONFIG_SEC} or {KSYMS_SEC})")


def _libbpf_order(e: Extern) -> Tuple[int, int, int, str]:
    """kconfig externs first, by alignment (largest first), size and name; then ksyms by name."""
    if e.kind == "kconfig":
        return (0, -e.align, e.size, e.name)
    return (1, 0, 0, e.name)


def _rewrite_ksyms_datasec(st: OpenState, btf: B.Btf, externs: List[Extern]) -> None:
    """The kernel accepts neither extern VARs nor extern FUNCs in a DATASEC: libbpf turns each
    into a 4-byte allocated int variable (functions via a shared dummy VAR)."""
    ksym_sec = btf.find(KSYMS_SEC, B.DATASEC)
    if ksym_sec is None:
        return
    names = {e.name for e in externs}
    sec = btf.type(ksym_sec)
    int_id = _find_int32(btf)
    dummy_id = 0
    if any(btf.type(v.type).kind == B.FUNC for v in sec.secinfo):
        dummy_id = btf.add(B.BtfType(B.VAR, "dummy_ksym", type=int_id, linkage=B.VAR_GLOBAL_ALLOCATED))
    off = 0
    for v in sec.secinfo:
        vt = btf.type(v.type)
        if vt.name not in names:
            st.fail(f"no extern symbol for BTF {vt.kind_name} '{vt.name}' in {KSYMS_SEC}")
        if vt.kind == B.FUNC:
            proto = btf.type(vt.type)
            for p in proto.params:
                if p.type and not p.name:
                    p.name, p.name_off = "dummy_ksym", None
            v.type = dummy_id
            vt.linkage = B.FUNC_GLOBAL
        else:
            vt.linkage = B.VAR_GLOBAL_ALLOCATED
            vt.type = int_id
        v.offset, v.size = off, KSYM_SLOT_SIZE
        off += KSYM_SLOT_SIZE
    sec.size = off


def _lay_out_kconfig(st: OpenState, btf: B.Btf, externs: List[Extern]) -> None:
    """Place each kconfig extern at its alignment, in order, and make its VAR allocated."""
    by_name = {e.name: e for e in externs}
    off = 0
    for e in externs:
        if e.kind == "kconfig":
            e.offset = _roundup(off, e.align)
            off = e.offset + e.size
    kconfig_sec = btf.find(KCONFIG_SEC, B.DATASEC)
    if kconfig_sec is None:
        raise KeyError(f"no BTF DATASEC {KCONFIG_SEC}")
    sec = btf.type(kconfig_sec)
    sec.size = off
    for v in sec.secinfo:
        vt = btf.type(v.type)
        if vt.name not in by_name:
            st.fail(f"no extern symbol for BTF VAR '{vt.name}' in {KCONFIG_SEC}")
        vt.linkage = B.VAR_GLOBAL_ALLOCATED
        v.offset = by_name[vt.name].offset


def _find_extern_btf_id(st: OpenState, btf: B.Btf, name: str) -> int:
    for tid, t in btf.items():
        if t.kind not in (B.VAR, B.FUNC) or t.name != name:
            continue
        if (t.kind == B.VAR and t.linkage != B.VAR_GLOBAL_EXTERN) or \
                (t.kind == B.FUNC and t.linkage != B.FUNC_EXTERN):
            st.fail(f"extern '{name}': its BTF {t.kind_name} is not declared extern")
        return tid
    st.fail(f"extern '{name}' has no BTF VAR or FUNC describing it")


def _find_extern_datasec(st: OpenState, btf: B.Btf, btf_id: int) -> B.BtfType:
    for _, t in btf.items():
        if t.kind == B.DATASEC and any(v.type == btf_id for v in t.secinfo):
            return t
    st.fail(f"extern '{btf.type(btf_id).name}' is not in any DATASEC (declare it __kconfig or __ksym)")


def _roundup(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _find_int32(btf: B.Btf) -> int:
    for tid, t in btf.items():
        if t.kind == B.INT and t.int_bits == 32:
            return tid
    return 0


def _align_of(btf: B.Btf, tid: int) -> int:
    """The C alignment of a type (1 for packed structs), as libbpf's btf__align_of."""
    t = btf.get(tid)
    if t is None:
        raise OpenError(None, "cannot align void")
    k = t.kind
    if k in (B.INT, B.ENUM, B.ENUM64, B.FLOAT):
        return min(8, t.size)
    if k == B.PTR:
        return 8
    if k in B.MODIFIER_KINDS or k == B.ARRAY:
        return _align_of(btf, t.type)
    if k in (B.STRUCT, B.UNION):
        max_align = 1
        for m in t.members:
            a = _align_of(btf, m.type)
            max_align = max(max_align, a)
            if not m.bitfield_size and m.offset % (8 * a):
                return 1
        return 1 if t.size % max_align else max_align
    raise OpenError(None, f"type [{tid}] {t.kind_name} has no alignment")


def _kcfg_type(btf: B.Btf, tid: int) -> Tuple[str, bool]:
    """(one of KCFG_TYPES or "" when unsupported, signed) for a kconfig extern's type."""
    t = btf.get(btf.skip_modifiers(tid))
    if t is None:
        return "", False
    if t.kind == B.INT:
        if t.int_encoding & B.INT_BOOL:
            return ("bool" if t.size == 1 else ""), False
        signed = bool(t.int_encoding & B.INT_SIGNED)
        if t.size == 1:
            return "char", signed
        if t.size in (2, 4, 8):
            return "int", signed
        return "", False
    if t.kind in (B.ENUM, B.ENUM64):
        if t.name == "libbpf_tristate" and (t.kind == B.ENUM64 or t.size == 4):
            return "tristate", False
        return "", False
    if t.kind == B.ARRAY:
        if t.nelems and _kcfg_type(btf, t.type)[0] == "char":
            return "char_array", False
    return "", False
