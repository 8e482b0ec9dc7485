"""BTF deduplication with libbpf's algorithm (``btf__dedup``), so the output matches libbpf's type
for type, id for id and string offset for string offset.

The passes, in libbpf's order (``dedup_words`` below runs them; a module each):

1. strings: rebuilt in the order they are first referenced (types, then .BTF.ext);
2. primitives: INT, ENUM*, FWD, FLOAT by exact equality; enum forward declarations resolve
   to full enums;
3. structs: STRUCT/UNION by type-graph equivalence: a side-by-side walk of the candidate's and
   the canonical type's graphs, recording a hypothetical canonical -> candidate mapping that
   must stay consistent; a FWD on either side may stand for a STRUCT/UNION of the same name;
4. fwds: forward declarations that are still unresolved map to the one struct/union of their
   name (not in the BPFTOOL_7_1 flavour);
5. refs: reference types (PTR, modifiers, TYPEDEF, ARRAY, FUNC, FUNC_PROTO, DECL_TAG) once
   everything they point at is canonical;
6. compact: compaction (canonical types keep their relative order) and 7. remapping of every
   type id, including those in .BTF.ext.

The passes run over the type section's words, never over records: source.py reads them from
a blob (``dedup_raw``: bytes in, bytes out) or encodes a ``Btf`` of records (``dedup``, which
then keeps the records of the types kept). What the passes share is a ``DedupState``
(state.py); graph.py describes each type once for the struct walks. Candidate lists replay the
order of libbpf's hash map (new entries first, every table growth reverses the entries of one
key) because the first equivalent candidate wins. STRUCT/UNION candidates are keyed more
finely than libbpf hashes them (see graph.struct_key_function): that only leaves out
candidates whose graph walk would fail, so the outcome is the same without the walks.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional

from ...collector import paused_gc
from ...errors import PathLike
from ...model.btf import DATASEC, VAR, Btf, StringTable
from ...model.btf_ext import BtfExt
from .compact import compact_and_remap
from .fwds import resolve_fwds
from .graph import describe_types
from .primitives import dedup_primitives
from .refs import dedup_refs
from .source import BtfWords, btf_words_of, encode_words, read_btf_words
from .state import BPFTOOL_7_1, FLAVOURS, IN_PROGRESS, LIBBPF, UNPROCESSED, CandidateTable, DedupState
from .strings import map_names_by_offset, rewrite_names_by_text
from .structs import dedup_structs

__all__ = ["BPFTOOL_7_1", "FLAVOURS", "IN_PROGRESS", "LIBBPF", "UNPROCESSED", "BtfWords", "DedupState",
           "Deduplicated", "dedup", "dedup_raw", "dedup_words", "read_btf_words"]


class Deduplicated(NamedTuple):
    """The deduplicated BTF as bytes, ``mapping[old_id] == new_id`` for every id it had (base
    ids of split BTF map to themselves), the old ids of the types kept, in order, and the
    string table (also in ``data``)."""

    data: bytes
    mapping: List[int]
    kept: List[int]
    strings: bytes


def dedup(btf: Btf, ext: Optional[BtfExt] = None, *, rebuild_strings: bool = True,
          flavour: str = LIBBPF) -> List[int]:
    """Deduplicate ``btf`` in place (types and strings) and rewrite ``ext``'s type ids and string
    offsets to match. Returns ``mapping`` with ``mapping[old_id] == new_id`` for every id the
    BTF had (base ids of split BTF map to themselves).

    ``rebuild_strings=False`` keeps the string table as it is, which is what libbpf does for a
    BTF it built from scratch (its strings are unique by construction).

    The records are encoded and deduplicated as words (``dedup_words``); then the kept records
    stay, their ids remapped, with the new string table and their names' offsets in it. They
    encode to the deduplicated bytes.

    ``flavour`` picks the libbpf whose output to reproduce: LIBBPF (default) or BPFTOOL_7_1."""
    _check_flavour(flavour)
    source = btf_words_of(btf)
    result = dedup_words(source, ext, rebuild_strings=rebuild_strings, flavour=flavour)
    types, start, remap = btf.types, btf.start_id, result.mapping.__getitem__
    btf.types = [types[tid - start] for tid in result.kept]
    for t in btf.types:
        t.remap_ids(remap)
    if rebuild_strings:
        btf.strings = StringTable(result.strings, start=source.strings.start, base=btf.strings.base)
        _name_offsets(btf)
    return result.mapping


def _name_offsets(btf: Btf) -> None:
    """Each record's and entry's name offset in the new string table (whose strings are unique:
    a name's offset is where its text is; for split BTF, the base's if it has it). An offset
    left from the old table could point into the middle of a new string that ends in the
    same text."""
    find = btf.strings.find
    for t in btf.types:
        t.name_off = find(t.name)
        for entry in (t.members or t.enums or t.params):
            entry.name_off = find(entry.name)


def dedup_raw(data: bytes, path: PathLike = None, base: Optional[BtfWords] = None, *,
              flavour: str = LIBBPF) -> Deduplicated:
    """The BTF blob ``data`` (split on ``base``, see ``read_btf_words``) checked as the parser
    checks it, then deduplicated: bytes in, bytes out."""
    _check_flavour(flavour)
    return dedup_words(read_btf_words(data, path, base), flavour=flavour)


def dedup_words(source: BtfWords, ext: Optional[BtfExt] = None, *, rebuild_strings: bool = True,
                flavour: str = LIBBPF) -> Deduplicated:
    """``source`` deduplicated (``ext``'s type ids and string offsets rewritten to match), as
    the bytes of a BTF blob with ``source``'s header fields. The words of a ``source`` without
    a base are rewritten in place: it is deduplicated once."""
    _check_flavour(flavour)
    with paused_gc():  # dedup builds many tuples and lists but no reference cycles
        state = DedupState(source, ext, flavour)
        by_offset = rebuild_strings and source.base is None
        if rebuild_strings and not by_offset:
            rewrite_names_by_text(state)
        _start(state)
        if by_offset and not map_names_by_offset(state):
            rewrite_names_by_text(state)  # then the types are described again, over the new names
            state.map = [UNPROCESSED] * len(state.offsets)
            state.table = CandidateTable()
            _start(state)
        dedup_primitives(state)
        dedup_structs(state)
        if flavour == LIBBPF:
            resolve_fwds(state)
        dedup_refs(state)
        mapping, kept = compact_and_remap(state)
        strings = state.strings
        data = encode_words(source, state.words, strings)
        # Freed while the collector is paused: it would otherwise walk all of the state's
        # objects in its first collection after the pause.
        del state
        return Deduplicated(data, mapping, kept, strings)


def _check_flavour(flavour: str) -> None:
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown BTF dedup flavour {flavour!r}; expected one of {FLAVOURS}")


def _start(state: DedupState) -> None:
    """The state before the first type pass: every type described (its names final); VAR and
    DATASEC canonical as they are; for split BTF, the base's types canonical and in the table
    (split types dedup against them)."""
    start = state.start_id
    graph = state.graph = describe_types(state.words, state.offsets, state.kinds, start)
    mapping = state.map
    mapping[0] = 0
    for tid in graph.unwalkable:
        if tid >= start and graph.kinds[tid] in (VAR, DATASEC):
            mapping[tid] = tid
    for tid in range(1, start):
        mapping[tid] = tid
        if graph.kinds[tid] not in (VAR, DATASEC):
            state.table.add(state.key(tid), tid)
