"""Where a function lives in an ELF file, for uprobes: the kernel wants a path and a *file offset*.

Deliberately small: read the section headers, the symbol tables (.symtab, then .dynsym) and turn a
symbol's address into a file offset through its section. No pyelftools at run time. ``usdt``
reads its notes through the same section helpers.
"""

from __future__ import annotations

import mmap
import os
import shutil
import struct
import sysconfig
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple, TypeVar, Union

from .errors import SymbolError

T = TypeVar("T")
# An ELF file's bytes: mapped by read_elf, or already in memory.
Image = Union[bytes, mmap.mmap]
# One section header, as unpacked: (name, type, flags, addr, offset, size, link, info, addralign, entsize).
SectionHeader = Tuple[int, ...]

SHT_SYMTAB = 2
SHT_DYNSYM = 11
STT_FUNC = 2
STT_GNU_IFUNC = 10
STB_GLOBAL, STB_WEAK = 1, 2
SHN_UNDEF = 0
SHF_ALLOC = 0x2


class ElfSymbol(NamedTuple):
    name: str
    address: int
    size: int
    type: int
    bind: int
    file_offset: int


class _Layout(NamedTuple):
    header: struct.Struct    # from e_shoff on
    section: struct.Struct
    symbol: struct.Struct
    symbol_fields: Tuple[int, int, int, int, int, int]  # positions of name, value, size, info, other, shndx


def _layout(elf_class: int, data_order: int) -> _Layout:
    bo = "<" if data_order == 1 else ">"
    if elf_class == 2:
        return _Layout(struct.Struct(bo + "QIHHHHHH"), struct.Struct(bo + "IIQQQQIIQQ"),
                       struct.Struct(bo + "IBBHQQ"), (0, 4, 5, 1, 2, 3))
    return _Layout(struct.Struct(bo + "IIHHHHHH"), struct.Struct(bo + "IIIIIIIIII"),
                   struct.Struct(bo + "IIIBBH"), (0, 1, 2, 3, 4, 5))


def read_elf(path: str, reader: Callable[[Image, str], T]) -> T:
    """``reader(data, path)`` on the mapped file; every failure one SymbolError naming the file."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return reader(data, path)
    except (OSError, ValueError) as e:
        raise SymbolError(f"{path}: cannot read ELF file: {e}") from None
    except (struct.error, IndexError):
        raise SymbolError(f"{path}: truncated or malformed ELF file") from None


def read_function_symbols(path: str) -> Dict[str, List[ElfSymbol]]:
    """Every defined function symbol of ``path`` by name (unversioned), .symtab entries first."""
    return read_elf(path, _read)


def section_headers(data: Image, path: str) -> Tuple[_Layout, List[SectionHeader], int]:
    """(layout, raw section headers, index of the section name table) of an ELF image. A header
    is (name, type, flags, addr, offset, size, link, info, addralign, entsize)."""
    if data[:4] != b"\x7fELF":
        raise SymbolError(f"{path}: not an ELF file")
    lay = _layout(data[4], data[5])
    shoff_at = 0x28 if data[4] == 2 else 0x20
    shoff, _flags, _ehsize, _phentsize, _phnum, shentsize, shnum, shstrndx = lay.header.unpack_from(data, shoff_at)
    return lay, [lay.section.unpack_from(data, shoff + i * shentsize) for i in range(shnum)], shstrndx


def section_name(data: Image, sections: List[SectionHeader], shstrndx: int, header: SectionHeader) -> str:
    table = sections[shstrndx]
    at = table[4] + header[0]
    return bytes(data[at:data.find(b"\0", at, table[4] + table[5])]).decode(errors="replace")


def address_to_file_offset(sections: List[SectionHeader], address: int) -> Optional[int]:
    """Through the allocated section that holds ``address`` (what uprobes and their reference
    counters are given); None when no section does."""
    for sh in sections:
        if sh[2] & SHF_ALLOC and sh[3] <= address < sh[3] + sh[5]:
            return address - sh[3] + sh[4]
    return None


def _read(data: Image, path: str) -> Dict[str, List[ElfSymbol]]:
    lay, sections, _ = section_headers(data, path)
    found: Dict[str, List[ElfSymbol]] = {}
    for wanted in (SHT_SYMTAB, SHT_DYNSYM):
        for sh in sections:
            if sh[1] != wanted:
                continue
            _collect(data, lay, sections, sh, found)
    return found


def _collect(data: Image, lay: _Layout, sections: List[SectionHeader], symtab: SectionHeader,
             found: Dict[str, List[ElfSymbol]]) -> None:
    offset, size, link, entsize = symtab[4], symtab[5], symtab[6], symtab[9] or lay.symbol.size
    strtab = sections[link]
    str_at, str_end = strtab[4], strtab[4] + strtab[5]
    i_name, i_value, i_size, i_info, _i_other, i_shndx = lay.symbol_fields
    for pos in range(offset, offset + size - entsize + 1, entsize):
        sym = lay.symbol.unpack_from(data, pos)
        info = sym[i_info]
        kind = info & 0xF
        shndx = sym[i_shndx]
        if kind not in (STT_FUNC, STT_GNU_IFUNC) or shndx == SHN_UNDEF or shndx >= len(sections):
            continue
        name_at = str_at + sym[i_name]
        name = bytes(data[name_at:data.find(b"\0", name_at, str_end)]).decode(errors="replace")
        name = name.split("@", 1)[0]
        section = sections[shndx]
        address = sym[i_value]
        file_offset = address - section[3] + section[4]  # through the containing section
        entry = ElfSymbol(name, address, sym[i_size], kind, info >> 4, file_offset)
        same = found.setdefault(name, [])
        if all(s.address != address for s in same):
            same.append(entry)


def function_offset(path: str, name: str) -> int:
    """File offset of function ``name`` in ``path`` (``name@VERSION`` accepted)."""
    base = name.split("@", 1)[0]
    candidates = read_function_symbols(path).get(base, [])
    if not candidates:
        raise SymbolError(f"{path}: no function symbol '{base}' in .symtab or .dynsym")
    strong = [s for s in candidates if s.bind == STB_GLOBAL] or candidates
    if len(strong) > 1:
        where = ", ".join(f"{s.address:#x}" for s in strong)
        raise SymbolError(f"{path}: function '{base}' is defined more than once ({where}); give an offset")
    return strong[0].file_offset


def _library_dirs() -> List[str]:
    dirs = [d for d in os.environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    for root in ("/lib", "/usr/lib", "/usr/local/lib"):
        if multiarch:
            dirs.append(f"{root}/{multiarch}")
        dirs.append(root)
    dirs += ["/lib64", "/usr/lib64"]
    return dirs


def resolve_binary(binary: str) -> str:
    """An absolute path for a uprobe target: paths as given, ``libc.so.6`` through the library
    directories, ``bash`` through PATH."""
    if "/" in binary:
        path = os.path.abspath(binary)
        if not os.path.exists(path):
            raise SymbolError(f"{binary}: no such file")
        return path
    if ".so" in binary:
        for d in _library_dirs():
            candidate = os.path.join(d, binary)
            if os.path.exists(candidate):
                return os.path.realpath(candidate)
        raise SymbolError(f"{binary}: shared library not found in {', '.join(_library_dirs())}")
    found = shutil.which(binary)
    if found is None:
        raise SymbolError(f"{binary}: not found in PATH")
    return os.path.realpath(found)


def symbol_file_offset(binary: str, symbol: Optional[str], offset: int = 0) -> Tuple[str, int]:
    """(absolute path, file offset) for a uprobe on ``symbol``+``offset`` (or a raw offset)."""
    path = resolve_binary(binary)
    if symbol:
        offset += function_offset(path, symbol)
    return path, offset
