""".BTF.ext: phase 6 for each input (libbpf's linker_append_btf_ext) gathers the input's func_info,
line_info and CO-RE records under their output sections, instruction offsets moved and type ids
and strings renumbered to the output's; at the end ``build_btf_ext`` assembles them (part of
libbpf's linker_finalize_btf).
"""

from __future__ import annotations

from typing import Optional

from ..errors import LinkError
from ..model.btf_ext import BtfExt, CoreRelo, ExtInfo, ExtSection, FuncInfo, LineInfo
from .state import InputView, LinkerState, OutputSection

_TABLES = ((FuncInfo, "func_info"), (LineInfo, "line_info"), (CoreRelo, "core_relo"))


def append_btf_ext(state: LinkerState, src: InputView) -> None:
    ext = src.obj.btf_ext
    if ext is None:
        return
    file, strings, type_map = src.file, src.known_btf.strings, src.type_map
    add_str = state.btf.strings.add

    def text(off: int) -> str:
        found = strings.get(off)
        if found is None:  # the input checks made sure every offset is in the table
            raise AssertionError(f"string offset {off} outside the BTF strings")
        return found

    for slot, info in enumerate(ext.tables()):
        for esec in info.sections:
            s = src.by_name.get(esec.name)
            if s is None:
                raise LinkError(file, f".BTF.ext refers to section '{esec.name}', which does not exist")
            dst = s.output
            out = dst.ext[slot]
            if out.rec_size == 0:
                out.rec_size = info.rec_size
            if out.rec_size != info.rec_size:
                raise LinkError(file, f".BTF.ext record size {info.rec_size} for section "
                                      f"'{esec.name}' differs from {out.rec_size} in {dst.file}")
            for r in esec.records:
                off = r.insn_off + s.dst_off
                if isinstance(r, FuncInfo):
                    out.records.append(FuncInfo(off, type_map[r.type_id], r.tail))
                elif isinstance(r, LineInfo):
                    out.records.append(LineInfo(off, add_str(text(r.file_name_off)),
                                                add_str(text(r.line_off)), r.line_col, r.tail))
                else:
                    out.records.append(CoreRelo(off, type_map[r.type_id],
                                                add_str(text(r.access_str_off)), r.kind, r.tail))


def build_btf_ext(state: LinkerState) -> Optional[BtfExt]:
    """The output's .BTF.ext, its sections in creation order, or None when no input had records.
    One record size a table: inputs that disagree cannot be linked."""
    tables = []
    for slot, (cls, what) in enumerate(_TABLES):
        info = ExtInfo(cls, 0)
        first: Optional[OutputSection] = None
        for sec in state.sections:
            recs = sec.ext[slot]
            if not recs.records:
                continue
            if first is None:
                first, info.rec_size = sec, recs.rec_size
            if info.rec_size != recs.rec_size:
                raise LinkError(sec.file, f".BTF.ext {what} records are {recs.rec_size} bytes "
                                          f"in section '{sec.name}' but {info.rec_size} bytes in "
                                          f"section '{first.name}' of {first.file}")
            info.sections.append(ExtSection(sec.name, recs.records, state.btf.strings.add(sec.name)))
        tables.append(info)
    if not any(t.sections for t in tables):
        return None
    return BtfExt(byteorder=state.byteorder or "little", hdr_len=32, func_info=tables[0],
                  line_info=tables[1], core_relo=tables[2])
