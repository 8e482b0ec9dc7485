"""Phase 5 for each input (libbpf's linker_append_btf): the input's BTF types are appended to the
output BTF, renumbered, in libbpf's order (which makes the output byte-identical to bpftool's).
Both are words (words_btf.py): a run of the input's types joins the output as one slice of its
words, whose type ids and name offsets are then made the output's; no record is made for them.

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

from typing import Callable, Dict, List, Optional, Tuple

from ..errors import BpfBuildError, LinkError
from ..model import btf as B
from ..model.btf import Btf, BtfType, StringTable, VarSecinfo
from ..model.btf.words import REFS_AT
from .state import GlobalSymbol, InputView, LinkerState, OutputSection
from .symbols import is_non_static
from .words_btf import WordsBtf


def _names_at(kind: int) -> Tuple[int, int]:
    """(the word after the record's three where its entries' names start, the words an entry
    takes), or (0, 0) for a kind without named entries (DATASECs are never appended)."""
    if kind in (B.STRUCT, B.UNION, B.ENUM64):
        return 3, 3
    if kind in (B.ENUM, B.FUNC_PROTO):
        return 3, 2
    return 0, 0


_NAMES_AT = tuple(_names_at(k) for k in range(32))
_ONE_REF = tuple(k in B.REF_KINDS for k in range(32))  # kinds whose one id is the third word


def append_btf(state: LinkerState, src: InputView) -> None:
    if src.btf is None:
        return
    type_map, appended = _map_type_ids(state, src.btf, src.linkable_ids)
    _copy_types(state, src, type_map, appended)
    _settle_global_types(state, type_map)
    _append_datasec_entries(state, src, type_map)
    src.type_map = type_map


def _map_type_ids(state: LinkerState, src_btf: WordsBtf, linkable_ids: List[int]
                  ) -> Tuple[List[int], List[Tuple[int, int]]]:
    """The output id of every input type (appended, or the BTF of a global seen before), and
    the runs of input ids to append, in order (``(first, end)``). DATASECs map to 0. Every type
    between two VARs, FUNCs or DATASECs is appended: such a run is mapped at once."""
    end = len(src_btf)
    type_map = [0] * end
    appended: List[Tuple[int, int]] = []
    next_id = len(state.btf)
    run_start = 1  # the first id of the run of ordinary types before ``tid``
    for tid in (*linkable_ids, end):
        if tid > run_start:
            count = tid - run_start
            type_map[run_start:tid] = range(next_id, next_id + count)
            appended.append((run_start, tid))
            next_id += count
        if tid == end:
            break
        run_start = tid + 1
        t = src_btf.type(tid)
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
        appended.append((tid, tid + 1))
        if glob is not None:
            glob.btf_id = next_id
            glob.pending_src_id = t.type
        next_id += 1
    return type_map, appended


class _OutputNames(dict):  # type: ignore[type-arg]
    """An input's name offset -> the output's offset for its text. Made at once for the texts
    the output already has (``known``: text -> offset; inputs built against one vmlinux.h
    repeat thousands of names); any other text is added to the output's string table on first
    use (the table only grows, in the order names are met: libbpf's order)."""

    def __init__(self, src_strings: StringTable, known: Dict[str, int], add: Callable[[str], int]):
        starts = src_strings.starts()
        find = known.get
        super().__init__({off: out for off, text in starts.items() if (out := find(text)) is not None})
        self[0] = 0
        self.text_at = starts.get
        self.any_text_at = src_strings.get
        self.known = known
        self.add = add

    def __missing__(self, name_off: int) -> int:
        text = self.text_at(name_off)
        if text is None:
            text = self.any_text_at(name_off)  # an offset into the middle of a string
            if text is None:
                raise AssertionError(f"name offset {name_off} outside the BTF strings")
        out = self[name_off] = self.known[text] = self.add(text)
        return out


def _copy_types(state: LinkerState, src: InputView, type_map: List[int], appended: List[Tuple[int, int]]) -> None:
    """Append the runs of ``appended``, each as one slice of the input's words, then their ids
    and names made the output's (the type's name, then its entries' names in order: libbpf's
    order, and the output's string table is never rebuilt, so this order is the final one)."""
    src_btf, dst_btf = src.known_btf, state.btf
    src_words, src_offsets, src_kinds = src_btf.words, src_btf.offsets, src_btf.kinds
    names = _OutputNames(src_btf.strings, state.btf_names, dst_btf.strings.add)
    words, offsets, kinds = dst_btf.words, dst_btf.offsets, dst_btf.kinds
    for first, end in appended:
        a = src_offsets[first - 1]
        b = src_offsets[end - 1] if end - 1 < len(src_offsets) else len(src_words)
        shift = len(words) - a
        first_new = len(offsets)
        offsets += [o + shift for o in src_offsets[first - 1:end - 1]]
        kinds += src_kinds[first - 1:end - 1]
        words += src_words[a:b]
        _remap_records(words, offsets[first_new:], kinds[first_new:], type_map, names, src.file)


def _remap_records(words: List[int], offsets: List[int], kinds: bytearray, type_map: List[int],
                   names: _OutputNames, file: str) -> None:
    """The records at ``offsets`` in ``words`` made to refer to the output's ids and names;
    each kind's words handled by a branch of its own (a link's 51k records: one loop)."""
    name_of = names.__getitem__
    id_of = type_map.__getitem__
    one_ref, names_at, refs_at = _ONE_REF, _NAMES_AT, REFS_AT
    for off, k in zip(offsets, kinds):
        if words[off]:
            words[off] = name_of(words[off])
        if one_ref[k]:
            ref = words[off + 2]
            new = type_map[ref]
            if not new and ref:
                _check_carried(file, [ref], [new])
            words[off + 2] = new
        else:  # entries (named, with ids or not), an array's two ids, or nothing to remap
            vlen = words[off + 1] & 0xFFFF
            at, step = names_at[k]
            if at and vlen:
                end = off + at + step * vlen
                words[off + at:end:step] = map(name_of, words[off + at:end:step])
            at, fixed, per, step = refs_at[k]
            if at:  # DATASECs are never appended
                end = off + fixed + per * vlen
                old = words[off + at:end:step]
                new_ids = list(map(id_of, old))
                if 0 in new_ids:
                    _check_carried(file, old, new_ids)
                words[off + at:end:step] = new_ids


def _check_carried(file: str, old: List[int], new: List[int]) -> None:
    for was, now in zip(old, new):
        if now == 0 and was != 0:
            raise LinkError(file, f"BTF type [{was}] is referenced but was not carried over")


def _settle_global_types(state: LinkerState, type_map: List[int]) -> None:
    """A global whose type this input gives (its first one, or the definition of an extern)
    now points its VAR/FUNC at that type's output id."""
    for glob in state.global_symbols.values():
        if glob.pending_src_id is not None:
            glob.underlying_id = type_map[glob.pending_src_id]
            glob.pending_src_id = None
            state.btf.words[state.btf.word_at(glob.btf_id) + 2] = glob.underlying_id


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
