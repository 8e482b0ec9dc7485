"""The BTF fix-ups of the open phase (libbpf's ``bpf_object_fixup_btf``, and the linkage flip of
hidden subprograms): what clang leaves unfinished or the kernel verifies differently.

The static linker lays DATASECs out too (link/inputs.py), by other rules, as libbpf's linker.c
does: it always takes sizes and offsets from the ELF, finds a variable's symbol in the DATASEC's
own section whatever its binding, skips non-VAR entries, keeps hidden variables global and does
not sort. The two share no step that would make one function."""

from __future__ import annotations

from typing import Optional

from ...model import btf as B
from ...model.elf import STB_GLOBAL, STB_WEAK, STT_OBJECT, STV_HIDDEN, STV_INTERNAL, Object, Symbol
from .names import KCONFIG_SEC, KSYMS_SEC
from .state import OpenState


def fixup_datasecs(st: OpenState) -> None:
    """Fill in what clang leaves at zero in DATASECs (size, variable offsets) from the ELF,
    make hidden global variables static, and sort variables by offset.

    Only a DATASEC of size 0 gets its layout from the ELF (the static linker's output already
    has one); .kconfig and .ksyms were laid out by the externs phase and are only sorted."""
    btf = st.btf
    if btf is None:
        return
    for _, t in btf.items():
        if t.kind != B.DATASEC:
            continue
        if t.name not in (KCONFIG_SEC, KSYMS_SEC):
            _fixup_datasec(st, btf, t)
        t.secinfo.sort(key=lambda v: v.offset)


def _fixup_datasec(st: OpenState, btf: B.Btf, t: B.BtfType) -> None:
    fixup_offsets = False
    if t.size == 0:
        sec = st.obj.section(t.name)
        if sec is None or sec.size == 0:
            st.fail(f"BTF DATASEC '{t.name}' has no matching non-empty ELF section")
        t.size = sec.size
        fixup_offsets = True
    for v in t.secinfo:
        var = btf.get(v.type)
        if var is None or var.kind != B.VAR:
            st.fail(f"BTF DATASEC '{t.name}' holds a non-VAR type [{v.type}]")
        if var.linkage in (B.VAR_STATIC, B.VAR_GLOBAL_EXTERN):
            continue
        sym = _global_object_symbol(st.obj, var.name)
        if sym is None:
            st.fail(f"BTF DATASEC '{t.name}': no ELF symbol for variable '{var.name}'")
        if fixup_offsets:
            v.offset = sym.value
        if sym.visibility in (STV_HIDDEN, STV_INTERNAL):
            var.linkage = B.VAR_STATIC


def _global_object_symbol(obj: Object, name: str) -> Optional[Symbol]:
    """The global or weak STT_OBJECT symbol ``name``, in whatever section (libbpf's
    find_elf_var_sym)."""
    for sym in obj.symbols[1:]:
        if sym.name == name and sym.type == STT_OBJECT and sym.bind in (STB_GLOBAL, STB_WEAK):
            return sym
    return None


def mark_hidden_subprograms_static(st: OpenState) -> None:
    """Hidden global subprograms are verified as static ones (more context for the
    verifier): libbpf flips their BTF FUNC linkage, and so do we."""
    if st.btf is None:
        return
    for sub in st.out.subprograms:
        if not (sub.is_global and sub.hidden):
            continue
        for _, t in st.btf.items():
            if t.kind == B.FUNC and t.linkage == B.FUNC_GLOBAL and t.name == sub.name:
                t.linkage = B.FUNC_STATIC
                break
