"""Phase 2 for each input (libbpf's linker_append_sec_data): the input's code and data sections
are appended to the output sections of their names, each at the larger of both alignments.

license and version are kept once and must be identical in every input. The helpers that find,
create and grow an output section serve the relocation phase too.
"""

from __future__ import annotations

from typing import Tuple, Union

from ..errors import LinkError
from ..model.elf import SHT_NOBITS, SHT_PROGBITS, SHT_REL, SHT_STRTAB, SHT_SYMTAB
from .state import InputSection, InputView, LinkerState, OutputSection

DEDUPED_SECTIONS = ("license", "version")
_TYPE_NAMES = {SHT_PROGBITS: "PROGBITS", SHT_NOBITS: "NOBITS", SHT_REL: "REL",
               SHT_SYMTAB: "SYMTAB", SHT_STRTAB: "STRTAB"}


def append_sections(state: LinkerState, src: InputView) -> None:
    file = src.file
    for s in src.secs:
        if s.skipped or (s.section is not None and s.section.type not in (SHT_PROGBITS, SHT_NOBITS)):
            continue
        dst, is_new = output_section_for(state, s, file)
        if not is_new and s.name in DEDUPED_SECTIONS:
            data = s.elf.data
            if bytes(dst.data) != data or dst.size != s.size:
                raise LinkError(file, f"section '{s.name}' ({_show(data)}) differs "
                                      f"from the one in {dst.file} ({_show(dst.data)}); "
                                      f"they must be identical")
            s.skipped = True
            s.dst = dst
            continue
        s.dst = dst
        extend(state, dst, s, file)


def output_section_for(state: LinkerState, src: InputSection, file: str) -> Tuple[OutputSection, bool]:
    """The output section of ``src``'s name (created if new, else checked compatible), and
    whether it is new."""
    dst = state.sections_by_name.get(src.name)
    if dst is None:
        dst = state.add_section(src.name)
        _materialise(state, dst, src, file)
        return dst, True
    _check_compatible(dst, src, file)
    return dst, False


def extend(state: LinkerState, dst: OutputSection, src: InputSection, file: str) -> None:
    """Append ``src``'s bytes to ``dst`` at the larger of both alignments, zero-padded."""
    s = src.section
    if s is None:
        return
    if dst.ephemeral:
        _materialise(state, dst, src, file)
    align = max(dst.addralign or 1, s.addralign)
    start = (dst.size + align - 1) // align * align
    if s.type != SHT_NOBITS:
        dst.data += bytes(start - dst.size)
        dst.data += s.data
    dst.size = start + s.size
    dst.addralign = align
    src.dst_off = start


def _materialise(state: LinkerState, dst: OutputSection, src: InputSection, file: str) -> None:
    """Give a (new or so far ephemeral) output section its ELF identity, as libbpf does the
    first time real data arrives."""
    dst.ephemeral = src.ephemeral
    s = src.section
    if s is None:
        return
    dst.type, dst.flags, dst.addralign, dst.entsize = s.type, s.flags, s.addralign, s.entsize
    dst.size = 0
    dst.file = file
    dst.elf_index = len(state.elf_order) + 1
    state.elf_order.append(dst)
    state.strtab_order.append(dst.name)


def _check_compatible(dst: OutputSection, src: InputSection, file: str) -> None:
    s = src.section
    if dst.ephemeral or s is None:
        return
    for what, mine, theirs in (("type", s.type, dst.type), ("flags", s.flags, dst.flags),
                               ("entry size", s.entsize, dst.entsize)):
        if mine != theirs:
            if what == "type":
                shown = _TYPE_NAMES.get(mine, str(mine)), _TYPE_NAMES.get(theirs, str(theirs))
            else:
                shown = hex(mine), hex(theirs)
            raise LinkError(file, f"section '{src.name}' is incompatible with the one in "
                                  f"{dst.file}: {what} {shown[0]} here, {shown[1]} there")


def _show(data: Union[bytes, bytearray]) -> str:
    text = bytes(data).rstrip(b"\0")
    return repr(text.decode("latin-1")) if text.isascii() else data.hex()
