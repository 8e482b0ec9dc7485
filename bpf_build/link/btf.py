"""Phase 5 for each input (libbpf's linker_append_btf): the input's BTF types are appended to the
output BTF, renumbered, in libbpf's order (which makes the output byte-identical to bpftool's).

A global's VAR/FUNC is kept once: the first input's record stands for every later one, and a
resolved extern takes its type from the definition. The input's DATASECs are not copied: their
entries go to the output sections' variable lists, from which the finalize phase builds one
DATASEC per section.

Every type is appended, even one equal to a type an earlier input brought: inputs built
against one vmlinux.h repeat most of theirs (20 such objects: 65% of 51k types are exact
duplicates of earlier ones), and dropping those here would spare dedup most of its work, but
it is not provably output-neutral. libbpf's struct walk compares candidate ids as they are,
not by content (a canonical type paired with two different candidates fails the walk), and
reference types are still unprocessed then, so the walk descends into a duplicate's graph
where the type it duplicates would have ended the walk at once; clang also emits identical
anonymous types apart within one object (~20 an object here). On these inputs the output
came out the same without the duplicates (dedup 217 -> 80 ms), but that is not a proof.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from ..errors import BpfBuildError, LinkError
from ..model import btf as B
from ..model.btf import Btf, BtfType, VarSecinfo
from .state import GlobalSymbol, InputView, LinkerState, OutputSection
from .symbols import is_non_static

_ONE_REF = B.REF_KINDS  # kinds whose only referenced id is ``type``
_COMPOSITE = (B.STRUCT, B.UNION)


def append_btf(state: LinkerState, src: InputView) -> None:
    if src.btf is None:
        return
    type_map, appended = _map_type_ids(state, src.btf, src.linkable_ids)
    _copy_types(state, src, type_map, appended)
    _settle_global_types(state, type_map)
    _append_datasec_entries(state, src, type_map)
    src.type_map = type_map


def _map_type_ids(state: LinkerState, src_btf: Btf, linkable_ids: List[int]) -> Tuple[List[int], List[BtfType]]:
    """The output id of every input type (appended, or the BTF of a global seen before), and
    the types to append, in order. DATASECs map to 0. Every type between two VARs, FUNCs or
    DATASECs is appended: such a run is mapped at once."""
    types, start = src_btf.types, src_btf.start_id
    end = len(src_btf)
    type_map = [0] * end
    appended: List[BtfType] = []
    next_id = len(state.btf)
    run_start = start  # the first id of the run of ordinary types before ``tid``
    for tid in (*linkable_ids, end):
        if tid > run_start:
            count = tid - run_start
            type_map[run_start:tid] = range(next_id, next_id + count)
            appended += types[run_start - start:tid - start]
            next_id += count
        if tid == end:
            break
        run_start = tid + 1
        t = types[tid - start]
        k = t.kind
        if k == B.DATASEC:
            continue
        glob = None
        if (k == B.VAR or k == B.FUNC) and is_non_static(t):
            glob = state.global_symbols.get(t.name)
            if glob is None:
                continue  # a VAR of a deduplicated section (license, version)
            if glob.underlying_id is None:
                glob.pending_src_id = t.type
            if glob.btf_id:
                type_map[tid] = glob.btf_id
                continue
        type_map[tid] = next_id
        appended.append(t)
        if glob is not None:
            glob.btf_id = next_id
            glob.pending_src_id = t.type
        next_id += 1
    return type_map, appended


def _copy_types(state: LinkerState, src: InputView, type_map: List[int], appended: List[BtfType]) -> None:
    """Append ``appended``, referring to the output's ids, their names added in libbpf's order
    (the output's string table is never rebuilt, so this order is the final one). An owned
    input's records move instead of being copied.

    Each name becomes the one string object the output keeps for its text (the lookup that
    finds its offset gives it): inputs built against one vmlinux.h repeat thousands of names,
    which each input's parse made anew (20 such inputs: 6 MiB less at the peak)."""
    file = src.file

    def remap(old: int) -> int:
        new = type_map[old]
        if new == 0 and old != 0:
            raise LinkError(file, f"BTF type [{old}] is referenced but was not carried over")
        return new

    dst_btf = state.btf
    copy, add_type = not src.owned, dst_btf.types.append
    names = state.btf_names
    known = names.get

    def first_use(name: str) -> Tuple[str, int]:
        entry = names[name] = (name, dst_btf.strings.add(name))
        return entry

    # The type's name, then its entries' names in order (each struct member's and parameter's
    # with its type id, in one pass over the entries); every kind's ids remapped here, without
    # a call a record (a third of the records are forwards, prototypes and arrays).
    for t in appended:
        new = t.copy() if copy else t
        k = new.kind
        if new.name:  # half the records (pointers, modifiers, prototypes, arrays) have none
            new.name, new.name_off = known(new.name) or first_use(new.name)
        else:
            new.name_off = 0
        if k in _ONE_REF:
            new.type = type_map[new.type] or remap(new.type)
        elif k in _COMPOSITE:
            for m in new.members:
                m.name, m.name_off = known(m.name) or first_use(m.name)
                m.type = type_map[m.type] or remap(m.type)
        elif k == B.FUNC_PROTO:
            new.type = type_map[new.type] or remap(new.type)
            for p in new.params:
                p.name, p.name_off = known(p.name) or first_use(p.name)
                p.type = type_map[p.type] or remap(p.type)
        elif k == B.ARRAY:
            new.type = type_map[new.type] or remap(new.type)
            new.index_type = type_map[new.index_type] or remap(new.index_type)
        else:  # enums, forwards, ints and floats: no type ids (DATASECs are never appended)
            for e in new.enums:
                e.name, e.name_off = known(e.name) or first_use(e.name)
        add_type(new)


def _settle_global_types(state: LinkerState, type_map: List[int]) -> None:
    """A global whose type this input gives (its first one, or the definition of an extern)
    now points its VAR/FUNC at that type's output id."""
    for glob in state.global_symbols.values():
        if glob.pending_src_id is not None:
            glob.underlying_id = type_map[glob.pending_src_id]
            glob.pending_src_id = None
            state.btf.type(glob.btf_id).type = glob.underlying_id


def _append_datasec_entries(state: LinkerState, src: InputView, type_map: List[int]) -> None:
    """The input's DATASEC entries, moved to their output offsets, join the output sections'
    variable lists; a global has one entry, kept up to date as definitions arrive."""
    file, dst_btf, src_btf = src.file, state.btf, src.known_btf
    for s in src.secs:
        if not s.datasec_id or s.skipped:
            continue
        dst = s.output
        dst.has_btf = True
        for v in src.datasecs[s.datasec_id].secinfo:
            new_id = type_map[v.type]
            t = dst_btf.get(new_id)  # None: a VAR that was not carried over
            glob = None
            if t is not None and is_non_static(t):
                glob = state.global_symbols[t.name]
                if glob.sec is not dst:
                    other = glob.sec.name if glob.sec is not None else "no section"
                    raise LinkError(file, f"global '{t.name}' is in section '{dst.name}' here "
                                          f"but in '{other}' in {glob.file}")
            if t is not None and glob is not None and glob.var_idx >= 0:
                _update_global_entry(state, src, dst, glob, t, v, s.dst_off)
                continue
            dst.vars.append(VarSecinfo(new_id, s.dst_off + v.offset, v.size))
            if glob is not None:
                glob.var_idx = len(dst.vars) - 1
                src_var = src_btf.type(v.type)
                glob.var_from_extern = (src_var.kind == B.VAR
                                        and src_var.linkage == B.VAR_GLOBAL_EXTERN)


def _update_global_entry(state: LinkerState, src: InputView, dst: OutputSection, glob: GlobalSymbol,
                         t: BtfType, v: VarSecinfo, dst_off: int) -> None:
    """The global already has its entry in ``dst``'s DATASEC; this input's ``v`` may describe
    it anew."""
    if t.kind == B.FUNC:
        return  # a kfunc declared again: nothing to update (libbpf 1.1 failed here)
    src_var = src.known_btf.type(v.type)
    if src_var.linkage == B.VAR_GLOBAL_EXTERN:
        # A declaration has no storage to describe. (libbpf resizes the entry to the declared
        # type here, which loses an initialised flexible array.)
        return
    entry = dst.vars[glob.var_idx]
    if glob.var_from_extern and not glob.is_extern and glob.file == src.file:
        # The entry was made for an extern, which has no storage: take the definition's place
        # and size (libbpf keeps offset 0 and the declared type's size, and the loader then
        # cannot find the map or variable).
        entry.offset, entry.size = dst_off + v.offset, v.size
        glob.var_from_extern = False
        return
    # its type may have changed with a resolved extern
    entry.size = _resolve_size(state.btf, glob.underlying_id, src.file, t.name)


def _resolve_size(btf: Btf, type_id: Optional[int], file: str, name: str) -> int:
    if type_id is None:
        raise AssertionError(f"global '{name}' has no type yet")
    try:
        return btf.resolve_size(type_id)
    except BpfBuildError as e:
        raise LinkError(file, f"global '{name}': cannot size its type: {e.reason}") from None
