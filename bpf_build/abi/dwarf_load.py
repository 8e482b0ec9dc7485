"""A file's DWARF sections, ready for dwarf.py's reader: found by name and, for a relocatable
object (.o), relocated first. Objects carry their DWARF cross-section offsets in relocations;
those of the architectures we build for (x86-64, AArch64, i386) are applied. Malformed DWARF is
one AbiError naming the file."""

from __future__ import annotations

import struct
from typing import Dict, Optional

from ..errors import AbiError
from .dwarf import DwarfInfo
from .dwarf_forms import DwarfError
from .elfread import ET_REL, ElfImage

# Relocation types that write a symbol's value plus addend into DWARF: (machine, type) -> size.
_RELOCATION_SIZES = {(62, 1): 8, (62, 10): 4, (62, 11): 4, (183, 257): 8, (183, 258): 4, (3, 1): 4}
_DEBUG_SECTIONS = (".debug_info", ".debug_abbrev", ".debug_str", ".debug_line", ".debug_line_str",
                   ".debug_str_offsets", ".debug_addr", ".debug_ranges", ".debug_rnglists")


def load_dwarf(elf: ElfImage) -> Optional[DwarfInfo]:
    """The file's DWARF, relocated when it is a relocatable object; None without .debug_info."""
    sections = elf.sections()
    by_name = elf.sections_by_name(sections)
    if ".debug_info" not in by_name:
        return None
    data = {name: elf.data(by_name[name][1], name) for name in _DEBUG_SECTIONS if name in by_name}
    if elf.e_type == ET_REL:
        _relocate(elf, sections, by_name, data)
    return DwarfInfo(data, elf.endian)


def _relocate(elf: ElfImage, sections, by_name, data: Dict[str, bytes]) -> None:
    symbols = None
    for name in list(data):
        for prefix, has_addend in ((".rela", True), (".rel", False)):
            found = by_name.get(prefix + name)
            if found is None:
                continue
            section = found[1]
            if symbols is None:
                symtab = next((s for s in sections if s.type == 2), None)
                symbols = [s.value for s in elf.symbols(sections, symtab, ".symtab")] if symtab else []
            target = bytearray(data[name])
            fmt = elf.endian + (("QQq" if has_addend else "QQ") if elf.is64 else ("IIi" if has_addend else "II"))
            entry_size = struct.calcsize(fmt)
            raw = elf.data(section, prefix + name)
            for entry in struct.iter_unpack(fmt, raw[:len(raw) - len(raw) % entry_size]):
                offset, info = entry[0], entry[1]
                symbol, kind = (info >> 32, info & 0xFFFFFFFF) if elf.is64 else (info >> 8, info & 0xFF)
                size = _RELOCATION_SIZES.get((elf.machine, kind))
                if size is None:
                    raise DwarfError(f"unsupported relocation type {kind} in {prefix + name}")
                if offset + size > len(target):
                    raise DwarfError(f"relocation past the end of {name}")
                addend = entry[2] if has_addend else int.from_bytes(target[offset:offset + size],
                                                                    "little" if elf.endian == "<" else "big")
                value = (symbols[symbol] if symbol < len(symbols) else 0) + addend
                target[offset:offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(
                    size, "little" if elf.endian == "<" else "big")
            data[name] = bytes(target)


def read_dwarf(path: str, raw: bytes) -> Optional[DwarfInfo]:
    try:
        return load_dwarf(ElfImage(path, raw))
    except (DwarfError, struct.error) as e:
        raise AbiError(path, f"malformed DWARF debug info ({e})") from None
