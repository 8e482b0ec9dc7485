"""Phase 1 for each input (libbpf's linker_load_obj): read it (its BTF as words, checked as the
parser checks it), check it as libbpf's sanity checks do, and fix up its BTF: DATASEC sizes and
global VAR offsets are only final in the ELF.

The result is an ``InputView``, the input as the appending phases see it.
"""

from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Tuple, Union

from ..errors import LinkError
from ..model import btf as B
from ..model.btf_ext import CoreRelo, FuncInfo, LineInfo
from ..model.elf import (
    SHF_EXECINSTR,
    SHN_LORESERVE,
    SHN_UNDEF,
    SHT_LLVM_ADDRSIG,
    SHT_NOBITS,
    SHT_PROGBITS,
    SHT_REL,
    SHT_STRTAB,
    SHT_SYMTAB,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_NOTYPE,
    STT_OBJECT,
    STT_SECTION,
    STV_DEFAULT,
    STV_HIDDEN,
    R_BPF_64_32,
    R_BPF_64_64,
    R_BPF_64_ABS32,
    R_BPF_64_ABS64,
    Object,
    Section,
    Symbol,
)
from ..model.insn import INSN_SIZE
from .state import InputSection, InputView, LinkerState
from .words_btf import WordsBtf, read_input_btf, words_btf_of

Input = Union[Object, str, "os.PathLike[str]", bytes]

EXTERN_DATASEC = ".extern"  # clang's DATASEC for extern variables without a section
_ALLOWED_RELOCS = (R_BPF_64_64, R_BPF_64_32, R_BPF_64_ABS64, R_BPF_64_ABS32)
_LINKABLE_KIND = re.compile(b"[" + bytes((B.FUNC, B.VAR, B.DATASEC)) + b"]")


def load_input(state: LinkerState, item: Input, position: int) -> InputView:
    """The input at ``position`` (0-based), read if it is not an Object yet, checked, its BTF
    fixed up. The first input sets the output's byte order; the others must share it."""
    obj = item if isinstance(item, Object) else _read(item, position)
    file = obj.path or "<object>"
    if state.byteorder is None:
        state.byteorder, state.first_file = obj.byteorder, file
        state.btf.byteorder = obj.byteorder
    elif obj.byteorder != state.byteorder:
        raise LinkError(file, f"{obj.byteorder}-endian object cannot be linked with "
                              f"{state.first_file}, which is {state.byteorder}-endian")
    src = _view(obj, file)
    if src.btf is not None:
        src.linkable_ids = _linkable_ids(src.btf)
    _check(src)
    _fixup_btf(src)
    return src


def _read(item: Union[str, "os.PathLike[str]", bytes], position: int) -> Object:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return Object.read(bytes(item), path=f"<input {position + 1}>", dwarf=False, read_btf=read_input_btf)
    return Object.read(item, dwarf=False, read_btf=read_input_btf)


def _view(obj: Object, file: str) -> InputView:
    """The input's sections, each marked skipped when libbpf's linker drops it."""
    src = InputView(obj, file, words_btf_of(obj.btf) if obj.btf is not None else None)
    symtabs = 0
    for i, s in enumerate(obj.sections):
        if i == 0:
            continue
        sec = InputSection(s.name, i, s, skipped=_is_ignored(s))
        if not sec.skipped:
            if s.type == SHT_SYMTAB:
                symtabs += 1
                if symtabs > 1:
                    raise LinkError(file, "more than one symbol table")
            elif s.type == SHT_PROGBITS and s.name in (".BTF", ".BTF.ext"):
                sec.skipped = True
            elif s.type not in (SHT_PROGBITS, SHT_NOBITS, SHT_REL, SHT_STRTAB):
                raise LinkError(file, f"section #{i} '{s.name}' has unsupported type {s.type:#x}")
        src.add_section(sec)
        src.by_index[i] = sec
    if symtabs == 0:
        raise LinkError(file, "no symbol table")
    return src


def _linkable_ids(btf: WordsBtf) -> List[int]:
    """The ids of ``btf``'s VARs, FUNCs and DATASECs, found in its kinds (one C-speed search
    instead of a Python test of every record, in each of three phases)."""
    return [found.start() + 1 for found in _LINKABLE_KIND.finditer(btf.kinds)]


def _is_ignored(s: Section) -> bool:
    """Sections libbpf's linker drops: string tables (rebuilt), address-significance tables,
    an empty .text, DWARF and relocations of DWARF/.BTF/.BTF.ext."""
    name = s.name
    if s.type in (SHT_STRTAB, SHT_LLVM_ADDRSIG):
        return True
    if s.type == SHT_PROGBITS and not s.data and name == ".text":
        return True
    if name.startswith(".debug_"):
        return True
    if name.startswith(".rel"):
        rest = name[4:]
        if rest.startswith(".debug_") or rest in (".BTF", ".BTF.ext"):
            return True
    return False


# -- sanity checks -----------------------------------------------------------------------------

def _check(src: InputView) -> None:
    """libbpf's sanity checks on the ELF, its symbols, relocations and BTF.ext."""
    obj, file = src.obj, src.file
    for sec in src.secs:
        s = sec.elf
        if not s.name:
            raise LinkError(file, f"section #{sec.index} has an empty name")
        if s.type == SHT_PROGBITS and s.flags & SHF_EXECINSTR and len(s.data) % INSN_SIZE:
            raise LinkError(file, f"code section '{s.name}' is {len(s.data)} bytes, not a "
                                  f"whole number of instructions")
        if s.type == SHT_REL:
            _check_relocations(src, sec)
    nsec = len(obj.sections)
    for i, sym in enumerate(obj.symbols[1:], 1):
        if sym.bind not in (STB_LOCAL, STB_GLOBAL, STB_WEAK):
            raise LinkError(file, f"symbol #{i} '{sym.name}' has unsupported binding {sym.bind}")
        if sym.visibility not in (STV_DEFAULT, STV_HIDDEN):
            raise LinkError(file, f"symbol #{i} '{sym.name}' has unsupported visibility {sym.visibility}")
        if sym.shndx == SHN_UNDEF:
            if sym.type != STT_NOTYPE or sym.bind == STB_LOCAL or sym.value or sym.size:
                raise LinkError(file, f"symbol #{i} '{sym.name}' is an invalid extern symbol")
            continue
        if sym.shndx < SHN_LORESERVE and sym.shndx >= nsec:
            raise LinkError(file, f"symbol #{i} '{sym.name}' refers to missing section #{sym.shndx}")
        if sym.type == STT_SECTION and sym.value:
            raise LinkError(file, f"section symbol #{i} has a non-zero value")
    if obj.btf_ext is not None:
        _check_btf_ext(src)


def _check_relocations(src: InputView, sec: InputSection) -> None:
    s, file = sec.elf, src.file
    target = src.by_index.get(s.info)
    if target is None:
        raise LinkError(file, f"relocation section '{s.name}' targets missing section #{s.info}")
    if s.name != ".rel" + target.name:
        raise LinkError(file, f"relocation section '{s.name}' does not match the section it "
                              f"relocates ('{target.name}')")
    if target.skipped:
        return
    target_type = target.elf.type
    if target_type not in (SHT_PROGBITS, SHT_NOBITS):
        raise LinkError(file, f"relocation section '{s.name}' targets '{target.name}', which "
                              f"is neither code nor data")
    is_code = bool(target.elf.flags & SHF_EXECINSTR)
    for n, r in enumerate(s.relocs):
        if r.type not in _ALLOWED_RELOCS:
            raise LinkError(file, f"relocation #{n} in '{s.name}' has unsupported type {r.type}")
        if r.symbol == 0:
            raise LinkError(file, f"relocation #{n} in '{s.name}' refers to the null symbol")
        if is_code and r.offset % INSN_SIZE:
            raise LinkError(file, f"relocation #{n} in '{s.name}' is not at an instruction boundary")


def _check_btf_ext(src: InputView) -> None:
    ext, file = src.obj.btf_ext, src.file
    if ext is None:
        return
    if src.btf is None:  # Object.read refuses this; an Object built in memory may not
        raise LinkError(file, ".BTF.ext without .BTF")
    limit, strings = len(src.btf), src.btf.strings
    for info in ext.tables():
        for sec in info.sections:
            for r in sec.records:
                if isinstance(r, (FuncInfo, CoreRelo)) and r.type_id >= limit:
                    raise LinkError(file, f".BTF.ext record in '{sec.name}' refers to BTF type "
                                          f"{r.type_id}, beyond the {limit - 1} types")
                offs = ((r.file_name_off, r.line_off) if isinstance(r, LineInfo) else
                        (r.access_str_off,) if isinstance(r, CoreRelo) else ())
                for off in offs:
                    if strings.get(off) is None:
                        raise LinkError(file, f".BTF.ext record in '{sec.name}' has string "
                                              f"offset {off} outside the BTF strings")


# -- BTF fix-ups -------------------------------------------------------------------------------

def _fixup_btf(src: InputView) -> None:
    """DATASEC sizes and global VAR offsets are only final in the ELF; clang leaves them as
    placeholders. DATASECs without an ELF section become ephemeral sections. The fixed-up
    DATASECs are copies in ``src.datasecs``: the input's BTF is not changed. (The open phase
    lays DATASECs out by libbpf's other rules, in loader/open/btf_fixup.py.)"""
    btf = src.btf
    if btf is None:
        return
    object_symbols: Optional[Dict[Tuple[int, str], Symbol]] = None
    for tid in src.linkable_ids:
        t = btf.type(tid)
        if t.kind != B.DATASEC:
            continue
        t = src.datasecs[tid] = t.copy()
        sec = src.by_name.get(t.name)
        if sec is not None:
            if sec.section is not None:
                t.size = sec.section.size
        else:
            if t.name == EXTERN_DATASEC:
                continue  # externs resolved by the linker, not kept as a section
            sec = InputSection(t.name, 0, None)
            src.add_section(sec)
        sec.datasec_id = tid
        for v in t.secinfo:
            vt = btf.type(v.type)
            if vt.kind != B.VAR or vt.linkage != B.VAR_GLOBAL_ALLOCATED:
                continue
            if object_symbols is None:
                object_symbols = _object_symbols(src.obj)
            sym = object_symbols.get((sec.index, vt.name))
            if sym is None:
                raise LinkError(src.file, f"variable '{vt.name}' of BTF section '{t.name}' has "
                                          f"no symbol in that ELF section")
            v.offset = sym.value
        # Now laid out, the section must hold what the kernel accepts.
        problem = B.datasec_layout_problem(t, btf)
        if problem:
            raise LinkError(src.file, f"BTF section '{t.name}': {problem}")


def _object_symbols(obj: Object) -> Dict[Tuple[int, str], Symbol]:
    """The first STT_OBJECT symbol of each (section index, name): looked up once per global
    variable, which a search of the symbol table each time made quadratic."""
    found: Dict[Tuple[int, str], Symbol] = {}
    for sym in obj.symbols:
        if sym.type == STT_OBJECT:
            found.setdefault((sym.shndx, sym.name), sym)
    return found
