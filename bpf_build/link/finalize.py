"""The final phases, once every input is appended (libbpf's linker_finalize_btf and the ELF
writing of bpf_linker__finalize): one DATASEC per output section that some input described, the
BTF deduplicated, and the Object assembled in libbpf's section order.
"""

from __future__ import annotations

import struct
from typing import Optional

from ..btf.dedup import dedup_words
from ..btf.dedup.source import BtfWords
from ..errors import BpfBuildError, BtfError, LinkError
from ..model import btf as B
from ..model.btf import Btf, StringTable, TypeWords
from ..model.btf.kinds import MAX_VLEN
from ..model.btf.words import NameTable
from ..model.btf_ext import BtfExt
from ..model.elf import SHF_STRINGS, SHT_NOBITS, SHT_PROGBITS, SHT_REL, SHT_STRTAB, SHT_SYMTAB, Object, Section
from .state import LinkerState, OutputSection
from .words_btf import WordsBtf, empty_words_btf


def add_datasecs(state: LinkerState) -> None:
    """A DATASEC for each output section with BTF, its entries gathered from every input (one
    whose values do not fit is refused by the dedup phase, as encoding it would be)."""
    btf = state.btf
    for sec in state.sections:
        if sec.has_btf:
            record = [btf.strings.add(sec.name), B.DATASEC << 24 | len(sec.vars), sec.size]
            for v in sec.vars:
                record += (v.type, v.offset, v.size)
            btf.append(record, B.DATASEC)


def _encoding_problem(btf: WordsBtf) -> Optional[str]:
    """What encoding the merged BTF would refuse, as encoding names it: only its DATASECs can
    hold such a value (a merged section's size, offsets, entry count); every other record was
    read from 32-bit words."""
    words, offsets, kinds = btf.words, btf.offsets, btf.kinds
    tid = kinds.find(B.DATASEC) + 1
    while tid:
        start = offsets[tid - 1]
        record = words[start:offsets[tid] if tid < len(offsets) else len(words)]
        vlen = (len(record) - 3) // 3
        if vlen > MAX_VLEN:
            return f"type [{tid}] DATASEC '{btf.strings.get(record[0])}': {vlen} entries exceed BTF's limit"
        for value in record:
            if not 0 <= value <= 0xFFFFFFFF:
                try:
                    struct.pack("<I", value)
                except struct.error as e:
                    return f"cannot encode BTF: a value does not fit its field ({e})"
        tid = kinds.find(B.DATASEC, tid) + 1
    return None


def dedup_btf(state: LinkerState, btf_ext: Optional[BtfExt]) -> None:
    """The output BTF deduplicated (.BTF.ext's type ids follow), its string table kept in the
    order the appending phases made. The dedup runs over the words the appending phases made
    (no record of them ever made). The output's records are read back from its bytes without
    the kernel's rules: the inputs were checked as they were read."""
    merged = state.btf
    try:
        problem = _encoding_problem(merged)
        if problem:
            raise BtfError(None, problem)
        source = _dedup_source(merged)
        state.btf = empty_words_btf(merged.byteorder)
        del merged
        result = dedup_words(source, btf_ext, rebuild_strings=False, flavour=state.dedup_flavour)
        del source
        state.out_btf = Btf.parse(result.data, check_rules=False)
    except BpfBuildError as e:
        raise LinkError(state.first_file, f"BTF deduplication failed: {e.reason}") from None


def _dedup_source(btf: WordsBtf) -> BtfWords:
    """The merged words as the dedup reads them (what encoding them would write)."""
    strings = btf.strings.data()
    kinds = bytes(btf.kinds)
    lookups = TypeWords(btf.words, btf.offsets, kinds, NameTable(strings, 0, None), None, 1, None)
    return BtfWords(btf.words, btf.offsets, kinds, StringTable(strings), None, lookups,
                    "<" if btf.byteorder == "little" else ">", 0, b"", b"", None)


def emit_object(state: LinkerState, btf_ext: Optional[BtfExt]) -> Object:
    """The output Object: sections in ELF order, then .BTF and .BTF.ext when there is BTF."""
    out = Object(byteorder=state.byteorder or "little")
    out.sections = [Section("", 0)]
    for sec in state.elf_order:
        out.sections.append(_emit_section(sec))
    if state.out_btf is not None:
        out.sections.append(Section(".BTF", SHT_PROGBITS, addralign=8))
        state.strtab_order.append(".BTF")
        out.btf = state.out_btf
        if btf_ext is not None:
            out.sections.append(Section(".BTF.ext", SHT_PROGBITS, addralign=8))
            state.strtab_order.append(".BTF.ext")
            out.btf_ext = btf_ext
    out.symbols = state.symbols
    out.shstrndx = 1
    out.strtab_order = state.strtab_order
    out.symtab_info = 0
    return out


def _emit_section(sec: OutputSection) -> Section:
    if sec.type == SHT_STRTAB:
        return Section(sec.name, SHT_STRTAB, SHF_STRINGS, 1)
    if sec.type == SHT_SYMTAB:
        return Section(sec.name, SHT_SYMTAB, 0, 8, 24, link=1)
    if sec.type == SHT_REL:
        if sec.target is None:
            raise AssertionError(f"relocation section '{sec.name}' has no target")
        return Section(sec.name, SHT_REL, sec.flags, sec.addralign, sec.entsize, link=2,
                       info=sec.target.elf_index, relocs=sec.relocs)
    if sec.type == SHT_NOBITS:
        return Section(sec.name, SHT_NOBITS, sec.flags, sec.addralign, sec.entsize,
                       nobits_size=sec.size)
    return Section(sec.name, sec.type, sec.flags, sec.addralign, sec.entsize, data=bytes(sec.data))
