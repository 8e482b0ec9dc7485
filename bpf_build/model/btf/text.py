"""BTF as text: bpftool's "format raw" dump (one type a line, entries indented below it), read
straight from the type section's words (no record made), and a count of types by kind."""

from __future__ import annotations

from itertools import count
from typing import Dict, Iterator, List

from .container import Btf
from .kinds import (KIND_NAMES, ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_EXTERN, FUNC_GLOBAL,
    FUNC_PROTO, FUNC_STATIC, FWD, INT, INT_BOOL, INT_CHAR, INT_SIGNED, PTR, RESTRICT, STRUCT, TYPE_TAG,
    TYPEDEF, UNION, VAR, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN, VAR_STATIC, VOLATILE)
from .words import TypeWords, read_words

_INT_ENC: Dict[int, str] = {0: "(none)", INT_SIGNED: "SIGNED", INT_CHAR: "CHAR", INT_BOOL: "BOOL"}
_FUNC_LINKAGE: Dict[int, str] = {FUNC_STATIC: "static", FUNC_GLOBAL: "global", FUNC_EXTERN: "extern"}
_VAR_LINKAGE: Dict[int, str] = {VAR_STATIC: "static", VAR_GLOBAL_ALLOCATED: "global", VAR_GLOBAL_EXTERN: "extern"}
_HEADS = {k: f"{name} '" for k, name in KIND_NAMES.items()}


def dump_raw(btf: Btf) -> str:
    """bpftool btf dump ... format raw, for this BTF's own types (of a model in memory: its
    encoding is what is dumped)."""
    return "".join(dump_words(_as_words(btf)))


def _as_words(btf: Btf) -> TypeWords:
    base = _as_words(btf.base) if btf.base is not None else None
    return read_words(btf.encode(), btf.path, base)


# Types per chunk of the dump: the lines of a few thousand types at a time, so the dump of
# vmlinux never holds its ~300k lines as separate strings (~30 MiB) next to their join.
_CHUNK_TYPES = 4096


def dump_words(types: TypeWords) -> Iterator[str]:
    """``dump_raw`` of BTF read as words, in pieces (whole lines, each ending in a newline) to
    write as they come; the kinds in the order of how common they are in vmlinux."""
    words = types.words
    name_at = types.names.namer()
    kinds = types.kinds
    offsets = types.offsets
    heads = _HEADS
    linkages = _FUNC_LINKAGE
    for first in range(0, len(kinds), _CHUNK_TYPES):
        lines: List[str] = []
        out = lines.append
        last = first + _CHUNK_TYPES
        for tid, i, k in zip(count(types.start_id + first), offsets[first:last], kinds[first:last]):
            info = words[i + 1]
            if k == FUNC:  # the most common kind (vmlinux: 44%), its line in one piece
                link = info & 0xFFFF
                out(f"[{tid}] FUNC '{name_at(words[i]) or '(anon)'}' type_id={words[i + 2]} "
                    f"linkage={linkages.get(link, link)}")
                continue
            head = f"[{tid}] {heads[k]}{name_at(words[i]) or '(anon)'}'"
            st = words[i + 2]
            if k == FUNC_PROTO:
                vlen = info & 0xFFFF
                out(f"{head} ret_type_id={st} vlen={vlen}")
                for j in range(i + 3, i + 3 + 2 * vlen, 2):
                    out(f"\t'{name_at(words[j]) or '(anon)'}' type_id={words[j + 1]}")
            elif k == PTR or k == TYPEDEF or k == VOLATILE or k == CONST or k == RESTRICT:
                out(f"{head} type_id={st}")
            elif k == STRUCT or k == UNION:
                vlen = info & 0xFFFF
                out(f"{head} size={st} vlen={vlen}")
                kflag = info >> 31
                for j in range(i + 3, i + 3 + 3 * vlen, 3):
                    o = words[j + 2]
                    if kflag and o >> 24:
                        out(f"\t'{name_at(words[j]) or '(anon)'}' type_id={words[j + 1]} "
                            f"bits_offset={o & 0xFFFFFF} bitfield_size={o >> 24}")
                    else:
                        out(f"\t'{name_at(words[j]) or '(anon)'}' type_id={words[j + 1]} "
                            f"bits_offset={o & 0xFFFFFF if kflag else o}")
            elif k == ARRAY:
                out(f"{head} type_id={words[i + 3]} index_type_id={words[i + 4]} nr_elems={words[i + 5]}")
            elif k == ENUM or k == ENUM64:
                out(_enum_lines(types, head, k, i))
            elif k == INT:
                v = words[i + 3]
                out(f"{head} size={st} bits_offset={(v >> 16) & 0xFF} nr_bits={v & 0xFF} "
                    f"encoding={_INT_ENC.get((v >> 24) & 0x0F, hex((v >> 24) & 0x0F))}")
            elif k == TYPE_TAG:
                out(f"{head} type_id={st}" + (" kflag=1" if info >> 31 else ""))
            elif k == FWD:
                out(f"{head} fwd_kind={'union' if info >> 31 else 'struct'}")
            elif k == VAR:
                out(f"{head} type_id={st}, linkage={_VAR_LINKAGE.get(words[i + 3], words[i + 3])}")
            elif k == DATASEC:
                vlen = info & 0xFFFF
                out(f"{head} size={st} vlen={vlen}")
                for j in range(i + 3, i + 3 + 3 * vlen, 3):
                    out(f"\ttype_id={words[j]} offset={words[j + 1]} size={words[j + 2]}"
                        f"{_entry_note(types, words[j])}")
            elif k == FLOAT:
                out(f"{head} size={st}")
            elif k == DECL_TAG:
                v = words[i + 3]
                out(f"{head} type_id={st} component_idx={v - 0x100000000 if v & 0x80000000 else v}"
                    + (" kflag=1" if info >> 31 else ""))
            else:
                out(head)
        out("")
        yield "\n".join(lines)


def _enum_lines(types: TypeWords, head: str, k: int, i: int) -> str:
    """An ENUM's or ENUM64's lines (without the last newline)."""
    words = types.words
    info = words[i + 1]
    vlen = info & 0xFFFF
    signed = info >> 31
    lines = [f"{head} encoding={'SIGNED' if signed else 'UNSIGNED'} size={words[i + 2]} vlen={vlen}"]
    if k == ENUM:
        for j in range(i + 3, i + 3 + 2 * vlen, 2):
            v = words[j + 1]
            if signed and v & 0x80000000:
                v -= 0x100000000
            lines.append(f"\t'{types.name(words[j]) or '(anon)'}' val={v}")
    else:
        suffix = "LL" if signed else "ULL"
        for j in range(i + 3, i + 3 + 3 * vlen, 3):
            v = (words[j + 2] << 32) | words[j + 1]
            if signed and v >= 1 << 63:
                v -= 1 << 64
            lines.append(f"\t'{types.name(words[j]) or '(anon)'}' val={v}{suffix}")
    return "\n".join(lines)


def _entry_note(types: TypeWords, type_id: int) -> str:
    kind = types.kind(type_id)
    return f" ({KIND_NAMES[kind]} '{types.type_name(type_id) or '(anon)'}')" if kind else ""


def kind_counts(btf: Btf) -> Dict[str, int]:
    """How many own types of each kind, by kind name."""
    counts: Dict[str, int] = {}
    for t in btf.types:
        counts[t.kind_name] = counts.get(t.kind_name, 0) + 1
    return dict(sorted(counts.items()))
