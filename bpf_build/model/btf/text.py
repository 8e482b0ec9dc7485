"""BTF as text: bpftool's "format raw" dump (one type a line, entries indented below it) and a
count of types by kind."""

from __future__ import annotations

from typing import Dict, List

from .container import Btf
from .kinds import (ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_EXTERN, FUNC_GLOBAL,
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
    k = t.kind
    head = f"[{tid}] {t.kind_name} {_q(t.name)}"
    if k == INT:
        return [f"{head} size={t.size} bits_offset={t.int_offset} nr_bits={t.int_bits} "
                f"encoding={_INT_ENC.get(t.int_encoding, hex(t.int_encoding))}"]
    if k in (PTR, TYPEDEF, VOLATILE, CONST, RESTRICT):
        return [f"{head} type_id={t.type}"]
    if k == TYPE_TAG:
        return [f"{head} type_id={t.type}" + (" kflag=1" if t.kflag else "")]
    if k == ARRAY:
        return [f"{head} type_id={t.type} index_type_id={t.index_type} nr_elems={t.nelems}"]
    if k in (STRUCT, UNION):
        lines = [f"{head} size={t.size} vlen={len(t.members)}"]
        for m in t.members:
            bf = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
            lines.append(f"\t{_q(m.name)} type_id={m.type} bits_offset={m.offset}{bf}")
        return lines
    if k in (ENUM, ENUM64):
        enc = "SIGNED" if t.kflag else "UNSIGNED"
        suffix = ("LL" if t.kflag else "ULL") if k == ENUM64 else ""
        return [f"{head} encoding={enc} size={t.size} vlen={len(t.enums)}"] + \
               [f"\t{_q(e.name)} val={e.value}{suffix}" for e in t.enums]
    if k == FWD:
        return [f"{head} fwd_kind={'union' if t.kflag else 'struct'}"]
    if k == FUNC:
        return [f"{head} type_id={t.type} linkage={_FUNC_LINKAGE.get(t.linkage, t.linkage)}"]
    if k == FUNC_PROTO:
        return [f"{head} ret_type_id={t.type} vlen={len(t.params)}"] + \
               [f"\t{_q(p.name)} type_id={p.type}" for p in t.params]
    if k == VAR:
        return [f"{head} type_id={t.type}, linkage={_VAR_LINKAGE.get(t.linkage, t.linkage)}"]
    if k == DATASEC:
        return [f"{head} size={t.size} vlen={len(t.secinfo)}"] + \
               [f"\ttype_id={v.type} offset={v.offset} size={v.size}{_secinfo_note(btf, v.type)}"
                for v in t.secinfo]
    if k == FLOAT:
        return [f"{head} size={t.size}"]
    if k == DECL_TAG:
        return [f"{head} type_id={t.type} component_idx={t.component_idx}" + (" kflag=1" if t.kflag else "")]
    return [head]


def _secinfo_note(btf: Btf, type_id: int) -> str:
    t = btf.get(type_id)
    return f" ({t.kind_name} {_q(t.name)})" if t is not None else ""


def dump_raw(btf: Btf) -> str:
    """bpftool btf dump ... format raw, for this BTF's own types."""
    lines: List[str] = []
    for tid, t in btf.items():
        lines.extend(format_type(btf, tid, t))
    return "\n".join(lines) + ("\n" if lines else "")


def kind_counts(btf: Btf) -> Dict[str, int]:
    """How many own types of each kind, by kind name."""
    counts: Dict[str, int] = {}
    for t in btf.types:
        counts[t.kind_name] = counts.get(t.kind_name, 0) + 1
    return dict(sorted(counts.items()))

