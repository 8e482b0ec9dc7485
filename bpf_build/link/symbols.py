"""Phase 3 for each input (libbpf's linker_append_elf_syms): the input's symbols join the output's
symbol table. Local symbols are copied; a global, weak or extern symbol is resolved against the
global of its name: an extern meets its definition, strong beats weak, the first weak wins, two
strong definitions conflict, and the two BTF descriptions must match (see mismatch.py).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..errors import LinkError
from ..model import btf as B
from ..model.btf import Btf, BtfType
from ..model.elf import SHN_LORESERVE, SHN_UNDEF, STB_GLOBAL, STB_LOCAL, STB_WEAK, STT_SECTION, Symbol
from .inputs import EXTERN_DATASEC
from .mismatch import btf_mismatch, map_defs_mismatch
from .state import GlobalBtfIndex, GlobalSymbol, InputSection, InputView, LinkerState, OutputSection
from .words_btf import WordsBtf

MAPS_SECTION = ".maps"


def append_symbols(state: LinkerState, src: InputView) -> None:
    symbols = src.obj.symbols
    src.sym_map = [0] * len(symbols)
    for i in range(1, len(symbols)):
        _append_symbol(state, src, symbols[i], i)


def is_non_static(t: BtfType) -> bool:
    """A VAR or FUNC that other inputs can see: what a global symbol's BTF is."""
    return ((t.kind == B.VAR and t.linkage != B.VAR_STATIC)
            or (t.kind == B.FUNC and t.linkage != B.FUNC_STATIC))


def _append_symbol(state: LinkerState, src: InputView, sym: Symbol, src_idx: int) -> None:
    file = src.file
    src_sec: Optional[InputSection] = None
    dst_sec: Optional[OutputSection] = None
    is_extern = sym.shndx == SHN_UNDEF
    if is_extern:
        if src.btf is None:
            raise LinkError(file, f"extern '{sym.name}' has no BTF (externs need BTF; compile with -g)")
    elif sym.shndx < SHN_LORESERVE:
        src_sec = src.by_index[sym.shndx]
        if src_sec.skipped:
            return
        dst_sec = src_sec.dst
        if dst_sec is None:  # .BTF, .symtab, a relocation section: nothing a symbol can mark
            what = f"symbol '{sym.name}'" if sym.name else f"section symbol {src_idx}"
            raise LinkError(file, f"{what} is defined in section '{src_sec.name}', which is not linked")
        if sym.type == STT_SECTION and dst_sec.sec_sym_idx:
            src.sym_map[src_idx] = dst_sec.sec_sym_idx  # one section symbol per section
            return
    if sym.bind == STB_LOCAL:
        _new_symbol(state, src, sym, src_idx, src_sec, dst_sec)
        return

    datasec_id, btf_id = _find_global_btf(src, sym.name)
    if is_extern and datasec_id:
        sec_name = src.known_btf.type(datasec_id).name
        if sec_name != EXTERN_DATASEC:
            src_sec = src.by_name.get(sec_name)
            if src_sec is None:
                raise LinkError(file, f"extern '{sym.name}' is in BTF section '{sec_name}', "
                                      f"which has no ELF section")
            dst_sec = src_sec.dst

    glob = state.global_symbols.get(sym.name)
    if glob is None:
        idx = _new_symbol(state, src, sym, src_idx, src_sec, dst_sec)
        state.global_symbols[sym.name] = GlobalSymbol(idx, dst_sec, sym.name, is_extern,
                                                      sym.bind == STB_WEAK, file)
        return

    src.sym_map[src_idx] = glob.sym_idx
    _merge_into_global(state, src, sym, glob, btf_id, src_sec, dst_sec)


def _merge_into_global(state: LinkerState, src: InputView, sym: Symbol, glob: GlobalSymbol, btf_id: int,
                       src_sec: Optional[InputSection], dst_sec: Optional[OutputSection]) -> None:
    """``sym`` names a global an earlier input has: check they can be one, then let the output
    symbol take the stronger binding, the stricter visibility and, from a definition that
    replaces an extern or a weak one, its place and type."""
    file, is_extern = src.file, sym.shndx == SHN_UNDEF
    if not is_extern and not glob.is_extern and not glob.is_weak and sym.bind != STB_WEAK:
        raise LinkError(file, f"symbol '{sym.name}' is already defined in {glob.file} "
                              f"(two strong definitions; make one of them __weak)")
    _check_global_match(state, src, glob, btf_id)

    dst_sym = state.symbols[glob.sym_idx]
    if sym.bind == STB_GLOBAL:  # strong wins: a mix of weak and strong ends up strong
        dst_sym.bind = STB_GLOBAL
        glob.is_weak = False
    if sym.visibility > dst_sym.visibility:  # the stricter visibility is contagious
        dst_sym.visibility = sym.visibility
    if is_extern:
        return
    if not glob.is_extern and sym.bind == STB_WEAK:
        return  # the existing definition stays: first weak wins, strong beats weak
    # This definition replaces an extern or a weak definition.
    if src_sec is None or dst_sec is None:  # SHN_ABS, SHN_COMMON: no section to point into
        raise LinkError(file, f"global '{sym.name}' is defined outside any section "
                              f"(section index {sym.shndx:#x}), which is not supported")
    dst_sym.type = sym.type
    dst_sym.shndx = dst_sec.elf_index
    dst_sym.value = src_sec.dst_off + sym.value
    dst_sym.size = sym.size
    glob.sec = dst_sec
    glob.is_extern = False
    glob.file = file
    _complete_extern_btf(state.btf, glob, src.known_btf, btf_id)
    glob.underlying_id = None  # take the type from this input's VAR/FUNC


def _new_symbol(state: LinkerState, src: InputView, sym: Symbol, src_idx: int,
                src_sec: Optional[InputSection], dst_sec: Optional[OutputSection]) -> int:
    state.strtab_order.append(sym.name)
    new = Symbol(sym.name, (src_sec.dst_off if src_sec is not None else 0) + sym.value,
                 sym.size, sym.bind, sym.type, sym.visibility,
                 dst_sec.elf_index if dst_sec is not None else sym.shndx)
    state.symbols.append(new)
    idx = len(state.symbols) - 1
    src.sym_map[src_idx] = idx
    if sym.type == STT_SECTION and dst_sec is not None:
        dst_sec.sec_sym_idx = idx
        new.value = 0
    return idx


def _complete_extern_btf(dst_btf: WordsBtf, glob: GlobalSymbol, src_btf: Btf, src_id: int) -> None:
    """The resolved extern's VAR/FUNC becomes a definition; an extern FUNC's prototype gets
    the argument names the definition has, so that dedup sees them equal."""
    words = dst_btf.words
    at = dst_btf.word_at(glob.btf_id)
    if dst_btf.kinds[glob.btf_id - 1] == B.VAR:
        words[at + 3] = B.VAR_GLOBAL_ALLOCATED
        return
    words[at + 1] = B.FUNC << 24 | B.FUNC_GLOBAL  # kind_flag cleared; a FUNC's vlen is its linkage
    src_proto = src_btf.type(src_btf.type(src_id).type)
    proto_at = dst_btf.word_at(words[at + 2])
    for n, sp in enumerate(src_proto.params):
        if n >= words[proto_at + 1] & 0xFFFF:
            break
        if sp.name:
            words[proto_at + 3 + 2 * n] = dst_btf.strings.add(sp.name)


def _check_global_match(state: LinkerState, src: InputView, glob: GlobalSymbol, btf_id: int) -> None:
    file, name = src.file, glob.name
    if not glob.btf_id or not btf_id:
        raise LinkError(file, f"global '{name}' has no BTF here or in {glob.file} (compile with -g)")
    src_btf = src.known_btf
    src_t = src_btf.type(btf_id)
    if src_t.kind not in (B.VAR, B.FUNC):
        raise LinkError(file, f"global '{name}' is a BTF {src_t.kind_name}; only variables "
                              f"and functions can be shared")
    if glob.sec is not None and glob.sec.name == MAPS_SECTION:
        why = map_defs_mismatch(name, state.btf, glob.btf_id, src_btf, btf_id)
    else:
        why = btf_mismatch(state.btf, glob.btf_id, src_btf, btf_id, exact=True)
    if why:
        raise LinkError(file, f"global '{name}' does not match {glob.file}: {why}")


# -- a global's BTF in its input ---------------------------------------------------------------

def _find_global_btf(src: InputView, name: str) -> Tuple[int, int]:
    """(DATASEC id or 0, VAR/FUNC id) describing global ``name``, as libbpf looks it up:
    the first DATASEC entry wins; a free-standing VAR/FUNC (extern functions) otherwise."""
    if src.btf is None:
        raise LinkError(src.file, f"global '{name}' has no BTF (compile with -g)")
    if src.global_btf is None:
        src.global_btf = _index_global_btf(src.btf, src.linkable_ids)
    free, in_datasec = src.global_btf
    entry = in_datasec.get(name)
    if entry is not None:
        datasec_id, var_id, free_before = entry
        if free_before and free_before != var_id:
            raise LinkError(src.file, f"BTF of global '{name}' is ambiguous: types "
                                      f"[{free_before}] and [{var_id}] both match")
        return datasec_id, var_id
    btf_id = free.get(name)
    if btf_id:
        return 0, btf_id
    raise LinkError(src.file, f"global '{name}' has no BTF (compile with -g)")


def _index_global_btf(btf: Btf, linkable_ids: List[int]) -> GlobalBtfIndex:
    free: Dict[str, int] = {}
    in_datasec: Dict[str, Tuple[int, int, int]] = {}
    for tid in linkable_ids:
        t = btf.type(tid)
        k = t.kind
        if k == B.VAR or k == B.FUNC:
            if is_non_static(t):
                free[t.name] = tid
        elif k == B.DATASEC:
            for v in t.secinfo:
                vt = btf.get(v.type)
                if vt is not None and is_non_static(vt) and vt.name not in in_datasec:
                    in_datasec[vt.name] = (tid, v.type, free.get(vt.name, 0))
    return free, in_datasec
