"""Static linker for BPF objects: libbpf's ``bpf_linker`` (what ``bpftool gen object`` runs).

``link(inputs)`` takes Objects (or paths, or ELF bytes) and returns one Object. It follows
libbpf's linker step for step, because the order in which libbpf creates sections, symbols,
strings and BTF types is what makes our output byte-identical to bpftool's:

per input: check the ELF, fix up DATASEC sizes and VAR offsets from the ELF, then append section
data, symbols (resolving globals, weak and extern symbols), relocations, BTF types and .BTF.ext
records; at the end: DATASECs rebuilt for the merged sections, .BTF.ext assembled, BTF
deduplicated (``btf_dedup``), and the sections emitted.

Every conflict is a ``LinkError`` naming the input being added and, in its one-line reason, the
symbol or section, the earlier input it conflicts with and what differs.
"""

from __future__ import annotations

import os
import struct
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ..model import btf as B
from ..model.btf import Btf, BtfType, VarSecinfo
from ..model.btf_ext import BtfExt, CoreRelo, ExtInfo, ExtSection, FuncInfo, LineInfo
from ..model.elf import (
    SHF_EXECINSTR,
    SHF_STRINGS,
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
    STT_SECTION,
    STV_DEFAULT,
    STV_HIDDEN,
    R_BPF_64_32,
    R_BPF_64_64,
    R_BPF_64_ABS32,
    R_BPF_64_ABS64,
    Object,
    Relocation,
    Section,
    Symbol,
)
from ..btf.dedup import BPFTOOL_7_1, FLAVOURS as DEDUP_FLAVOURS
from ..errors import BpfBuildError, LinkError

Input = Union[Object, str, "os.PathLike[str]", bytes]

EXTERN_DATASEC = ".extern"  # clang's DATASEC for extern variables without a section
MAPS_SECTION = ".maps"
DEDUPED_SECTIONS = ("license", "version")
INSN_SIZE = 8
BPF_JMP_CALL = 0x85
_ONE_REF = B.REF_KINDS  # kinds whose only referenced id is ``type``
_COMPOSITE = (B.STRUCT, B.UNION)
_ALLOWED_RELOCS = (R_BPF_64_64, R_BPF_64_32, R_BPF_64_ABS64, R_BPF_64_ABS32)
_TYPE_NAMES = {SHT_PROGBITS: "PROGBITS", SHT_NOBITS: "NOBITS", SHT_REL: "REL",
               SHT_SYMTAB: "SYMTAB", SHT_STRTAB: "STRTAB"}


def link(inputs: Sequence[Input], *, btf_dedup: str = BPFTOOL_7_1) -> Object:
    """Link BPF objects into one, as ``bpftool gen object`` does. Raises LinkError (or the
    ElfError/BtfError of an unreadable input).

    ``btf_dedup`` names the libbpf whose BTF deduplication to reproduce (see btf_dedup): by
    default bpftool 7.1's, so the output is byte-identical to `bpftool gen object` there;
    btf_dedup.LIBBPF for libbpf 1.1 and later, which also resolves forward declarations."""
    if not inputs:
        raise LinkError(None, "no input objects")
    if btf_dedup not in DEDUP_FLAVOURS:
        raise LinkError(None, f"unknown BTF dedup flavour '{btf_dedup}' (expected one of "
                              f"{', '.join(DEDUP_FLAVOURS)})")
    linker = _Linker(btf_dedup)
    for i, item in enumerate(inputs):
        if isinstance(item, Object):
            linker.add(item, owned=False)
        else:
            linker.add(_read(item, i), owned=True)
    return linker.finish()


def _read(item: Input, index: int) -> Object:
    if isinstance(item, (bytes, bytearray, memoryview)):
        return Object.read(bytes(item), path=f"<input {index + 1}>")
    return Object.read(item)


def _name(obj: Object) -> str:
    return obj.path or "<object>"


# ----------------------------------------------------------------------------------------------
# Linker state

class _SrcSec:
    """One section of the input being added; ephemeral ones exist only in BTF (.kconfig,
    .ksyms, or .maps holding nothing but extern maps)."""

    __slots__ = ("name", "index", "section", "skipped", "ephemeral", "dst", "dst_off",
                 "datasec_id")

    def __init__(self, name: str, index: int, section: Optional[Section], ephemeral: bool = False):
        self.name, self.index, self.section, self.ephemeral = name, index, section, ephemeral
        self.skipped = False
        self.dst: Optional[_DstSec] = None
        self.dst_off = 0
        self.datasec_id = 0

    @property
    def size(self) -> int:
        return self.section.size if self.section is not None else 0


class _ExtRecords:
    __slots__ = ("rec_size", "records")

    def __init__(self):
        self.rec_size = 0
        self.records: list = []


class _DstSec:
    """One output section, in libbpf's creation order (``id``); ``elf_index`` is 0 while the
    section is ephemeral."""

    __slots__ = ("name", "id", "ephemeral", "elf_index", "type", "flags", "addralign", "entsize",
                 "data", "size", "sec_sym_idx", "has_btf", "vars", "ext", "relocs", "target",
                 "file")

    def __init__(self, name: str, id: int):
        self.name, self.id = name, id
        self.ephemeral = True
        self.elf_index = 0
        self.type = self.flags = self.entsize = 0
        self.addralign = 1
        self.data = bytearray()
        self.size = 0
        self.sec_sym_idx = 0
        self.has_btf = False
        self.vars: List[VarSecinfo] = []
        self.ext = (_ExtRecords(), _ExtRecords(), _ExtRecords())  # func, line, core_relo
        self.relocs: List[Relocation] = []
        self.target: Optional[_DstSec] = None  # for relocation sections
        self.file = ""  # the input that created the section, for messages


class _GlobSym:
    __slots__ = ("sym_idx", "sec", "name", "btf_id", "underlying_id", "pending_src_id",
                 "var_idx", "var_from_extern", "is_extern", "is_weak", "file")

    def __init__(self, sym_idx: int, sec: Optional[_DstSec], name: str, is_extern: bool,
                 is_weak: bool, file: str):
        self.sym_idx, self.sec, self.name = sym_idx, sec, name
        self.btf_id = 0
        # The id of the VAR's/FUNC's type in the output BTF; None until known. While an input's
        # BTF is being appended, ``pending_src_id`` holds that input's id for it.
        self.underlying_id: Optional[int] = None
        self.pending_src_id: Optional[int] = None
        self.var_idx = -1  # its entry in the section's DATASEC
        self.var_from_extern = False  # that entry was made for an extern declaration
        self.is_extern, self.is_weak, self.file = is_extern, is_weak, file


class _Linker:
    def __init__(self, btf_dedup: str):
        self.dedup_flavour = btf_dedup
        self.byteorder: Optional[str] = None
        self.first_file = ""
        self.secs: List[_DstSec] = []
        self.secs_by_name: Dict[str, _DstSec] = {}
        self.elf_order: List[_DstSec] = []
        self.strtab_order: List[str] = [".strtab", ".symtab"]
        self.symbols: List[Symbol] = [Symbol("")]
        self.globs: Dict[str, _GlobSym] = {}
        self.btf = Btf()
        # self.btf.strings.add's results: the table only grows, so an offset never changes.
        self.btf_str_offs: Dict[str, int] = {}
        for name, sh_type in ((".strtab", SHT_STRTAB), (".symtab", SHT_SYMTAB)):
            sec = self._add_dst_sec(name)
            sec.ephemeral, sec.type = False, sh_type
            sec.elf_index = len(self.elf_order) + 1
            self.elf_order.append(sec)

    def _add_dst_sec(self, name: str) -> _DstSec:
        sec = _DstSec(name, len(self.secs) + 1)
        self.secs.append(sec)
        self.secs_by_name.setdefault(name, sec)
        return sec

    # -- one input -----------------------------------------------------------------------------
    def add(self, obj: Object, owned: bool = False) -> None:
        """Append one input. ``owned``: the Object is the linker's (read from a path or bytes),
        so its BTF types may move into the output instead of being copied."""
        if self.byteorder is None:
            self.byteorder, self.first_file = obj.byteorder, _name(obj)
            self.btf.byteorder = obj.byteorder
        elif obj.byteorder != self.byteorder:
            raise LinkError(_name(obj), f"{obj.byteorder}-endian object cannot be linked with "
                                        f"{self.first_file}, which is {self.byteorder}-endian")
        src = _Input(obj, owned)
        src.check()
        src.fixup_btf()
        self.append_sections(src)
        self.append_symbols(src)
        self.append_relocations(src)
        self.append_btf(src)
        self.append_btf_ext(src)

    # -- sections ------------------------------------------------------------------------------
    def _materialise(self, dst: _DstSec, src: _SrcSec, file: str) -> None:
        """Give a (new or so far ephemeral) output section its ELF identity, as libbpf does the
        first time real data arrives."""
        dst.ephemeral = src.ephemeral
        if src.ephemeral:
            return
        s = src.section
        dst.type, dst.flags, dst.addralign, dst.entsize = s.type, s.flags, s.addralign, s.entsize
        dst.size = 0
        dst.file = file
        dst.elf_index = len(self.elf_order) + 1
        self.elf_order.append(dst)
        self.strtab_order.append(dst.name)

    def _check_compatible(self, dst: _DstSec, src: _SrcSec, file: str) -> None:
        if dst.ephemeral or src.ephemeral:
            return
        s = src.section
        for what, mine, theirs in (("type", s.type, dst.type), ("flags", s.flags, dst.flags),
                                   ("entry size", s.entsize, dst.entsize)):
            if mine != theirs:
                if what == "type":
                    mine, theirs = _TYPE_NAMES.get(mine, mine), _TYPE_NAMES.get(theirs, theirs)
                else:
                    mine, theirs = hex(mine), hex(theirs)
                raise LinkError(file, f"section '{src.name}' is incompatible with the one in "
                                      f"{dst.file}: {what} {mine} here, {theirs} there")

    def _dst_section_for(self, src: _SrcSec, file: str) -> Tuple[_DstSec, bool]:
        """The output section of ``src``'s name (created if new, else checked compatible)."""
        dst = self.secs_by_name.get(src.name)
        if dst is None:
            dst = self._add_dst_sec(src.name)
            self._materialise(dst, src, file)
            return dst, True
        self._check_compatible(dst, src, file)
        return dst, False

    def _extend(self, dst: _DstSec, src: _SrcSec, file: str) -> None:
        """Append ``src``'s bytes to ``dst`` at the larger of both alignments, zero-padded."""
        if src.ephemeral:
            return
        if dst.ephemeral:
            self._materialise(dst, src, file)
        s = src.section
        align = max(dst.addralign or 1, s.addralign)
        start = (dst.size + align - 1) // align * align
        if s.type != SHT_NOBITS:
            dst.data += bytes(start - dst.size)
            dst.data += s.data
        dst.size = start + s.size
        dst.addralign = align
        src.dst_off = start

    def append_sections(self, src: "_Input") -> None:
        file = src.file
        for s in src.secs:
            if s.skipped or not (s.ephemeral or s.section.type in (SHT_PROGBITS, SHT_NOBITS)):
                continue
            dst, is_new = self._dst_section_for(s, file)
            if not is_new:
                if s.name in DEDUPED_SECTIONS:
                    if bytes(dst.data) != s.section.data or dst.size != s.size:
                        raise LinkError(file, f"section '{s.name}' ({_show(s.section.data)}) differs "
                                              f"from the one in {dst.file} ({_show(dst.data)}); "
                                              f"they must be identical")
                    s.skipped = True
                    s.dst = dst
                    continue
            s.dst = dst
            self._extend(dst, s, file)

    # -- symbols -------------------------------------------------------------------------------
    def append_symbols(self, src: "_Input") -> None:
        obj = src.obj
        src.sym_map = [0] * len(obj.symbols)
        for i in range(1, len(obj.symbols)):
            self.append_symbol(src, obj.symbols[i], i)

    def _new_symbol(self, src: "_Input", sym: Symbol, src_idx: int, src_sec: Optional[_SrcSec],
                    dst_sec: Optional[_DstSec]) -> int:
        self.strtab_order.append(sym.name)
        new = Symbol(sym.name, (src_sec.dst_off if src_sec is not None else 0) + sym.value,
                     sym.size, sym.bind, sym.type, sym.visibility,
                     dst_sec.elf_index if dst_sec is not None else sym.shndx)
        self.symbols.append(new)
        idx = len(self.symbols) - 1
        src.sym_map[src_idx] = idx
        if sym.type == STT_SECTION and dst_sec is not None:
            dst_sec.sec_sym_idx = idx
            new.value = 0
        return idx

    def append_symbol(self, src: "_Input", sym: Symbol, src_idx: int) -> None:
        file = src.file
        src_sec: Optional[_SrcSec] = None
        dst_sec: Optional[_DstSec] = None
        is_extern = sym.shndx == SHN_UNDEF
        if is_extern:
            if src.btf is None:
                raise LinkError(file, f"extern '{sym.name}' has no BTF (externs need BTF; compile with -g)")
        elif sym.shndx < SHN_LORESERVE:
            src_sec = src.by_index[sym.shndx]
            if src_sec.skipped:
                return
            dst_sec = src_sec.dst
            if dst_sec is None:  # .BTF, .symtab, a relocation section: nothing a symbol can mark
                what = f"symbol '{sym.name}'" if sym.name else f"section symbol {src_idx}"
                raise LinkError(file, f"{what} is defined in section '{src_sec.name}', which is not linked")
            if sym.type == STT_SECTION and dst_sec.sec_sym_idx:
                src.sym_map[src_idx] = dst_sec.sec_sym_idx  # one section symbol per section
                return
        if sym.bind == STB_LOCAL:
            self._new_symbol(src, sym, src_idx, src_sec, dst_sec)
            return

        datasec_id, btf_id = src.find_global_btf(sym.name)
        if is_extern and datasec_id:
            sec_name = src.btf.get(datasec_id).name
            if sec_name != EXTERN_DATASEC:
                src_sec = src.by_name.get(sec_name)
                if src_sec is None:
                    raise LinkError(file, f"extern '{sym.name}' is in BTF section '{sec_name}', "
                                          f"which has no ELF section")
                dst_sec = src_sec.dst

        glob = self.globs.get(sym.name)
        if glob is None:
            idx = self._new_symbol(src, sym, src_idx, src_sec, dst_sec)
            self.globs[sym.name] = _GlobSym(idx, dst_sec, sym.name, is_extern,
                                            sym.bind == STB_WEAK, file)
            return

        src.sym_map[src_idx] = glob.sym_idx
        if not is_extern and not glob.is_extern and not glob.is_weak and sym.bind != STB_WEAK:
            raise LinkError(file, f"symbol '{sym.name}' is already defined in {glob.file} "
                                  f"(two strong definitions; make one of them __weak)")
        self.check_global_match(src, glob, btf_id)

        dst_sym = self.symbols[glob.sym_idx]
        if sym.bind == STB_GLOBAL:  # strong wins: a mix of weak and strong ends up strong
            dst_sym.bind = STB_GLOBAL
            glob.is_weak = False
        if sym.visibility > dst_sym.visibility:  # the stricter visibility is contagious
            dst_sym.visibility = sym.visibility
        if is_extern:
            return
        if not glob.is_extern and sym.bind == STB_WEAK:
            return  # the existing definition stays: first weak wins, strong beats weak
        # This definition replaces an extern or a weak definition.
        dst_sym.type = sym.type
        dst_sym.shndx = dst_sec.elf_index
        dst_sym.value = src_sec.dst_off + sym.value
        dst_sym.size = sym.size
        glob.sec = dst_sec
        glob.is_extern = False
        glob.file = file
        self._complete_extern_btf(glob, src, btf_id)
        glob.underlying_id = None  # take the type from this input's VAR/FUNC

    def _complete_extern_btf(self, glob: _GlobSym, src: "_Input", src_id: int) -> None:
        """The resolved extern's VAR/FUNC becomes a definition; an extern FUNC's prototype gets
        the argument names the definition has, so that dedup sees them equal."""
        dst_t = self.btf.get(glob.btf_id)
        if dst_t.kind == B.VAR:
            dst_t.linkage = B.VAR_GLOBAL_ALLOCATED
            return
        dst_t.linkage = B.FUNC_GLOBAL
        dst_t.kflag = False
        src_proto = src.btf.get(src.btf.get(src_id).type)
        dst_proto = self.btf.get(dst_t.type)
        for sp, dp in zip(src_proto.params, dst_proto.params):
            if sp.name:
                dp.name, dp.name_off = sp.name, self.btf.strings.add(sp.name)

    def check_global_match(self, src: "_Input", glob: _GlobSym, btf_id: int) -> None:
        file, name = src.file, glob.name
        if not glob.btf_id or not btf_id:
            raise LinkError(file, f"global '{name}' has no BTF here or in {glob.file} (compile with -g)")
        src_t = src.btf.get(btf_id)
        if src_t.kind not in (B.VAR, B.FUNC):
            raise LinkError(file, f"global '{name}' is a BTF {src_t.kind_name}; only variables "
                                  f"and functions can be shared")
        if glob.sec is not None and glob.sec.name == MAPS_SECTION:
            why = _map_defs_mismatch(name, self.btf, glob.btf_id, src.btf, btf_id)
        else:
            why = _btf_mismatch(self.btf, glob.btf_id, src.btf, btf_id, exact=True)
        if why:
            raise LinkError(file, f"global '{name}' does not match {glob.file}: {why}")

    # -- relocations ---------------------------------------------------------------------------
    def append_relocations(self, src: "_Input") -> None:
        file = src.file
        pack_imm = struct.Struct("<i" if self.byteorder == "little" else ">i")
        for s in src.secs:
            if s.skipped or s.ephemeral or s.section.type != SHT_REL:
                continue
            target = src.by_index[s.section.info]
            if target.skipped:
                continue
            dst, _ = self._dst_section_for(s, file)
            dst.target = target.dst
            s.dst = dst
            self._extend(dst, s, file)
            code = target.dst
            for r in s.section.relocs:
                offset = r.offset + target.dst_off
                dst.relocs.append(Relocation(offset, src.sym_map[r.symbol], r.type, r.addend))
                src_sym = src.obj.symbols[r.symbol]
                if src_sym.type != STT_SECTION:
                    continue
                if not target.section.flags & SHF_EXECINSTR:
                    raise LinkError(file, f"relocation at offset {r.offset} in '{target.name}' is "
                                          f"against a section symbol in a non-code section (not supported)")
                # A call to the first static function of a section or an access to static data
                # goes through the section symbol; its imm is relative to the input section.
                shift = src.by_index[src_sym.shndx].dst_off
                if code.data[offset] == BPF_JMP_CALL:
                    shift //= INSN_SIZE
                imm = pack_imm.unpack_from(code.data, offset + 4)[0]
                pack_imm.pack_into(code.data, offset + 4, _s32(imm + shift))

    # -- BTF -----------------------------------------------------------------------------------
    def append_btf(self, src: "_Input") -> None:
        if src.btf is None:
            return
        file = src.file
        dst_btf = self.btf
        type_map = [0] * len(src.btf)
        appended: List[BtfType] = []
        next_id = len(dst_btf)
        # First the new id of every type (appended, or the BTF of a global seen before)...
        for tid, t in src.btf.items():
            k = t.kind
            if k == B.DATASEC:
                continue
            glob = None
            if (k == B.VAR or k == B.FUNC) and _is_non_static(t):
                glob = self.globs.get(t.name)
                if glob is None:
                    continue  # a VAR of a deduplicated section (license, version)
                if glob.underlying_id is None:
                    glob.pending_src_id = t.type
                if glob.btf_id:
                    type_map[tid] = glob.btf_id
                    continue
            type_map[tid] = next_id
            appended.append(t)
            if glob is not None:
                glob.btf_id = next_id
                glob.pending_src_id = t.type
            next_id += 1

        def remap(old: int) -> int:
            new = type_map[old]
            if new == 0 and old != 0:
                raise LinkError(file, f"BTF type [{old}] is referenced but was not carried over")
            return new

        # ...then the copies, referring to the new ids, their names added in libbpf's order (the
        # output's string table is never rebuilt, so this order is the final one).
        copy, add_type = not src.owned, dst_btf.types.append
        add_str, str_offs = dst_btf.strings.add, self.btf_str_offs
        for t in appended:
            new = t.copy() if copy else t
            for item in (new, *(new.members or new.enums or new.params)):
                name = item.name
                off = str_offs.get(name)
                if off is None:
                    off = str_offs[name] = add_str(name)
                item.name_off = off
            k = new.kind
            if k in _ONE_REF:  # remap_ids, the common kinds inlined
                new.type = type_map[new.type] or remap(new.type)
            elif k in _COMPOSITE:
                for m in new.members:
                    m.type = type_map[m.type] or remap(m.type)
            else:
                new.remap_ids(remap)
            add_type(new)
        for glob in self.globs.values():
            if glob.pending_src_id is not None:
                glob.underlying_id = type_map[glob.pending_src_id]
                glob.pending_src_id = None
                dst_btf.get(glob.btf_id).type = glob.underlying_id

        for s in src.secs:
            if not s.datasec_id or s.skipped:
                continue
            dst = s.dst
            dst.has_btf = True
            for v in src.datasecs[s.datasec_id].secinfo:
                new_id = type_map[v.type]
                t = dst_btf.get(new_id)
                glob = None
                if t is not None and _is_non_static(t):
                    glob = self.globs[t.name]
                    if glob.sec is not dst:
                        other = glob.sec.name if glob.sec is not None else "no section"
                        raise LinkError(file, f"global '{t.name}' is in section '{dst.name}' here "
                                              f"but in '{other}' in {glob.file}")
                if glob is not None and glob.var_idx >= 0:
                    if t.kind == B.FUNC:
                        continue  # a kfunc declared again: nothing to update (libbpf 1.1 failed here)
                    src_var = src.btf.get(v.type)
                    if src_var.linkage == B.VAR_GLOBAL_EXTERN:
                        # A declaration has no storage to describe. (libbpf resizes the entry to
                        # the declared type here, which loses an initialised flexible array.)
                        continue
                    entry = dst.vars[glob.var_idx]
                    if glob.var_from_extern and not glob.is_extern and glob.file == file:
                        # The entry was made for an extern, which has no storage: take the
                        # definition's place and size (libbpf keeps offset 0 and the declared
                        # type's size, and the loader then cannot find the map or variable).
                        entry.offset, entry.size = s.dst_off + v.offset, v.size
                        glob.var_from_extern = False
                        continue
                    # its type may have changed with a resolved extern
                    entry.size = _resolve_size(dst_btf, glob.underlying_id, file, t.name)
                    continue
                dst.vars.append(VarSecinfo(new_id, s.dst_off + v.offset, v.size))
                if glob is not None:
                    glob.var_idx = len(dst.vars) - 1
                    src_var = src.btf.get(v.type)
                    glob.var_from_extern = (src_var.kind == B.VAR
                                            and src_var.linkage == B.VAR_GLOBAL_EXTERN)
        src.type_map = type_map

    def append_btf_ext(self, src: "_Input") -> None:
        ext = src.obj.btf_ext
        if ext is None:
            return
        file, strings, type_map = src.file, src.btf.strings, src.type_map
        add_str = self.btf.strings.add
        for slot, info in enumerate(ext.tables()):
            for esec in info.sections:
                s = src.by_name.get(esec.name)
                if s is None:
                    raise LinkError(file, f".BTF.ext refers to section '{esec.name}', which does not exist")
                out = s.dst.ext[slot]
                if out.rec_size == 0:
                    out.rec_size = info.rec_size
                if out.rec_size != info.rec_size:
                    raise LinkError(file, f".BTF.ext record size {info.rec_size} for section "
                                          f"'{esec.name}' differs from {out.rec_size} in {s.dst.file}")
                for r in esec.records:
                    off = r.insn_off + s.dst_off
                    if slot == 0:
                        out.records.append(FuncInfo(off, type_map[r.type_id], r.tail))
                    elif slot == 1:
                        out.records.append(LineInfo(off, add_str(strings.get(r.file_name_off)),
                                                    add_str(strings.get(r.line_off)), r.line_col, r.tail))
                    else:
                        out.records.append(CoreRelo(off, type_map[r.type_id],
                                                    add_str(strings.get(r.access_str_off)), r.kind, r.tail))

    # -- output --------------------------------------------------------------------------------
    def finish(self) -> Object:
        from ..btf.dedup import dedup

        out = Object(byteorder=self.byteorder or "little")
        btf, ext = self.btf, None
        if btf.types:
            for sec in self.secs:
                if sec.has_btf:
                    btf.add(BtfType(B.DATASEC, sec.name, size=sec.size, secinfo=list(sec.vars),
                                    name_off=btf.strings.add(sec.name)))
            ext = self._build_btf_ext()
            try:
                dedup(btf, ext, rebuild_strings=False, flavour=self.dedup_flavour)
            except BpfBuildError as e:
                raise LinkError(self.first_file, f"BTF deduplication failed: {e.reason}") from None
        out.sections = [Section("", 0)]
        for sec in self.elf_order:
            out.sections.append(self._emit(sec))
        if btf.types:
            out.sections.append(Section(".BTF", SHT_PROGBITS, addralign=8))
            self.strtab_order.append(".BTF")
            out.btf = btf
            if ext is not None:
                out.sections.append(Section(".BTF.ext", SHT_PROGBITS, addralign=8))
                self.strtab_order.append(".BTF.ext")
                out.btf_ext = ext
        out.symbols = self.symbols
        out.shstrndx = 1
        out.strtab_order = self.strtab_order
        out.symtab_info = 0
        return out

    def _emit(self, sec: _DstSec) -> Section:
        if sec.type == SHT_STRTAB:
            return Section(sec.name, SHT_STRTAB, SHF_STRINGS, 1)
        if sec.type == SHT_SYMTAB:
            return Section(sec.name, SHT_SYMTAB, 0, 8, 24, link=1)
        if sec.type == SHT_REL:
            return Section(sec.name, SHT_REL, sec.flags, sec.addralign, sec.entsize, link=2,
                           info=sec.target.elf_index, relocs=sec.relocs)
        if sec.type == SHT_NOBITS:
            return Section(sec.name, SHT_NOBITS, sec.flags, sec.addralign, sec.entsize,
                           nobits_size=sec.size)
        return Section(sec.name, sec.type, sec.flags, sec.addralign, sec.entsize, data=bytes(sec.data))

    def _build_btf_ext(self) -> Optional[BtfExt]:
        tables = []
        for slot, (cls, what) in enumerate(((FuncInfo, "func_info"), (LineInfo, "line_info"),
                                            (CoreRelo, "core_relo"))):
            info = ExtInfo(cls, 0)
            first: Optional[_DstSec] = None
            for sec in self.secs:
                recs = sec.ext[slot]
                if not recs.records:
                    continue
                if first is None:
                    first, info.rec_size = sec, recs.rec_size
                if info.rec_size != recs.rec_size:
                    raise LinkError(sec.file, f".BTF.ext {what} records are {recs.rec_size} bytes "
                                              f"in section '{sec.name}' but {info.rec_size} bytes in "
                                              f"section '{first.name}' of {first.file}")
                info.sections.append(ExtSection(sec.name, recs.records, self.btf.strings.add(sec.name)))
            tables.append(info)
        if not any(t.sections for t in tables):
            return None
        return BtfExt(byteorder=self.byteorder, hdr_len=32, func_info=tables[0],
                      line_info=tables[1], core_relo=tables[2])


# ----------------------------------------------------------------------------------------------
# One input object: sanity checks and BTF fix-ups before it is appended

class _Input:
    def __init__(self, obj: Object, owned: bool = False):
        self.obj = obj
        self.owned = owned
        self.file = _name(obj)
        self.btf: Optional[Btf] = obj.btf  # read only: the caller's Object is not changed
        self.datasecs: Dict[int, BtfType] = {}  # DATASECs with sizes and offsets fixed up
        self.secs: List[_SrcSec] = []
        self.by_index: Dict[int, _SrcSec] = {}
        self.by_name: Dict[str, _SrcSec] = {}
        self.sym_map: List[int] = []
        self.type_map: List[int] = []
        self._global_btf: Optional[Tuple[Dict[str, int], Dict[str, Tuple[int, int]]]] = None
        symtabs = 0
        for i, s in enumerate(obj.sections):
            if i == 0:
                continue
            src = _SrcSec(s.name, i, s)
            src.skipped = _is_ignored(s)
            if not src.skipped:
                if s.type == SHT_SYMTAB:
                    symtabs += 1
                    if symtabs > 1:
                        raise LinkError(self.file, "more than one symbol table")
                elif s.type == SHT_PROGBITS and s.name in (".BTF", ".BTF.ext"):
                    src.skipped = True
                elif s.type not in (SHT_PROGBITS, SHT_NOBITS, SHT_REL, SHT_STRTAB):
                    raise LinkError(self.file, f"section #{i} '{s.name}' has unsupported type {s.type:#x}")
            self.secs.append(src)
            self.by_index[i] = src
            self.by_name.setdefault(s.name, src)
        if symtabs == 0:
            raise LinkError(self.file, "no symbol table")

    def check(self) -> None:
        """libbpf's sanity checks on the ELF, its symbols, relocations and BTF.ext."""
        obj, file = self.obj, self.file
        for src in self.secs:
            s = src.section
            if not s.name:
                raise LinkError(file, f"section #{src.index} has an empty name")
            if s.type == SHT_PROGBITS and s.flags & SHF_EXECINSTR and len(s.data) % INSN_SIZE:
                raise LinkError(file, f"code section '{s.name}' is {len(s.data)} bytes, not a "
                                      f"whole number of instructions")
            if s.type == SHT_REL:
                self._check_relocations(src)
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
            self._check_btf_ext()

    def _check_relocations(self, src: _SrcSec) -> None:
        s, file = src.section, self.file
        target = self.by_index.get(s.info)
        if target is None:
            raise LinkError(file, f"relocation section '{s.name}' targets missing section #{s.info}")
        if s.name != ".rel" + target.name:
            raise LinkError(file, f"relocation section '{s.name}' does not match the section it "
                                  f"relocates ('{target.name}')")
        if target.skipped:
            return
        if target.section.type not in (SHT_PROGBITS, SHT_NOBITS):
            raise LinkError(file, f"relocation section '{s.name}' targets '{target.name}', which "
                                  f"is neither code nor data")
        is_code = bool(target.section.flags & SHF_EXECINSTR)
        for n, r in enumerate(s.relocs):
            if r.type not in _ALLOWED_RELOCS:
                raise LinkError(file, f"relocation #{n} in '{s.name}' has unsupported type {r.type}")
            if r.symbol == 0:
                raise LinkError(file, f"relocation #{n} in '{s.name}' refers to the null symbol")
            if is_code and r.offset % INSN_SIZE:
                raise LinkError(file, f"relocation #{n} in '{s.name}' is not at an instruction boundary")

    def _check_btf_ext(self) -> None:
        ext, limit, strings, file = self.obj.btf_ext, len(self.btf), self.btf.strings, self.file
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

    def fixup_btf(self) -> None:
        """DATASEC sizes and global VAR offsets are only final in the ELF; clang leaves them as
        placeholders. DATASECs without an ELF section become ephemeral sections."""
        if self.btf is None:
            return
        for tid, t in self.btf.items():
            if t.kind != B.DATASEC:
                continue
            t = self.datasecs[tid] = t.copy()
            src = self.by_name.get(t.name)
            if src is not None:
                if src.section is not None:
                    t.size = src.section.size
            else:
                if t.name == EXTERN_DATASEC:
                    continue  # externs resolved by the linker, not kept as a section
                src = _SrcSec(t.name, 0, None, ephemeral=True)
                self.secs.append(src)
                self.by_name[t.name] = src
            src.datasec_id = tid
            for v in t.secinfo:
                vt = self.btf.get(v.type)
                if vt.kind != B.VAR or vt.linkage != B.VAR_GLOBAL_ALLOCATED:
                    continue
                sym = self._find_object_symbol(src.index, vt.name)
                if sym is None:
                    raise LinkError(self.file, f"variable '{vt.name}' of BTF section '{t.name}' has "
                                               f"no symbol in that ELF section")
                v.offset = sym.value
            # Now laid out, the section must hold what the kernel accepts.
            problem = B.datasec_layout_problem(t, self.btf)
            if problem:
                raise LinkError(self.file, f"BTF section '{t.name}': {problem}")

    def _find_object_symbol(self, shndx: int, name: str) -> Optional[Symbol]:
        from ..model.elf import STT_OBJECT
        for sym in self.obj.symbols:
            if sym.shndx == shndx and sym.type == STT_OBJECT and sym.name == name:
                return sym
        return None

    def find_global_btf(self, name: str) -> Tuple[int, int]:
        """(DATASEC id or 0, VAR/FUNC id) describing global ``name``, as libbpf looks it up:
        the first DATASEC entry wins; a free-standing VAR/FUNC (extern functions) otherwise."""
        if self.btf is None:
            raise LinkError(self.file, f"global '{name}' has no BTF (compile with -g)")
        if self._global_btf is None:
            self._global_btf = self._index_global_btf()
        free, in_datasec = self._global_btf
        entry = in_datasec.get(name)
        if entry is not None:
            datasec_id, var_id, free_before = entry
            if free_before and free_before != var_id:
                raise LinkError(self.file, f"BTF of global '{name}' is ambiguous: types "
                                           f"[{free_before}] and [{var_id}] both match")
            return datasec_id, var_id
        btf_id = free.get(name)
        if btf_id:
            return 0, btf_id
        raise LinkError(self.file, f"global '{name}' has no BTF (compile with -g)")

    def _index_global_btf(self):
        free: Dict[str, int] = {}
        in_datasec: Dict[str, Tuple[int, int, int]] = {}
        btf = self.btf
        for tid, t in btf.items():
            k = t.kind
            if k == B.VAR or k == B.FUNC:
                if _is_non_static(t):
                    free[t.name] = tid
            elif k == B.DATASEC:
                for v in t.secinfo:
                    vt = btf.get(v.type)
                    if vt is not None and _is_non_static(vt) and vt.name not in in_datasec:
                        in_datasec[vt.name] = (tid, v.type, free.get(vt.name, 0))
        return free, in_datasec


# ----------------------------------------------------------------------------------------------
# Helpers

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


def _is_non_static(t: BtfType) -> bool:
    return ((t.kind == B.VAR and t.linkage != B.VAR_STATIC)
            or (t.kind == B.FUNC and t.linkage != B.FUNC_STATIC))


def _resolve_size(btf: Btf, type_id: int, file: str, name: str) -> int:
    try:
        return btf.resolve_size(type_id)
    except BpfBuildError as e:
        raise LinkError(file, f"global '{name}': cannot size its type: {e.reason}") from None


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def _show(data: bytes) -> str:
    text = bytes(data).rstrip(b"\0")
    return repr(text.decode("latin-1")) if text.isascii() else data.hex()


# ----------------------------------------------------------------------------------------------
# Compatibility of a global's two BTF descriptions (libbpf's rules). Each returns None when they
# are compatible, else what differs; side 1 is the earlier input's, side 2 the new one's.

_VOID = BtfType(0)


def _kind_name(t: BtfType) -> str:
    return t.kind_name if t.kind else "void"


def _raw_member_offset(owner: BtfType, m) -> int:
    return (m.bitfield_size << 24) | m.offset if owner.kflag else m.offset


def _btf_mismatch(btf1: Btf, id1: int, btf2: Btf, id2: int, exact: bool) -> Optional[str]:
    """Kinds, names and sizes must agree; behind pointers only the shape counts (a FWD matches a
    struct/union of its name); structs and unions reached directly must have the same layout."""
    while True:
        id1, id2 = btf1.skip_modifiers(id1), btf2.skip_modifiers(id2)
        t1, t2 = btf1.get(id1) or _VOID, btf2.get(id2) or _VOID
        k1, k2 = t1.kind, t2.kind
        if not exact and (k1 == B.FWD) != (k2 == B.FWD):
            if t1.name != t2.name:
                return f"forward declaration names '{t1.name}' and '{t2.name}' differ"
            fwd, real = (t1, t2) if k1 == B.FWD else (t2, t1)
            if real.kind == (B.UNION if fwd.kflag else B.STRUCT):
                return None
            return (f"{'union' if fwd.kflag else 'struct'} forward declaration '{fwd.name}' "
                    f"does not match {_kind_name(real)} '{real.name}'")
        if k1 != k2:
            return f"BTF kinds {_kind_name(t1)} and {_kind_name(t2)} differ"
        if k1 in (B.STRUCT, B.UNION, B.ENUM, B.ENUM64, B.FWD, B.FUNC, B.VAR) and t1.name != t2.name:
            return f"{t1.kind_name} names '{t1.name}' and '{t2.name}' differ"
        if k1 in (0, B.FWD):
            return None
        if k1 in (B.INT, B.FLOAT, B.ENUM, B.ENUM64):
            if t1.size != t2.size:
                return f"{t1.kind_name} '{t1.name}' sizes {t1.size} and {t2.size} differ"
            return None
        if k1 == B.PTR:
            exact = False  # behind a pointer only the shape matters
            id1, id2 = t1.type, t2.type
        elif k1 == B.ARRAY:
            id1, id2 = t1.type, t2.type  # index type and length are not compared
        elif k1 in (B.FUNC, B.VAR):
            static = B.FUNC_STATIC if k1 == B.FUNC else B.VAR_STATIC
            if (t1.linkage == static) != (t2.linkage == static):
                return f"{t1.kind_name} '{t1.name}' is static on one side only"
            id1, id2 = t1.type, t2.type
        elif k1 in (B.STRUCT, B.UNION):
            if not exact:
                return None
            if len(t1.members) != len(t2.members):
                return (f"{t1.kind_name} '{t1.name}' has {len(t1.members)} and {len(t2.members)} "
                        f"fields")
            for i, (m1, m2) in enumerate(zip(t1.members, t2.members)):
                if m1.name != m2.name:
                    return f"field #{i} of '{t1.name}' is named '{m1.name}' and '{m2.name}'"
                if _raw_member_offset(t1, m1) != _raw_member_offset(t2, m2):
                    return f"field #{i} '{m1.name}' of '{t1.name}' has different offsets"
                why = _btf_mismatch(btf1, m1.type, btf2, m2.type, exact)
                if why:
                    return why
            return None
        elif k1 == B.FUNC_PROTO:
            if len(t1.params) != len(t2.params):
                return f"functions take {len(t1.params)} and {len(t2.params)} arguments"
            for p1, p2 in zip(t1.params, t2.params):  # argument names do not matter
                why = _btf_mismatch(btf1, p1.type, btf2, p2.type, exact)
                if why:
                    return why
            id1, id2 = t1.type, t2.type
        else:
            return f"BTF kind {t1.kind_name} cannot be compared"


# libbpf's map definition parts
_MAP_TYPE_PROG_ARRAY = 3
_MAP_TYPES_MAP_IN_MAP = (12, 13)  # ARRAY_OF_MAPS, HASH_OF_MAPS
_INT_FIELDS = ("type", "max_entries", "map_flags", "numa_node", "map_extra")


class _MapDefError(Exception):
    pass


def _map_field_int(btf: Btf, m, map_name: str) -> int:
    """__uint(name, N) is ``int (*name)[N]``: the value is the array length."""
    ptr = btf.get(btf.skip_modifiers(m.type))
    if ptr is None or ptr.kind != B.PTR:
        raise _MapDefError(f"map '{map_name}': attribute '{m.name}' is not a pointer")
    arr = btf.get(ptr.type)
    if arr is None or arr.kind != B.ARRAY:
        raise _MapDefError(f"map '{map_name}': attribute '{m.name}' does not point to an array")
    return arr.nelems


def _map_sized_type(btf: Btf, m, map_name: str) -> Tuple[int, int]:
    ptr = btf.get(m.type)
    if ptr is None or ptr.kind != B.PTR:
        raise _MapDefError(f"map '{map_name}': '{m.name}' is not a pointer")
    try:
        return btf.resolve_size(ptr.type), ptr.type
    except BpfBuildError as e:
        raise _MapDefError(f"map '{map_name}': cannot size '{m.name}': {e.reason}") from None


def _parse_map_def(btf: Btf, def_id: int, map_name: str, inner_allowed: bool) -> dict:
    """A BTF-defined map (a struct of __uint/__type/__array fields), strictly, as libbpf's
    parse_btf_map_def does."""
    t = btf.get(def_id)
    if t is None or t.kind != B.STRUCT:
        raise _MapDefError(f"map '{map_name}': definition is not a struct")
    d = {"type": 0, "key_size": 0, "key_type": 0, "value_size": 0, "value_type": 0,
         "max_entries": 0, "map_flags": 0, "numa_node": 0, "pinning": 0, "map_extra": 0,
         "inner": None}

    def set_size(field: str, size: int) -> None:
        if d[field] and d[field] != size:
            raise _MapDefError(f"map '{map_name}': conflicting {field} {d[field]} != {size}")
        d[field] = size

    for i, m in enumerate(t.members):
        name = m.name
        if name in _INT_FIELDS:
            d[name] = _map_field_int(btf, m, map_name)
        elif name in ("key_size", "value_size"):
            set_size(name, _map_field_int(btf, m, map_name))
        elif name in ("key", "value"):
            size, type_id = _map_sized_type(btf, m, map_name)
            set_size(name + "_size", size)
            d[name + "_type"] = type_id
        elif name == "values":
            if not inner_allowed:
                raise _MapDefError(f"map '{map_name}': multi-level inner maps are not supported")
            if i != len(t.members) - 1:
                raise _MapDefError(f"map '{map_name}': 'values' must be the last field")
            is_prog_array = d["type"] == _MAP_TYPE_PROG_ARRAY
            if d["type"] not in _MAP_TYPES_MAP_IN_MAP and not is_prog_array:
                raise _MapDefError(f"map '{map_name}': 'values' needs a map-in-map or prog-array")
            set_size("value_size", 4)
            arr = btf.get(m.type)
            if arr is None or arr.kind != B.ARRAY or arr.nelems:
                raise _MapDefError(f"map '{map_name}': 'values' is not a zero-sized array")
            ptr = btf.get(btf.skip_modifiers(arr.type))
            if ptr is None or ptr.kind != B.PTR:
                raise _MapDefError(f"map '{map_name}': 'values' elements are not pointers")
            target = btf.skip_modifiers(ptr.type)
            target_t = btf.get(target)
            if is_prog_array:
                if target_t is None or target_t.kind != B.FUNC_PROTO:
                    raise _MapDefError(f"map '{map_name}': prog-array values are not functions")
                continue
            d["inner"] = _parse_map_def(btf, target, map_name + ".inner", False)
        elif name == "pinning":
            if not inner_allowed:
                raise _MapDefError(f"map '{map_name}': an inner map cannot be pinned")
            d["pinning"] = _map_field_int(btf, m, map_name)
            if d["pinning"] not in (0, 1):
                raise _MapDefError(f"map '{map_name}': invalid pinning value {d['pinning']}")
        else:
            raise _MapDefError(f"map '{map_name}': unknown field '{name}'")
    if d["type"] == 0:
        raise _MapDefError(f"map '{map_name}': map type is not specified")
    return d


def _map_def_of_var(btf: Btf, var_id: int, name: str) -> dict:
    var = btf.get(var_id)
    if var is None or var.kind != B.VAR:
        raise _MapDefError(f"map '{name}': BTF type [{var_id}] is not a variable")
    return _parse_map_def(btf, btf.skip_modifiers(var.type), name, True)


def _map_defs_mismatch(name: str, btf1: Btf, id1: int, btf2: Btf, id2: int) -> Optional[str]:
    """An extern map must repeat the definition exactly (field by field, key and value types
    included); two definitions of one map likewise."""
    try:
        def2 = _map_def_of_var(btf2, id2, name)
        def1 = _map_def_of_var(btf1, id1, name)
    except _MapDefError as e:
        return f"invalid map definition: {e}"
    return _compare_map_defs(name, btf1, def1, btf2, def2)


def _compare_map_defs(name: str, btf1: Btf, d1: dict, btf2: Btf, d2: dict) -> Optional[str]:
    def differs(what: str, v1, v2) -> str:
        return f"map '{name}' {what} differs: {v1} there, {v2} here"

    for field in ("type", "key_size"):
        if d1[field] != d2[field]:
            return differs(field, d1[field], d2[field])
    for part in ("key", "value"):
        if part == "value" and d1["value_size"] != d2["value_size"]:
            return differs("value_size", d1["value_size"], d2["value_size"])
        t1, t2 = d1[part + "_type"], d2[part + "_type"]
        if bool(t1) != bool(t2):
            return f"map '{name}' {part} type is given on one side only"
        if t1:
            why = _btf_mismatch(btf1, t1, btf2, t2, exact=True)
            if why:
                return f"map '{name}' {part} type differs: {why}"
    for field in ("max_entries", "map_flags", "numa_node", "pinning"):
        if d1[field] != d2[field]:
            return differs(field, d1[field], d2[field])
    if (d1["inner"] is None) != (d2["inner"] is None):
        return f"map '{name}' has an inner map on one side only"
    if d1["inner"] is not None:
        return _compare_map_defs(name + ".inner", btf1, d1["inner"], btf2, d2["inner"])
    return None
