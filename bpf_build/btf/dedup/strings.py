"""Pass 1: the string table rebuilt in the order libbpf first references each string (type
names, then member/enumerator/parameter names, then .BTF.ext's section names, file names,
source lines and CO-RE access strings), and every name_off rewritten to match."""

from __future__ import annotations

from typing import Dict, List, Optional, Union, cast

from ...errors import BtfError
from ...model.btf import BtfType, EnumValue, Member, Param, StringTable
from ...model.btf_ext import CoreRelo, LineInfo
from .state import DedupState


def _encoded_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogateescape"))


def dedup_strings(state: DedupState) -> None:
    btf, ext = state.btf, state.ext
    old = btf.strings
    base_strings = btf.base.strings if btf.base is not None else None
    start = old.start
    offsets: Dict[str, int] = {} if base_strings is not None else {"": 0}
    order: List[str] = [] if base_strings is not None else [""]  # the new table's strings
    pos = start + len(order)  # the offset of the next new string

    def new_off(s: str) -> int:
        nonlocal pos
        off = offsets.get(s)
        if off is None:
            if s == "" and base_strings is not None:
                return 0
            if base_strings is not None:
                off = base_strings.find(s)
            if off is None:
                off = pos
                order.append(s)
                pos += _encoded_len(s) + 1
            offsets[s] = off
        return off

    # types and their members, enumerators and params, in libbpf's order
    named: List[Union[BtfType, Member, EnumValue, Param]] = []
    for t in btf.types:
        named.append(t)
        named += t.members or t.enums or t.params
    if base_strings is None:  # new_off inlined
        get, append = offsets.get, order.append
        for item in named:
            s = item.name
            off: Optional[int] = get(s)
            if off is None:
                off = offsets[s] = pos
                append(s)
                pos += (len(s) if s.isascii() else _encoded_len(s)) + 1
            item.name_off = off
    else:
        for item in named:
            item.name_off = new_off(item.name)
    if ext is not None:
        def old_str(off: int) -> str:
            s = old.get(off)
            if s is None:
                raise BtfError(None, f".BTF.ext refers to string offset {off}, outside .BTF's strings")
            return s

        for sec in ext.func_info.sections:
            sec.name_off = new_off(sec.name)
        for sec in ext.line_info.sections:
            sec.name_off = new_off(sec.name)
            for r in cast(List[LineInfo], sec.records):  # what the line_info table holds
                r.file_name_off = new_off(old_str(r.file_name_off))
                r.line_off = new_off(old_str(r.line_off))
        for sec in ext.core_relo.sections:
            sec.name_off = new_off(sec.name)
            for c in cast(List[CoreRelo], sec.records):
                c.access_str_off = new_off(old_str(c.access_str_off))
    data = ("\0".join(order) + "\0").encode("utf-8", "surrogateescape") if order else b""
    btf.strings = StringTable(data, start=start, base=base_strings)
