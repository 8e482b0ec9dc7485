"""BTF as text: bpftool's "format raw" dump (one type a line, entries indented below it) and a
count of types by kind."""

from __future__ import annotations

from typing import Callable, Dict, Iterator, List

from .container import Btf
from .kinds import (KIND_NAMES, ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_EXTERN, FUNC_GLOBAL,
    FUNC_PROTO, FUNC_STATIC, FWD, INT, INT_BOOL, INT_CHAR, INT_SIGNED, PTR, RESTRICT, STRUCT, TYPE_TAG,
    TYPEDEF, UNION, VAR, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN, VAR_STATIC, VOLATILE)
from .records import BtfType

_INT_ENC: Dict[int, str] = {0: "(none)", INT_SIGNED: "SIGNED", INT_CHAR: "CHAR", INT_BOOL: "BOOL"}
_FUNC_LINKAGE: Dict[int, str] = {FUNC_STATIC: "static", FUNC_GLOBAL: "global", FUNC_EXTERN: "extern"}
_VAR_LINKAGE: Dict[int, str] = {VAR_STATIC: "static", VAR_GLOBAL_ALLOCATED: "global", VAR_GLOBAL_EXTERN: "extern"}


def _q(name: str) -> str:
    return f"'{name or '(anon)'}'"


def format_type(btf: Btf, tid: int, t: BtfType) -> List[str]:
    """The dump's lines for type ``tid``: its own, then one per entry."""
    lines: List[str] = []
    _emit(btf, tid, t, lines.append)
    return lines


def _emit(btf: Btf, tid: int, t: BtfType, out: Callable[[str], None]) -> None:
    """Append type ``tid``'s lines to ``out``: the kinds by how common they are in vmlinux."""
    k = t.kind
    kind_name = KIND_NAMES.get(k)
    if kind_name is None:
        kind_name = t.kind_name
    head = f"[{tid}] {kind_name} '{t.name or '(anon)'}'"
    if k == FUNC:
        out(f"{head} type_id={t.type} linkage={_FUNC_LINKAGE.get(t.linkage, t.linkage)}")
    elif k == FUNC_PROTO:
        params = t.params
        out(f"{head} ret_type_id={t.type} vlen={len(params)}")
        for p in params:
            out(f"\t'{p.name or '(anon)'}' type_id={p.type}")
    elif k == PTR or k == TYPEDEF or k == VOLATILE or k == CONST or k == RESTRICT:
        out(f"{head} type_id={t.type}")
    elif k == STRUCT or k == UNION:
        members = t.members
        out(f"{head} size={t.size} vlen={len(members)}")
        for m in members:
            if m.bitfield_size:
                out(f"\t'{m.name or '(anon)'}' type_id={m.type} bits_offset={m.offset} "
                    f"bitfield_size={m.bitfield_size}")
            else:
                out(f"\t'{m.name or '(anon)'}' type_id={m.type} bits_offset={m.offset}")
    elif k == ARRAY:
        out(f"{head} type_id={t.type} index_type_id={t.index_type} nr_elems={t.nelems}")
    elif k == ENUM or k == ENUM64:
        enc = "SIGNED" if t.kflag else "UNSIGNED"
        suffix = ("LL" if t.kflag else "ULL") if k == ENUM64 else ""
        out(f"{head} encoding={enc} size={t.size} vlen={len(t.enums)}")
        for e in t.enums:
            out(f"\t'{e.name or '(anon)'}' val={e.value}{suffix}")
    elif k == INT:
        out(f"{head} size={t.size} bits_offset={t.int_offset} nr_bits={t.int_bits} "
            f"encoding={_INT_ENC.get(t.int_encoding, hex(t.int_encoding))}")
    elif k == TYPE_TAG:
        out(f"{head} type_id={t.type}" + (" kflag=1" if t.kflag else ""))
    elif k == FWD:
        out(f"{head} fwd_kind={'union' if t.kflag else 'struct'}")
    elif k == VAR:
        out(f"{head} type_id={t.type}, linkage={_VAR_LINKAGE.get(t.linkage, t.linkage)}")
    elif k == DATASEC:
        out(f"{head} size={t.size} vlen={len(t.secinfo)}")
        for v in t.secinfo:
            out(f"\ttype_id={v.type} offset={v.offset} size={v.size}{_secinfo_note(btf, v.type)}")
    elif k == FLOAT:
        out(f"{head} size={t.size}")
    elif k == DECL_TAG:
        out(f"{head} type_id={t.type} component_idx={t.component_idx}" + (" kflag=1" if t.kflag else ""))
    else:
        out(head)


def _secinfo_note(btf: Btf, type_id: int) -> str:
    t = btf.get(type_id)
    return f" ({t.kind_name} {_q(t.name)})" if t is not None else ""


def dump_raw(btf: Btf) -> str:
    """bpftool btf dump ... format raw, for this BTF's own types."""
    return "".join(dump_raw_chunks(btf))


# Types per chunk of the dump: the lines of a few thousand types at a time, so the dump of
# vmlinux never holds its ~300k lines as separate strings (~30 MiB) next to their join.
_CHUNK_TYPES = 4096


def dump_raw_chunks(btf: Btf) -> Iterator[str]:
    """``dump_raw`` in pieces (whole lines, each ending in a newline) to write as they come."""
    types = btf.types
    start = btf.start_id
    for first in range(0, len(types), _CHUNK_TYPES):
        lines: List[str] = []
        out = lines.append
        for tid, t in enumerate(types[first:first + _CHUNK_TYPES], start + first):
            _emit(btf, tid, t, out)
        out("")
        yield "\n".join(lines)


def kind_counts(btf: Btf) -> Dict[str, int]:
    """How many own types of each kind, by kind name."""
    counts: Dict[str, int] = {}
    for t in btf.types:
        counts[t.kind_name] = counts.get(t.kind_name, 0) + 1
    return dict(sorted(counts.items()))

