"""BPF ELF relocatable objects: read into an ``Object``, write back.

This module and nothing else knows ELF byte layout. The file header and section headers are
unpacked here with ``struct`` (a BPF object needs only them, and pyelftools cost every command
~20 ms of imports); so are symbol and relocation entries, which an ``Object`` keeps as plain
numbers that the linker and the loader generator rewrite.
"""

from __future__ import annotations

import functools
import os
import struct
from typing import Callable, Dict, List, Optional, Tuple, Union

from ..errors import BpfBuildError, ElfError, PathLike
from ..fileio import read_bytes, write_atomic
from .btf import Btf
from .btf_ext import BtfExt

EM_BPF = 247
ET_REL = 1

SHT_NULL, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 0, 1, 2, 3, 4
SHT_NOBITS, SHT_REL = 8, 9
SHT_LLVM_ADDRSIG = 0x6FFF4C03

SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR = 0x1, 0x2, 0x4
SHF_MERGE, SHF_STRINGS = 0x10, 0x20

_MAX_SECTION_SIZE = 0xFFFFFFFF

SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
SHN_LORESERVE = 0xFF00

STB_LOCAL, STB_GLOBAL, STB_WEAK = 0, 1, 2
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION, STT_FILE = 0, 1, 2, 3, 4
STV_DEFAULT, STV_INTERNAL, STV_HIDDEN, STV_PROTECTED = 0, 1, 2, 3

# BPF relocation types (LLVM's BPFELFRelocs).
R_BPF_NONE, R_BPF_64_64, R_BPF_64_ABS64, R_BPF_64_ABS32 = 0, 1, 2, 3
R_BPF_64_NODYLD32, R_BPF_64_32 = 4, 10
RELOC_NAMES: Dict[int, str] = {0: "R_BPF_NONE", 1: "R_BPF_64_64", 2: "R_BPF_64_ABS64", 3: "R_BPF_64_ABS32",
               4: "R_BPF_64_NODYLD32", 10: "R_BPF_64_32"}

BIND_NAMES: Dict[int, str] = {STB_LOCAL: "LOCAL", STB_GLOBAL: "GLOBAL", STB_WEAK: "WEAK"}
TYPE_NAMES: Dict[int, str] = {STT_NOTYPE: "NOTYPE", STT_OBJECT: "OBJECT", STT_FUNC: "FUNC", STT_SECTION: "SECTION",
              STT_FILE: "FILE"}
VIS_NAMES: Dict[int, str] = {STV_DEFAULT: "DEFAULT", STV_INTERNAL: "INTERNAL", STV_HIDDEN: "HIDDEN",
             STV_PROTECTED: "PROTECTED"}


class Section:
    """One ELF section. ``data`` holds the bytes (empty for SHT_NOBITS, whose size is ``size``).

    SHT_SYMTAB/SHT_STRTAB(.strtab, .shstrtab)/SHT_REL contents are derived from the Object when
    writing; for a SHT_REL section ``relocs`` is authoritative and ``info`` is the index of the
    section it relocates."""

    __slots__ = ("name", "type", "flags", "addralign", "entsize", "link", "info", "data",
                 "nobits_size", "_relocs", "_decode_relocs")

    def __init__(self, name: str, type: int, flags: int = 0, addralign: int = 1, entsize: int = 0,
                 data: bytes = b"", link: int = 0, info: int = 0, nobits_size: int = 0,
                 relocs: Optional[List["Relocation"]] = None):
        self.name, self.type, self.flags, self.addralign, self.entsize = name, type, flags, addralign, entsize
        self.data, self.link, self.info, self.nobits_size = data, link, info, nobits_size
        self._relocs: List[Relocation] = relocs if relocs is not None else []
        # Decodes this section's relocations when given it (not bound to it: a section holding
        # a callable that holds the section is a cycle, never freed while the collector is off).
        self._decode_relocs: Optional[Callable[[Section], List["Relocation"]]] = None

    @property
    def relocs(self) -> List["Relocation"]:
        """Relocation entries of a SHT_REL/SHT_RELA section (decoded on first use for sections
        that relocate DWARF or .BTF, which most passes never look at)."""
        if self._decode_relocs is not None:
            decode, self._decode_relocs = self._decode_relocs, None
            self._relocs = decode(self)
        return self._relocs

    @relocs.setter
    def relocs(self, value: List["Relocation"]) -> None:
        self._decode_relocs = None
        self._relocs = value

    @property
    def size(self) -> int:
        return self.nobits_size if self.type == SHT_NOBITS else len(self.data)

    @property
    def is_code(self) -> bool:
        return self.type == SHT_PROGBITS and bool(self.flags & SHF_EXECINSTR)

    def __repr__(self) -> str:
        return f"Section({self.name!r}, type={self.type}, size={self.size})"


class Symbol:
    __slots__ = ("name", "value", "size", "bind", "type", "visibility", "shndx")

    def __init__(self, name: str, value: int = 0, size: int = 0, bind: int = STB_LOCAL,
                 type: int = STT_NOTYPE, visibility: int = STV_DEFAULT, shndx: int = SHN_UNDEF):
        self.name, self.value, self.size, self.bind, self.type = name, value, size, bind, type
        self.visibility, self.shndx = visibility, shndx

    @property
    def is_defined(self) -> bool:
        return self.shndx != SHN_UNDEF

    def key(self) -> Tuple[object, ...]:
        return (self.name, self.value, self.size, self.bind, self.type, self.visibility, self.shndx)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Symbol) and self.key() == other.key()

    def __repr__(self) -> str:
        return (f"Symbol({self.name!r}, value={self.value}, size={self.size}, "
                f"{BIND_NAMES.get(self.bind, self.bind)}, {TYPE_NAMES.get(self.type, self.type)}, "
                f"{VIS_NAMES.get(self.visibility, self.visibility)}, shndx={self.shndx})")


class Relocation:
    """``offset`` in the relocated section, ``symbol`` index into Object.symbols; ``addend`` is
    None for SHT_REL (what BPF uses)."""

    __slots__ = ("offset", "symbol", "type", "addend")

    def __init__(self, offset: int, symbol: int, type: int, addend: Optional[int] = None):
        self.offset, self.symbol, self.type, self.addend = offset, symbol, type, addend

    def key(self) -> Tuple[object, ...]:
        return (self.offset, self.symbol, self.type, self.addend)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Relocation) and self.key() == other.key()

    def __repr__(self) -> str:
        return f"Relocation(offset={self.offset}, symbol={self.symbol}, {RELOC_NAMES.get(self.type, self.type)})"


class Object:
    """A BPF relocatable object. ``sections[0]`` and ``symbols[0]`` are ELF's null entries.

    ``btf``/``btf_ext`` are the parsed .BTF/.BTF.ext (None when absent); writing encodes them back
    into their sections."""

    def __init__(self, *, byteorder: str = "little", e_flags: int = 0, path: Optional[str] = None):
        self.path = path
        self.byteorder = byteorder
        self.e_flags = e_flags
        self.sections: List[Section] = [Section("", SHT_NULL)]
        self.symbols: List[Symbol] = [Symbol("")]
        self.btf: Optional[Btf] = None
        self.btf_ext: Optional[BtfExt] = None
        # Index of the section-name string table; clang shares .strtab for symbol and section names.
        self.shstrndx: Optional[int] = None
        # Writers that must reproduce another tool's bytes (the linker matching libbpf) can fix the
        # order of the first .strtab strings and the .symtab sh_info value; None derives both.
        self.strtab_order: Optional[List[str]] = None
        self.symtab_info: Optional[int] = None

    # -- lookup --------------------------------------------------------------------------------
    def section(self, name: str) -> Optional[Section]:
        for s in self.sections:
            if s.name == name and s.type != SHT_NULL:
                return s
        return None

    def section_index(self, name: str) -> Optional[int]:
        for i, s in enumerate(self.sections):
            if s.name == name and s.type != SHT_NULL:
                return i
        return None

    def relocations_for(self, index: int) -> List[Relocation]:
        """The relocations applying to section ``index`` (empty if none)."""
        for s in self.sections:
            if s.type in (SHT_REL, SHT_RELA) and s.info == index:
                return s.relocs
        return []

    def rel_section_for(self, index: int) -> Optional[Section]:
        for s in self.sections:
            if s.type in (SHT_REL, SHT_RELA) and s.info == index:
                return s
        return None

    def symbols_in(self, index: int) -> List[Symbol]:
        return [s for s in self.symbols[1:] if s.shndx == index]

    def symbol(self, name: str) -> Optional[Symbol]:
        for s in self.symbols[1:]:
            if s.name == name and s.type not in (STT_SECTION, STT_FILE):
                return s
        return None

    def add_section(self, section: Section) -> int:
        self.sections.append(section)
        return len(self.sections) - 1

    # -- transforms ----------------------------------------------------------------------------
    def remove_sections(self, drop: Callable[[int, Section], bool]) -> None:
        """Remove sections (and relocation sections targeting them, and symbols defined in them),
        renumbering section and symbol indices everywhere."""
        doomed = {i for i, s in enumerate(self.sections) if i and drop(i, s)}
        doomed |= {i for i, s in enumerate(self.sections)
                   if s.type in (SHT_REL, SHT_RELA) and s.info in doomed}
        if not doomed:
            return
        new_index: Dict[int, int] = {}
        kept: List[Section] = []
        for i, s in enumerate(self.sections):
            if i not in doomed:
                new_index[i] = len(kept)
                kept.append(s)
        sym_index: Dict[int, int] = {0: 0}
        syms: List[Symbol] = [self.symbols[0]]
        for i, sym in enumerate(self.symbols[1:], 1):
            if sym.shndx in doomed:
                continue
            if 0 < sym.shndx < SHN_LORESERVE:
                sym.shndx = new_index[sym.shndx]
            sym_index[i] = len(syms)
            syms.append(sym)
        for s in kept:
            if s.type in (SHT_REL, SHT_RELA):
                s.info = new_index[s.info]
                for r in s.relocs:
                    if r.symbol not in sym_index:
                        raise ElfError(self.path, f"relocation in {s.name} refers to a symbol of a removed section")
                    r.symbol = sym_index[r.symbol]
            if s.link in new_index:
                s.link = new_index[s.link]
        if self.shstrndx is not None:
            self.shstrndx = new_index.get(self.shstrndx)
        self.sections = kept
        self.symbols = syms

    def strip_debug(self) -> None:
        """Drop DWARF (and its relocations), as libbpf's linker does."""
        self.remove_sections(lambda i, s: s.name.startswith(".debug_"))

    # -- I/O -----------------------------------------------------------------------------------
    @classmethod
    def read(cls, source: Union[str, os.PathLike[str], bytes], path: Optional[str] = None, *,
             dwarf: bool = True, read_btf: _BtfReader = None) -> Object:
        """The object in ``source`` (a path or the file's bytes). ``dwarf=False`` leaves out the
        bytes of the DWARF sections (.debug_*) and of their relocation sections, for a reader
        that drops them as libbpf's linker does (they are most of a ``-g`` object); their
        headers stay, and such an Object is not for writing back whole. ``read_btf`` reads
        .BTF instead of ``Btf.parse`` (the linker keeps it as words)."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            return _read(bytes(source), path, dwarf, read_btf)
        return _read(read_bytes(source, ElfError), os.fspath(source), dwarf, read_btf)

    def to_bytes(self) -> bytes:
        return _write(self)

    def write(self, path: Union[str, os.PathLike[str]]) -> None:
        write_atomic(path, self.to_bytes())


# ----------------------------------------------------------------------------------------------
# Reading

_BtfReader = Optional[Callable[[bytes, PathLike], Btf]]


def _read(data: bytes, path: Optional[str], dwarf: bool = True, read_btf: _BtfReader = None) -> Object:
    try:
        return _read_unchecked(data, path, dwarf, read_btf)
    except (BpfBuildError, ImportError):
        raise  # a missing module is the installation's fault, never the input file's
    except RecursionError:
        raise ElfError(path, "malformed ELF (nesting too deep)") from None
    except Exception as e:  # corrupt input the checks did not foresee: still one line
        raise ElfError(path, f"malformed ELF: {e.__class__.__name__}: {e}") from None


def _read_unchecked(data: bytes, path: Optional[str], dwarf: bool, read_btf: _BtfReader) -> Object:
    if len(data) < _EHDR.size or data[:4] != b"\x7fELF":
        raise ElfError(path, "not an ELF file")
    if data[4] != 2:
        raise ElfError(path, "not a 64-bit ELF object (BPF objects are ELFCLASS64)")
    if data[5] not in (1, 2):
        raise ElfError(path, f"bad ELF data encoding {data[5]}")
    bo = "<" if data[5] == 1 else ">"
    hdr = dict(zip(_EHDR_FIELDS, struct.unpack_from(bo + _EHDR.format, data)))
    if hdr["e_machine"] != EM_BPF:
        raise ElfError(path, f"not a BPF object (machine {hdr['e_machine']})")
    if hdr["e_type"] != ET_REL:
        raise ElfError(path, f"not a relocatable object (type {hdr['e_type']}); expected ET_REL")
    obj = Object(byteorder="little" if bo == "<" else "big", e_flags=hdr["e_flags"], path=path)
    raw_headers = _section_headers(data, hdr, bo, path)
    nsec = len(raw_headers)
    shstrndx = hdr["e_shstrndx"]
    if not 0 <= shstrndx < nsec:
        raise ElfError(path, f"section name table index {shstrndx} out of range")
    shstr = _section_bytes(data, raw_headers[shstrndx], path, "section name table")
    obj.sections = []
    obj.shstrndx = shstrndx
    symtab_index = None
    for i, sh in enumerate(raw_headers):
        stype = sh["sh_type"]
        name = _cstr(shstr, sh["sh_name"], path, f"section {i} name")
        if stype == SHT_NOBITS:
            if sh["sh_size"] > _MAX_SECTION_SIZE:
                # Only the file's length bounds other sections; BTF and the kernel describe
                # section sizes and offsets in 32 bits.
                raise ElfError(path, f"section '{name}' is {sh['sh_size']} bytes: more than a BPF "
                                     f"object can describe (4 GiB)")
            sec = Section(name, stype, sh["sh_flags"], sh["sh_addralign"], sh["sh_entsize"],
                          b"", sh["sh_link"], sh["sh_info"], nobits_size=sh["sh_size"])
        else:
            wanted = dwarf or not name.startswith(_DWARF_PREFIXES)
            sec = Section(name, stype, sh["sh_flags"], sh["sh_addralign"], sh["sh_entsize"],
                          _section_bytes(data, sh, path, f"section '{name}'", wanted) if i else b"",
                          sh["sh_link"], sh["sh_info"])
        if stype == SHT_SYMTAB:
            if symtab_index is not None:
                raise ElfError(path, "more than one symbol table")
            symtab_index = i
        obj.sections.append(sec)
    if obj.sections[shstrndx].type != SHT_STRTAB:
        raise ElfError(path, f"section name table (section {shstrndx}) is not a string table")
    if obj.sections and obj.sections[0].type != SHT_NULL:
        raise ElfError(path, "section 0 is not the null section")
    if symtab_index is not None:
        link = obj.sections[symtab_index].link
        if not 0 < link < nsec or obj.sections[link].type != SHT_STRTAB:
            raise ElfError(path, f"symbol table links to section {link}, which is not a string table")
    for i, s in enumerate(obj.sections):
        if s.addralign and s.addralign & (s.addralign - 1):
            raise ElfError(path, f"section '{s.name}' has alignment {s.addralign}, not a power of two")
        if s.link >= nsec and s.type in (SHT_SYMTAB, SHT_REL, SHT_RELA):
            raise ElfError(path, f"section '{s.name}' links to section {s.link}, out of range")
    if symtab_index is not None:
        sizes = [sh["sh_size"] for sh in raw_headers]  # what the file says, read or not
        obj.symbols = _read_symbols(obj, symtab_index, sizes, bo, path)
        binds = [sym.bind for sym in obj.symbols]
        first_global = next((i for i, b in enumerate(binds) if b != STB_LOCAL), len(binds))
        if any(b == STB_LOCAL for b in binds[first_global:]):
            # libbpf's linker interleaves locals and globals (sh_info 0): keep what the file says
            # so the object can be written back as it was.
            obj.symtab_info = obj.sections[symtab_index].info
    for i, s in enumerate(obj.sections):
        if s.type in (SHT_REL, SHT_RELA):
            if not 0 < s.info < nsec:
                raise ElfError(path, f"relocation section '{s.name}' targets section {s.info}, out of range")
            target = obj.sections[s.info]
            decode = functools.partial(_read_relocs, target=target, nsyms=len(obj.symbols), bo=bo, path=path)
            if target.flags & SHF_ALLOC:
                s.relocs = decode(s)
            else:
                s._decode_relocs = decode
    btf_sec = obj.section(".BTF")
    if btf_sec is not None:
        obj.btf = read_btf(bytes(btf_sec.data), path) if read_btf is not None else Btf.parse(btf_sec.data, path)
        if obj.btf.byteorder != obj.byteorder:
            raise ElfError(path, ".BTF byte order differs from the ELF's")
    ext_sec = obj.section(".BTF.ext")
    if ext_sec is not None:
        if obj.btf is None:
            raise ElfError(path, ".BTF.ext without .BTF")
        obj.btf_ext = BtfExt.parse(ext_sec.data, obj.btf.strings, path)
        _check_btf_ext_targets(obj, obj.btf_ext, path)
    return obj


def _check_btf_ext_targets(obj: Object, ext: BtfExt, path: PathLike) -> None:
    """func_info, line_info and CO-RE records describe instructions: each table's sections must
    be code sections of this object and each record an instruction inside it."""
    code = {s.name: s for s in obj.sections if s.is_code}
    names = {s.name for s in obj.sections}
    for what, info in zip(("func_info", "line_info", "core_relo"), ext.tables()):
        for esec in info.sections:
            sec = code.get(esec.name)
            if sec is None:
                reason = "which holds no code" if esec.name in names else "which the object does not have"
                raise ElfError(path, f".BTF.ext {what}: records for section '{esec.name}', {reason}")
            size = len(sec.data)
            for r in esec.records:
                if r.insn_off >= size or r.insn_off % 8:
                    raise ElfError(path, f".BTF.ext {what}: record at byte {r.insn_off} of "
                                         f"'{esec.name}' is not an instruction of its {size} bytes")


# Sections left out by Object.read(dwarf=False): DWARF and the relocations of DWARF.
_DWARF_PREFIXES = (".debug_", ".rel.debug_", ".rela.debug_")

# Elf64_Ehdr after e_ident, and Elf64_Shdr (the ELF gABI), as struct formats and field names.
_EHDR = struct.Struct("16xHHIQQQIHHHHHH")
_EHDR_FIELDS = ("e_type", "e_machine", "e_version", "e_entry", "e_phoff", "e_shoff", "e_flags",
                "e_ehsize", "e_phentsize", "e_phnum", "e_shentsize", "e_shnum", "e_shstrndx")
_SHDR = struct.Struct("IIQQQQIIQQ")
_SHDR_FIELDS = ("sh_name", "sh_type", "sh_flags", "sh_addr", "sh_offset", "sh_size", "sh_link",
                "sh_info", "sh_addralign", "sh_entsize")


def _section_headers(data: bytes, hdr: Dict[str, int], bo: str, path: PathLike) -> List[Dict[str, int]]:
    """The section header table as dicts of its fields. With more sections than e_shnum holds
    (e_shnum 0), section 0's sh_size is the count (the gABI's extended numbering)."""
    shoff, shentsize = hdr["e_shoff"], hdr["e_shentsize"]
    if not shoff:
        return []
    if shentsize != _SHDR.size:
        raise ElfError(path, f"section header entries are {shentsize} bytes, not {_SHDR.size}")
    entry = struct.Struct(bo + _SHDR.format)
    if shoff + entry.size > len(data):
        raise ElfError(path, "section header table extends past the end of the file")
    nsec = hdr["e_shnum"] or dict(zip(_SHDR_FIELDS, entry.unpack_from(data, shoff)))["sh_size"]
    if nsec > 65000:
        raise ElfError(path, f"too many sections ({nsec})")
    if shoff + nsec * shentsize > len(data):
        raise ElfError(path, "section header table extends past the end of the file")
    return [dict(zip(_SHDR_FIELDS, fields)) for fields in entry.iter_unpack(data[shoff:shoff + nsec * shentsize])]


def _section_bytes(data: bytes, sh: Dict[str, int], path: PathLike, what: str, wanted: bool = True) -> bytes:
    """The section's bytes (none if not ``wanted``: it must still lie inside the file)."""
    off, size = sh["sh_offset"], sh["sh_size"]
    if sh["sh_type"] == SHT_NOBITS:
        return b""
    if off + size > len(data):
        raise ElfError(path, f"{what} ({size} bytes at offset {off}) extends past the end of the file")
    return data[off:off + size] if wanted else b""


def _cstr(table: bytes, off: int, path: PathLike, what: str) -> str:
    if off >= len(table) and off:
        raise ElfError(path, f"{what}: string offset {off} is outside its string table")
    end = table.find(b"\0", off)
    if end < 0:
        raise ElfError(path, f"{what}: string at offset {off} is not NUL-terminated")
    try:
        return table[off:end].decode("utf-8")
    except UnicodeDecodeError:
        # Names end up in generated C and Python and in messages: refuse them here, once.
        raise ElfError(path, f"{what}: name {table[off:end]!r} is not valid UTF-8") from None


def _read_symbols(obj: Object, index: int, sizes: List[int], bo: str, path: PathLike) -> List[Symbol]:
    sec = obj.sections[index]
    if sec.entsize not in (0, 24) or len(sec.data) % 24:
        raise ElfError(path, f"symbol table has entry size {sec.entsize} / {len(sec.data)} bytes; expected 24-byte entries")
    if not 0 < sec.link < len(obj.sections):
        raise ElfError(path, f"symbol table links to string table {sec.link}, out of range")
    strtab = obj.sections[sec.link].data
    entry = struct.Struct(bo + "IBBHQQ")
    syms = []
    nsec = len(obj.sections)
    for i in range(len(sec.data) // 24):
        st_name, st_info, st_other, st_shndx, st_value, st_size = entry.unpack_from(sec.data, i * 24)
        if st_shndx >= nsec and st_shndx < SHN_LORESERVE:
            raise ElfError(path, f"symbol {i} refers to section {st_shndx}, out of range")
        name = _cstr(strtab, st_name, path, f"symbol {i}")
        if 0 < st_shndx < SHN_LORESERVE and i:
            # What a symbol covers must lie inside its section: every pass that reads a
            # variable's bytes or a function's instructions relies on it.
            size = sizes[st_shndx]
            if st_value > size or st_value + st_size > size:
                raise ElfError(path, f"symbol '{name}' ({st_size} bytes at {st_value}) lies "
                                     f"outside its section '{obj.sections[st_shndx].name}' ({size} bytes)")
        syms.append(Symbol(name, st_value, st_size, st_info >> 4, st_info & 0xF, st_other & 0x3,
                           st_shndx))
    if not syms:
        syms = [Symbol("")]
    return syms


def _read_relocs(sec: Section, target: Section, nsyms: int, bo: str, path: PathLike) -> List[Relocation]:
    rela = sec.type == SHT_RELA
    size = 24 if rela else 16
    if len(sec.data) % size:
        raise ElfError(path, f"relocation section '{sec.name}' size {len(sec.data)} is not a multiple of {size}")
    entry = struct.Struct(bo + ("QQq" if rela else "QQ"))
    out = []
    for i in range(len(sec.data) // size):
        vals = entry.unpack_from(sec.data, i * size)
        sym, rtype = vals[1] >> 32, vals[1] & 0xFFFFFFFF
        if sym >= nsyms:
            raise ElfError(path, f"relocation {i} in '{sec.name}' refers to symbol {sym}, out of range")
        out.append(Relocation(vals[0], sym, rtype, vals[2] if rela else None))
    limit = target.size
    if target.type != SHT_NOBITS:
        for r in out:
            if r.offset >= limit:
                raise ElfError(path, f"relocation at offset {r.offset} in '{sec.name}' is past "
                                     f"the end of '{target.name}' ({limit} bytes)")
    return out


# ----------------------------------------------------------------------------------------------
# Writing

class _StrtabBuilder:
    """A string table being written: each name once, in the order first added."""

    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.offsets: Dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        off = self.offsets.get(s)
        if off is None:
            off = len(self.data)
            self.data += s.encode("utf-8", "surrogateescape") + b"\0"
            self.offsets[s] = off
        return off


def _write(obj: Object) -> bytes:
    bo = "<" if obj.byteorder == "little" else ">"
    sections = obj.sections
    if not sections or sections[0].type != SHT_NULL:
        raise ElfError(obj.path, "section 0 must be the null section")
    idx_symtab = next((i for i, s in enumerate(sections) if s.type == SHT_SYMTAB), None)
    idx_shstr = obj.shstrndx
    if idx_shstr is None or not 0 < idx_shstr < len(sections) or sections[idx_shstr].type != SHT_STRTAB:
        idx_shstr = next((i for i, s in enumerate(sections)
                          if s.name in (".shstrtab", ".strtab") and s.type == SHT_STRTAB), None)
    idx_strtab = None
    if idx_symtab is not None:
        link = sections[idx_symtab].link
        if 0 < link < len(sections) and sections[link].type == SHT_STRTAB:
            idx_strtab = link
        else:
            idx_strtab = next((i for i, s in enumerate(sections)
                               if s.name == ".strtab" and s.type == SHT_STRTAB), None)
        if idx_strtab is None:
            raise ElfError(obj.path, "symbol table has no string table section (.strtab)")
    if idx_shstr is None:
        raise ElfError(obj.path, "no section name table (.shstrtab or .strtab)")

    # Symbol table and its strings; locals must come first (sh_info = first non-local) unless the
    # caller fixed sh_info itself (libbpf's linker interleaves them and writes 0).
    symtab = bytearray()
    strtab = _StrtabBuilder()
    for name in obj.strtab_order or ():
        strtab.add(name)
    first_global = len(obj.symbols)
    sym_entry = struct.Struct(bo + "IBBHQQ")
    for i, sym in enumerate(obj.symbols):
        if sym.bind != STB_LOCAL and first_global == len(obj.symbols):
            first_global = i
        elif sym.bind == STB_LOCAL and first_global < i and obj.symtab_info is None:
            raise ElfError(obj.path, f"local symbol '{sym.name}' after global symbols")
        symtab += sym_entry.pack(strtab.add(sym.name) if sym.name else 0, (sym.bind << 4) | (sym.type & 0xF),
                                 sym.visibility & 0x3, sym.shndx, sym.value, sym.size)

    shstr = strtab if idx_shstr == idx_strtab else _StrtabBuilder()
    name_offs = [shstr.add(s.name) for s in sections]

    contents: List[bytes] = []
    for i, s in enumerate(sections):
        if i == idx_symtab:
            info = first_global if obj.symtab_info is None else obj.symtab_info
            assert idx_strtab is not None  # found with the symbol table above, or ElfError
            s.link, s.info, s.entsize, s.addralign = idx_strtab, info, 24, 8
            contents.append(bytes(symtab))
        elif i == idx_strtab or i == idx_shstr:
            contents.append(b"")  # filled in below, once every name has been added
        elif s.type in (SHT_REL, SHT_RELA):
            rela = s.type == SHT_RELA
            ent = struct.Struct(bo + ("QQq" if rela else "QQ"))
            if idx_symtab is not None:
                s.link = idx_symtab
            s.entsize = 24 if rela else 16
            s.addralign = 8
            contents.append(b"".join(
                ent.pack(r.offset, (r.symbol << 32) | r.type, *((r.addend or 0,) if rela else ()))
                for r in s.relocs))
        elif s.name == ".BTF" and obj.btf is not None:
            contents.append(b"")  # encoded below, after .BTF.ext has added its names
        elif s.name == ".BTF.ext" and obj.btf_ext is not None:
            if obj.btf is None:
                raise ElfError(obj.path, ".BTF.ext without .BTF")
            contents.append(obj.btf_ext.encode(obj.btf.strings))
        elif s.type == SHT_NOBITS or i == 0:
            contents.append(b"")
        else:
            contents.append(bytes(s.data))
    if obj.btf is not None:
        for i, s in enumerate(sections):
            if s.name == ".BTF":
                contents[i] = obj.btf.encode()

    for table_index in (idx_strtab, idx_shstr):
        if table_index is not None:
            contents[table_index] = bytes(strtab.data if table_index == idx_strtab else shstr.data)

    out = bytearray(64)
    offsets = []
    for i, s in enumerate(sections):
        if i == 0:
            offsets.append(0)
            continue
        align = max(s.addralign, 1)
        pad = (-len(out)) % align
        out += bytes(pad)
        offsets.append(len(out))
        out += contents[i]
    out += bytes((-len(out)) % 8)
    shoff = len(out)
    sh_entry = struct.Struct(bo + "IIQQQQIIQQ")
    for i, s in enumerate(sections):
        size = s.nobits_size if s.type == SHT_NOBITS else len(contents[i])
        if i == 0:
            out += bytes(64)
            continue
        out += sh_entry.pack(name_offs[i], s.type, s.flags, 0, offsets[i], size, s.link, s.info,
                             s.addralign, s.entsize)
    ident = b"\x7fELF" + bytes([2, 1 if bo == "<" else 2, 1, 0]) + bytes(8)
    header = ident + struct.pack(bo + "HHIQQQIHHHHHH", ET_REL, EM_BPF, 1, 0, 0, shoff, obj.e_flags,
                                 64, 0, 0, 64, len(sections), idx_shstr)
    out[:64] = header
    return bytes(out)
