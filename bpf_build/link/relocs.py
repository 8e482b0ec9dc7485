"""Phase 4 for each input (libbpf's linker_append_elf_relos): the input's relocation sections are
appended like data, their offsets moved to where the relocated section landed and their symbols
renumbered to the output's.

A relocation against a section symbol (a call to a static function, an access to static data)
is relative to the input section; the instruction's immediate is shifted by where that section
now starts (in instructions for a call, in bytes otherwise).
"""

from __future__ import annotations

import struct

from ..errors import LinkError
from ..model.elf import SHF_EXECINSTR, SHT_REL, STT_SECTION, Relocation
from ..model.insn import CALL, INSN_SIZE, JMP
from ..model.ints import s32
from .sections import extend, output_section_for
from .state import InputView, LinkerState

_CALL_OPCODE = JMP | CALL


def append_relocations(state: LinkerState, src: InputView) -> None:
    file = src.file
    pack_imm = struct.Struct("<i" if state.byteorder == "little" else ">i")
    for s in src.secs:
        rel = s.section
        if s.skipped or rel is None or rel.type != SHT_REL:
            continue
        target = src.by_index[rel.info]
        if target.skipped:
            continue
        dst, _ = output_section_for(state, s, file)
        code = target.output
        dst.target = code
        s.dst = dst
        extend(state, dst, s, file)
        target_is_code = bool(target.elf.flags & SHF_EXECINSTR)
        for r in rel.relocs:
            offset = r.offset + target.dst_off
            dst.relocs.append(Relocation(offset, src.sym_map[r.symbol], r.type, r.addend))
            src_sym = src.obj.symbols[r.symbol]
            if src_sym.type != STT_SECTION:
                continue
            if not target_is_code:
                raise LinkError(file, f"relocation at offset {r.offset} in '{target.name}' is "
                                      f"against a section symbol in a non-code section (not supported)")
            shift = src.by_index[src_sym.shndx].dst_off
            if code.data[offset] == _CALL_OPCODE:
                shift //= INSN_SIZE
            imm = pack_imm.unpack_from(code.data, offset + 4)[0]
            pack_imm.pack_into(code.data, offset + 4, s32(imm + shift))
