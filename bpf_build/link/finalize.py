"""The final phases, once every input is appended (libbpf's linker_finalize_btf and the ELF
writing of bpf_linker__finalize): one DATASEC per output section that some input described, the
BTF deduplicated, and the Object assembled in libbpf's section order.
"""

from __future__ import annotations

from typing import Optional

from ..btf.dedup import dedup_words
from ..btf.dedup.source import btf_words_of
from ..errors import BpfBuildError, LinkError
from ..model import btf as B
from ..model.btf import Btf, BtfType
from ..model.btf_ext import BtfExt
from ..model.elf import SHF_STRINGS, SHT_NOBITS, SHT_PROGBITS, SHT_REL, SHT_STRTAB, SHT_SYMTAB, Object, Section
from .state import LinkerState, OutputSection


def add_datasecs(state: LinkerState) -> None:
    """A DATASEC for each output section with BTF, its entries gathered from every input."""
    btf = state.btf
    for sec in state.sections:
        if sec.has_btf:
            btf.add(BtfType(B.DATASEC, sec.name, size=sec.size, secinfo=list(sec.vars),
                            name_off=btf.strings.add(sec.name)))


def dedup_btf(state: LinkerState, btf_ext: Optional[BtfExt]) -> None:
    """The output BTF deduplicated (.BTF.ext's type ids follow), its string table kept in the
    order the appending phases made. The dedup runs over words, so the appended records go once
    encoded, before the dedup, the link's peak (20 vmlinux.h inputs: 64 -> 59 MiB). The output's
    records are read back from its bytes without the kernel's rules: the inputs were checked as
    they were read (the kept records were never checked again either)."""
    try:
        source = btf_words_of(state.btf)
        state.btf = Btf()
        result = dedup_words(source, btf_ext, rebuild_strings=False, flavour=state.dedup_flavour)
        del source
        state.btf = Btf.parse(result.data, check_rules=False)
    except BpfBuildError as e:
        raise LinkError(state.first_file, f"BTF deduplication failed: {e.reason}") from None


def emit_object(state: LinkerState, btf_ext: Optional[BtfExt]) -> Object:
    """The output Object: sections in ELF order, then .BTF and .BTF.ext when there is BTF."""
    out = Object(byteorder=state.byteorder or "little")
    out.sections = [Section("", 0)]
    for sec in state.elf_order:
        out.sections.append(_emit_section(sec))
    if state.btf.types:
        out.sections.append(Section(".BTF", SHT_PROGBITS, addralign=8))
        state.strtab_order.append(".BTF")
        out.btf = state.btf
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
