"""What a shared library really exports, and what relocatable objects define.

A dynamic symbol is *exported* when it is defined (not UND), GLOBAL/WEAK/GNU_UNIQUE, has default
or protected visibility, and its .gnu.version entry is not 0 (local). Its version comes from
.gnu.version: index 1 means unversioned, bit 15 marks a compat (``name@V``) rather than the
default (``name@@V``) definition. The ABS symbols ld emits for each version definition are not
exports.

Files are mapped (not read) and decoded with ``struct`` straight from their section tables: the
few sections that matter (.dynsym, .gnu.version, .gnu.version_d, .dynamic, .symtab) have fixed
layouts. On libLLVM's 52k dynamic symbols this takes 0.3-0.5 s of CPU on a loaded machine, about
what lief needed (0.21 s) plus its import (~0.3 s); on libbpf's 300 it takes milliseconds.
"""

from __future__ import annotations

import os
import struct
from typing import Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

from ..errors import AbiError
from .inputs import map_input
from .naming import versioned_name

ET_NAMES = {0: "NONE", 1: "REL (relocatable object)", 2: "EXEC (executable)", 3: "DYN", 4: "CORE"}
ET_REL, ET_DYN = 1, 3
SHN_UNDEF, SHN_ABS, SHN_XINDEX = 0, 0xFFF1, 0xFFFF
SHT_SYMTAB, SHT_DYNAMIC, SHT_DYNSYM = 2, 6, 11
SHT_GNU_VERDEF, SHT_GNU_VERSYM = 0x6FFFFFFD, 0x6FFFFFFF
DT_NULL, DT_SONAME, DT_FLAGS_1 = 0, 14, 0x6FFFFFFB
DF_1_PIE = 0x08000000
VERSYM_HIDDEN = 0x8000
VER_FLG_BASE = 0x1
STB_LOCAL, STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE = 0, 1, 2, 10
STV_DEFAULT, STV_INTERNAL, STV_HIDDEN, STV_PROTECTED = 0, 1, 2, 3
EXPORTED_BINDINGS = {STB_GLOBAL, STB_WEAK, STB_GNU_UNIQUE}
EXPORTED_VISIBILITY = {STV_DEFAULT, STV_PROTECTED}
KIND_NAMES = {0: "notype", 1: "object", 2: "func", 3: "section", 4: "file", 5: "common", 6: "tls",
              10: "ifunc"}
CODE_AND_DATA = {"func", "object", "tls", "ifunc"}
_VISIBILITY_NAMES = {STV_DEFAULT: "DEFAULT", STV_INTERNAL: "INTERNAL", STV_HIDDEN: "HIDDEN", STV_PROTECTED: "PROTECTED"}
_BINDING_NAMES = {STB_GLOBAL: "GLOBAL", STB_WEAK: "WEAK", STB_GNU_UNIQUE: "GNU_UNIQUE"}


# A NamedTuple made as its _make does, without the Python-level __new__ its call goes through (a
# third of the cost of reading a library's exports: one per export, and libraries have thousands).
new_tuple = tuple.__new__


class ExportedSymbol(NamedTuple):
    name: str
    version: Optional[str]  # None: exported without a version
    default: bool  # name@@version (True) or compat name@version (False)
    kind: str  # func, object, tls, ifunc, notype
    size: int
    address: int
    section: int

    @property
    def key(self) -> str:
        return versioned_name(self.name, self.version, self.default)


class VersionDefinition(NamedTuple):
    name: str
    parents: Tuple[str, ...]
    version_index: int  # what .gnu.version entries use to name it


class SharedLibrary:
    def __init__(self, path: str, soname: Optional[str], versions: List[VersionDefinition],
                 exports: List[ExportedSymbol], unexported: Optional[Dict[str, str]] = None, has_symtab: bool = False):
        self.path, self.soname, self.versions, self.exports = path, soname, versions, exports
        # Names defined in the library but not exported, from .symtab when not stripped: name -> why.
        self.unexported: Dict[str, str] = unexported if unexported is not None else {}
        self.has_symtab = has_symtab

    def export_names(self) -> List[str]:
        return sorted({s.name for s in self.exports})


class ObjectSymbol(NamedTuple):
    name: str  # without any .symver suffix
    path: str
    visibility: str  # DEFAULT, PROTECTED, HIDDEN, INTERNAL
    binding: str
    # For the implementation behind a .symver alias (btf__dedup_v0_6_0 for btf__dedup@@LIBBPF_0.6.0):
    # that alias. It must keep default visibility for the alias to be exported.
    versioned_as: Optional[str] = None


class _Section(NamedTuple):
    type: int
    offset: int
    size: int
    link: int
    entsize: int
    name_offset: int
    info: int


class _Symbol(NamedTuple):
    name: str
    value: int
    size: int
    binding: int
    kind: str
    visibility: int
    shndx: int


class ElfImage:
    """The ELF header and section table of a file held in memory, bounds-checked."""

    def __init__(self, path: str, raw: bytes):
        self.path, self.raw = path, raw
        if len(raw) < 4 or raw[:4] != b"\x7fELF":
            raise AbiError(path, "not an ELF file")
        if len(raw) < 0x14 or raw[4] not in (1, 2) or raw[5] not in (1, 2):
            raise AbiError(path, "malformed ELF file (bad identification or truncated header)")
        self.endian = "<" if raw[5] == 1 else ">"
        self.is64 = raw[4] == 2
        if len(raw) < (64 if self.is64 else 52):
            raise AbiError(path, "malformed ELF file (truncated header)")
        self.e_type, self.machine = struct.unpack_from(self.endian + "HH", raw, 0x10)
        if self.is64:
            phoff, shoff = struct.unpack_from(self.endian + "QQ", raw, 0x20)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(self.endian + "HHHHH", raw, 0x36)
        else:
            phoff, shoff = struct.unpack_from(self.endian + "II", raw, 0x1C)
            phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(self.endian + "HHHHH", raw, 0x2A)
        if phnum and phoff + phentsize * phnum > len(raw):
            raise AbiError(path, "malformed ELF file (program headers past the end of the file: truncated?)")
        if shnum and shoff + shentsize * shnum > len(raw):
            raise AbiError(path, "malformed ELF file (section headers past the end of the file: truncated?)")
        self.shoff, self.shentsize, self.shnum, self.shstrndx = shoff, shentsize, shnum, shstrndx

    def sections(self) -> List[_Section]:
        fmt = self.endian + ("IIQQQQIIQQ" if self.is64 else "IIIIIIIIII")
        if self.shnum and self.shentsize < struct.calcsize(fmt):
            raise AbiError(self.path, f"malformed ELF file (section header size {self.shentsize})")
        out = []
        for i in range(self.shnum):
            name_offset, sh_type, _, _, offset, size, link, info, _, entsize = struct.unpack_from(
                fmt, self.raw, self.shoff + i * self.shentsize)
            out.append(_Section(sh_type, offset, size, link, entsize, name_offset, info))
        return out

    def sections_by_name(self, sections: List[_Section]) -> Dict[str, Tuple[int, _Section]]:
        """name -> (index, section); empty when the section names table is missing."""
        if not 0 < self.shstrndx < len(sections):
            return {}
        names = self.data(sections[self.shstrndx], "section names")
        out: Dict[str, Tuple[int, _Section]] = {}
        for index, section in enumerate(sections):
            out.setdefault(self.string(names, section.name_offset, "section"), (index, section))
        return out

    def data(self, section: _Section, what: str) -> bytes:
        if section.type == 8:  # SHT_NOBITS
            return b""
        end = section.offset + section.size
        if end > len(self.raw):
            raise AbiError(self.path, f"malformed ELF file ({what} past the end of the file)")
        return self.raw[section.offset:end]

    def string(self, table: bytes, offset: int, what: str) -> str:
        if offset >= len(table) and offset:
            raise AbiError(self.path, f"malformed ELF file ({what} name offset {offset} outside its string table)")
        end = table.find(b"\0", offset)
        return table[offset:end if end >= 0 else len(table)].decode("utf-8", "replace")

    def linked_strings(self, sections: List[_Section], section: _Section, what: str) -> bytes:
        if not 0 < section.link < len(sections):
            raise AbiError(self.path, f"malformed ELF file ({what} links to section {section.link})")
        return self.data(sections[section.link], f"{what} string table")

    def symbols(self, sections: List[_Section], section: _Section, what: str) -> Iterator[_Symbol]:
        data, strings = self.data(section, what), self.linked_strings(sections, section, what)
        fmt = self.endian + ("IBBHQQ" if self.is64 else "IIIBBH")
        size = struct.calcsize(fmt)
        is64, find, limit = self.is64, strings.find, len(strings)
        for entry in struct.iter_unpack(fmt, data[:len(data) - len(data) % size]):
            if is64:
                name_off, info, other, shndx, value, sym_size = entry
            else:
                name_off, value, sym_size, info, other, shndx = entry
            end = find(b"\0", name_off) if name_off < limit else -1  # self.string, inline: one per symbol
            name = strings[name_off:end].decode("utf-8", "replace") if end >= 0 else \
                self.string(strings, name_off, what)
            yield _Symbol(name, value, sym_size, info >> 4, KIND_NAMES.get(info & 0xF) or f"type{info & 0xF}",
                          other & 3, shndx)


def _find(sections: List[_Section], sh_type: int) -> Optional[_Section]:
    return next((s for s in sections if s.type == sh_type), None)


def read_shared_library(path, with_symtab: bool = True, raw=None) -> SharedLibrary:
    """with_symtab: also read .symtab to explain names that are defined but not exported; raw: the
    file as map_input gave it, when the caller has it already."""
    path = os.fspath(path)
    elf = ElfImage(path, map_input(path) if raw is None else raw)
    if elf.e_type != ET_DYN:
        raise AbiError(path, f"not a shared library (ELF type {ET_NAMES.get(elf.e_type, elf.e_type)})")
    try:
        return _read_library(elf, with_symtab)
    except struct.error as e:
        raise AbiError(path, f"malformed ELF file ({e})") from None


def _read_library(elf: ElfImage, with_symtab: bool) -> SharedLibrary:
    path = elf.path
    sections = elf.sections()
    soname, flags_1 = _dynamic_entries(elf, sections)
    if flags_1 & DF_1_PIE:
        raise AbiError(path, "not a shared library (a position-independent executable)")
    versions, index_to_name = _version_definitions(elf, sections)
    node_names = {v.name for v in versions}

    dynsym = _find(sections, SHT_DYNSYM)
    versym_section = _find(sections, SHT_GNU_VERSYM)
    versyms: List[int] = []
    if versym_section is not None:
        data = elf.data(versym_section, ".gnu.version")
        versyms = [v for (v,) in struct.iter_unpack(elf.endian + "H", data[:len(data) & ~1])]
    exports = _exports(elf, sections, dynsym, versyms, index_to_name, node_names) if dynsym is not None else []
    # .symtab's entries that .dynsym also names are explained by the exports, not here
    dynamic_names = {sym.name for sym in elf.symbols(sections, dynsym, ".dynsym")} \
        if with_symtab and dynsym is not None else set()

    unexported: Dict[str, str] = {}
    symtab = _find(sections, SHT_SYMTAB) if with_symtab else None
    has_symtab = False
    if symtab is not None:
        for sym in elf.symbols(sections, symtab, ".symtab"):
            has_symtab = True
            if not sym.name or sym.shndx == SHN_UNDEF or sym.name in dynamic_names or sym.kind not in CODE_AND_DATA:
                continue
            name = sym.name.split("@", 1)[0]
            if sym.visibility in (STV_HIDDEN, STV_INTERNAL):
                unexported.setdefault(name, "defined with hidden visibility")
            elif sym.binding == STB_LOCAL:
                unexported.setdefault(name, "defined but not exported (hidden visibility, static, or local in the "
                                            "version script)")
    return SharedLibrary(path, soname, versions, exports, unexported, has_symtab=has_symtab)


def _exports(elf: ElfImage, sections: List[_Section], dynsym: _Section, versyms: List[int],
             index_to_name: Dict[int, str], node_names: Set[str]) -> List[ExportedSymbol]:
    """The exported entries of .dynsym (see the module's text), sorted by name, version and default.
    Straight from the unpacked entries:
    an entry is tested before its name is cut from the string table, so the imports (a third of
    libbpf's entries) cost no name; every entry's name offset is still checked."""
    path = elf.path
    data, strings = elf.data(dynsym, ".dynsym"), elf.linked_strings(sections, dynsym, ".dynsym")
    fmt = elf.endian + ("IBBHQQ" if elf.is64 else "IIIBBH")
    size = struct.calcsize(fmt)
    is64, find, limit = elf.is64, strings.find, len(strings)
    versym_count = len(versyms)
    ordered = []  # (name, version, default, entry index, export): sorted as tuples, the index breaking ties
    for i, entry in enumerate(struct.iter_unpack(fmt, data[:len(data) - len(data) % size])):
        if is64:
            name_off, info, other, shndx, value, sym_size = entry
        else:
            name_off, value, sym_size, info, other, shndx = entry
        if name_off >= limit and name_off:
            elf.string(strings, name_off, ".dynsym")  # raises: the offset lies outside the table
        if shndx == SHN_UNDEF or info >> 4 not in EXPORTED_BINDINGS or other & 3 not in EXPORTED_VISIBILITY:
            continue
        end = find(b"\0", name_off) if name_off < limit else -1
        name = strings[name_off:end if end >= 0 else limit].decode("utf-8", "replace")
        if not name:
            continue
        versym = versyms[i] if i < versym_count else 1
        index = versym & ~VERSYM_HIDDEN
        if index == 0:
            continue  # versioned local: not visible to the dynamic linker
        version = None
        if index != 1:
            version = index_to_name.get(index)
            if version is None:
                raise AbiError(path, f"malformed .gnu.version: {name} uses undefined version index {index}")
        if shndx == SHN_ABS and value == 0 and name == version and name in node_names:
            continue  # ld's marker symbol for a version definition
        kind = KIND_NAMES.get(info & 0xF) or f"type{info & 0xF}"
        default = not (versym & VERSYM_HIDDEN)
        ordered.append((name, version or "", default, i,
                        new_tuple(ExportedSymbol, (name, version, default, kind, sym_size, value, shndx))))
    ordered.sort()  # by name, version and default, as listed in .dynsym otherwise
    return [entry[4] for entry in ordered]


def _dynamic_entries(elf: ElfImage, sections: List[_Section]) -> Tuple[Optional[str], int]:
    """(DT_SONAME, DT_FLAGS_1) from .dynamic."""
    dynamic = _find(sections, SHT_DYNAMIC)
    if dynamic is None:
        return None, 0
    data = elf.data(dynamic, ".dynamic")
    fmt = elf.endian + ("qQ" if elf.is64 else "iI")
    size = struct.calcsize(fmt)
    soname_offset, flags_1 = None, 0
    for tag, value in struct.iter_unpack(fmt, data[:len(data) - len(data) % size]):
        if tag == DT_NULL:
            break
        if tag == DT_SONAME:
            soname_offset = value
        elif tag == DT_FLAGS_1:
            flags_1 = value
    if soname_offset is None:
        return None, flags_1
    return elf.string(elf.linked_strings(sections, dynamic, ".dynamic"), soname_offset, "DT_SONAME"), flags_1


def _version_definitions(elf: ElfImage, sections: List[_Section]) -> Tuple[List[VersionDefinition], Dict[int, str]]:
    section = _find(sections, SHT_GNU_VERDEF)
    if section is None:
        return [], {}
    data, strings = elf.data(section, ".gnu.version_d"), elf.linked_strings(sections, section, ".gnu.version_d")
    versions, index_to_name = [], {}
    offset, seen = 0, set()
    while offset + 20 <= len(data) and offset not in seen:
        seen.add(offset)
        _, flags, ndx, count, _, aux, next_offset = struct.unpack_from(elf.endian + "HHHHIII", data, offset)
        names, aux_offset = [], offset + aux
        for _ in range(count):
            if aux_offset + 8 > len(data):
                raise AbiError(elf.path, "malformed .gnu.version_d: auxiliary entry past the section end")
            name_off, aux_next = struct.unpack_from(elf.endian + "II", data, aux_offset)
            names.append(elf.string(strings, name_off, ".gnu.version_d"))
            if not aux_next:
                break
            aux_offset += aux_next
        if not names:
            raise AbiError(elf.path, f"malformed .gnu.version_d: definition {ndx} has no name")
        index_to_name[ndx] = names[0]
        if not flags & VER_FLG_BASE:  # the base definition is the file's own name, not an ABI node
            versions.append(VersionDefinition(names[0], tuple(names[1:]), ndx))
        if not next_offset:
            break
        offset += next_offset
    return versions, index_to_name


def read_object_symbols(path) -> List[ObjectSymbol]:
    """Global definitions of a relocatable object (.o), with their visibility."""
    path = os.fspath(path)
    elf = ElfImage(path, map_input(path))
    if elf.e_type != ET_REL:
        raise AbiError(path, f"not a relocatable object (ELF type {ET_NAMES.get(elf.e_type, elf.e_type)})")
    try:
        sections = elf.sections()
        symtab = _find(sections, SHT_SYMTAB)
        symbols = list(elf.symbols(sections, symtab, ".symtab")) if symtab is not None else []
    except struct.error as e:
        raise AbiError(path, f"malformed ELF file ({e})") from None
    found = [(sym.name, (sym.shndx, sym.value), _VISIBILITY_NAMES[sym.visibility], _BINDING_NAMES[sym.binding])
             for sym in symbols
             if sym.name and sym.shndx != SHN_UNDEF and sym.binding in EXPORTED_BINDINGS
             and (sym.kind in CODE_AND_DATA or sym.kind == "notype")]
    aliases = {where: name for name, where, _, _ in found if "@" in name}
    return [ObjectSymbol(name.split("@", 1)[0], path, visibility, binding,
                         aliases.get(where) if "@" not in name else None)
            for name, where, visibility, binding in found]
