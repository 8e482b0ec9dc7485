"""What a shared library really exports, and what relocatable objects define, read with lief.

A dynamic symbol is *exported* when it is defined (not UND), GLOBAL/WEAK/GNU_UNIQUE, has default
or protected visibility, and its .gnu.version entry is not 0 (local). Its version comes from
.gnu.version: index 1 means unversioned, bit 15 marks a compat (``name@V``) rather than the
default (``name@@V``) definition. The ABS symbols ld emits for each version definition are not
exports.
"""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import lief

from ..errors import AbiError
from ..fileio import read_bytes

lief.logging.disable()  # lief logs to stderr on malformed input; we raise AbiError instead

ET_NAMES = {0: "NONE", 1: "REL (relocatable object)", 2: "EXEC (executable)", 3: "DYN", 4: "CORE"}
ET_REL, ET_DYN = 1, 3
SHN_UNDEF, SHN_ABS, SHN_COMMON = 0, 0xFFF1, 0xFFF2
VERSYM_HIDDEN = 0x8000
VER_FLG_BASE = 0x1
_BINDING, _TYPE, _VIS = lief.ELF.Symbol.BINDING, lief.ELF.Symbol.TYPE, lief.ELF.Symbol.VISIBILITY
# Compared as enum members: lief's attribute access is the cost that matters on big libraries.
EXPORTED_BINDINGS = {_BINDING.GLOBAL, _BINDING.WEAK, _BINDING.GNU_UNIQUE}
EXPORTED_VISIBILITY = {_VIS.DEFAULT, _VIS.PROTECTED}
HIDDEN_VISIBILITY = {_VIS.HIDDEN, _VIS.INTERNAL}
CODE_AND_DATA = {_TYPE.FUNC, _TYPE.OBJECT, _TYPE.TLS, _TYPE.GNU_IFUNC}
KIND_NAMES = {_TYPE.FUNC: "func", _TYPE.OBJECT: "object", _TYPE.TLS: "tls", _TYPE.GNU_IFUNC: "ifunc",
              _TYPE.NOTYPE: "notype"}


@dataclass(frozen=True)
class ExportedSymbol:
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


def versioned_name(name: str, version: Optional[str], default: bool) -> str:
    """The spelling users see in `readelf --dyn-syms`: name@@V, name@V or name."""
    if version is None:
        return name
    return f"{name}{'@@' if default else '@'}{version}"


@dataclass(frozen=True)
class VersionDefinition:
    name: str
    parents: Tuple[str, ...]
    index: int


@dataclass
class SharedLibrary:
    path: str
    soname: Optional[str]
    versions: List[VersionDefinition]
    exports: List[ExportedSymbol]
    # Names defined in the library but not exported, from .symtab when not stripped: name -> why.
    unexported: Dict[str, str] = field(default_factory=dict)
    has_symtab: bool = False

    def export_names(self) -> List[str]:
        return sorted({s.name for s in self.exports})


@dataclass(frozen=True)
class ObjectSymbol:
    name: str  # without any .symver suffix
    path: str
    visibility: str  # DEFAULT, PROTECTED, HIDDEN, INTERNAL
    binding: str
    # For the implementation behind a .symver alias (btf__dedup_v0_6_0 for btf__dedup@@LIBBPF_0.6.0):
    # that alias. It must keep default visibility for the alias to be exported.
    versioned_as: Optional[str] = None


def _enum_name(value) -> str:
    return str(value).rsplit(".", 1)[-1]


def _elf_header(path: str, raw: bytes) -> int:
    """Validate the ELF identification ourselves so any non-ELF input is one clear error."""
    if len(raw) < 4 or raw[:4] != b"\x7fELF":
        raise AbiError(path, "not an ELF file")
    if len(raw) < 0x14 or raw[4] not in (1, 2) or raw[5] not in (1, 2):
        raise AbiError(path, "malformed ELF file (bad identification or truncated header)")
    endian = "<" if raw[5] == 1 else ">"
    is64 = raw[4] == 2
    header_size = 64 if is64 else 52
    if len(raw) < header_size:
        raise AbiError(path, "malformed ELF file (truncated header)")
    (e_type,) = struct.unpack_from(endian + "H", raw, 0x10)
    if is64:
        phoff, shoff = struct.unpack_from(endian + "QQ", raw, 0x20)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(endian + "HHHH", raw, 0x36)
    else:
        phoff, shoff = struct.unpack_from(endian + "II", raw, 0x1C)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(endian + "HHHH", raw, 0x2A)
    # lief parses a truncated file into a partial binary; reject it here with the reason.
    if phnum and phoff + phentsize * phnum > len(raw):
        raise AbiError(path, "malformed ELF file (program headers past the end of the file: truncated?)")
    if shnum and shoff + shentsize * shnum > len(raw):
        raise AbiError(path, "malformed ELF file (section headers past the end of the file: truncated?)")
    return e_type


def _parse(path: str, raw: bytes):
    try:
        binary = lief.ELF.parse(raw)
    except Exception as e:  # lief raises assorted errors on corrupt files
        raise AbiError(path, f"malformed ELF file ({e})") from None
    if binary is None:
        raise AbiError(path, "malformed ELF file (lief cannot parse it)")
    return binary


def read_shared_library(path, with_symtab: bool = True) -> SharedLibrary:
    """with_symtab: also read .symtab to explain names that are defined but not exported."""
    path = os.fspath(path)
    raw = read_bytes(path, AbiError)
    e_type = _elf_header(path, raw)
    if e_type != ET_DYN:
        raise AbiError(path, f"not a shared library (ELF type {ET_NAMES.get(e_type, e_type)})")
    binary = _parse(path, raw)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lief warns on out-of-range enum values in corrupt files
            return _read_library(path, binary, with_symtab)
    except AbiError:
        raise
    except Exception as e:
        raise AbiError(path, f"malformed ELF file ({type(e).__name__}: {e})") from None


def _read_library(path: str, binary, with_symtab: bool) -> SharedLibrary:
    soname = None
    for entry in binary.dynamic_entries:
        if entry.tag == lief.ELF.DynamicEntry.TAG.SONAME:
            soname = entry.name
    versions, index_to_name = [], {}
    for d in binary.symbols_version_definition:
        names = [aux.name for aux in d.auxiliary_symbols]
        if not names:
            raise AbiError(path, f"malformed .gnu.version_d: definition {d.ndx} has no name")
        index_to_name[d.ndx] = names[0]
        if d.flags & VER_FLG_BASE:
            continue  # the file's own name (the SONAME), not an ABI node
        versions.append(VersionDefinition(names[0], tuple(names[1:]), d.ndx))
    node_names = {v.name for v in versions}

    exports = []
    dynamic_names = set()
    for sym in binary.dynamic_symbols:
        name = sym.name
        if not name:
            continue
        dynamic_names.add(name)
        shndx = sym.shndx
        if shndx == SHN_UNDEF or sym.binding not in EXPORTED_BINDINGS or sym.visibility not in EXPORTED_VISIBILITY:
            continue
        versym = sym.symbol_version.value if sym.symbol_version is not None else 1
        index = versym & ~VERSYM_HIDDEN
        if index == 0:
            continue  # versioned local: not visible to the dynamic linker
        version = None
        if index != 1:
            version = index_to_name.get(index)
            if version is None:
                raise AbiError(path, f"malformed .gnu.version: {name} uses undefined version index {index}")
        address = sym.value
        if shndx == SHN_ABS and address == 0 and name == version and name in node_names:
            continue  # ld's marker symbol for a version definition
        kind = sym.type
        exports.append(ExportedSymbol(
            name=name,
            version=version,
            default=not (versym & VERSYM_HIDDEN),
            kind=KIND_NAMES.get(kind) or _enum_name(kind).lower(),
            size=int(sym.size),
            address=int(address),
            section=int(shndx),
        ))
    exports.sort(key=lambda s: (s.name, s.version or "", s.default))

    unexported: Dict[str, str] = {}
    symtab = list(binary.symtab_symbols) if with_symtab else []
    for sym in symtab:
        if not sym.name or sym.shndx == SHN_UNDEF or sym.name in dynamic_names or sym.type not in CODE_AND_DATA:
            continue
        name = sym.name.split("@", 1)[0]
        if sym.visibility in HIDDEN_VISIBILITY:
            unexported.setdefault(name, "defined with hidden visibility")
        elif sym.binding == _BINDING.LOCAL:
            unexported.setdefault(name, "defined but not exported (hidden visibility, static, or local in the "
                                        "version script)")
    return SharedLibrary(path, soname, versions, exports, unexported, has_symtab=bool(symtab))


def read_object_symbols(path) -> List[ObjectSymbol]:
    """Global definitions of a relocatable object (.o), with their visibility."""
    path = os.fspath(path)
    raw = read_bytes(path, AbiError)
    e_type = _elf_header(path, raw)
    if e_type != ET_REL:
        raise AbiError(path, f"not a relocatable object (ELF type {ET_NAMES.get(e_type, e_type)})")
    binary = _parse(path, raw)
    found = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lief warns on out-of-range enum values in corrupt files
            for sym in binary.symtab_symbols:
                if not sym.name or sym.shndx == SHN_UNDEF or sym.binding not in EXPORTED_BINDINGS:
                    continue
                if sym.type not in CODE_AND_DATA and sym.type != _TYPE.NOTYPE:
                    continue
                found.append((sym.name, (sym.shndx, sym.value), _enum_name(sym.visibility),
                              _enum_name(sym.binding)))
    except Exception as e:
        raise AbiError(path, f"malformed ELF file ({type(e).__name__}: {e})") from None
    aliases = {where: name for name, where, _, _ in found if "@" in name}
    return [ObjectSymbol(name.split("@", 1)[0], path, visibility, binding,
                         aliases.get(where) if "@" not in name else None)
            for name, where, visibility, binding in found]
