"""The open phase: what libbpf's ``bpf_object__open`` makes of a BPF object, as plain values.

``open_object(obj, name=None) -> OpenedObject`` turns an ``elf.Object`` into the maps, programs
and externs libbpf would load, without touching the kernel. It is the one model the loader
generator, the skeleton renderers and ``bpf-build inspect`` read; none of them re-parse ELF.

Public API (stable; other modules depend on it)::

    opened = open_object(obj, name="x_bpf")   # name: object name used to name global-data maps
    opened.name, opened.path, opened.license, opened.kern_version
    opened.btf            # Btf as the kernel should receive it (DATASEC sizes/offsets fixed,
                          #   extern VARs/FUNCs rewritten, hidden globals made static)
    opened.maps           # [OpenedMap] in libbpf order: .maps vars by offset, then .data*/.rodata*/
                          #   .bss* by section index, then .kconfig, then .struct_ops vars
    opened.programs       # [OpenedProgram] entry programs (not .text subprograms), by section
                          #   index then offset — libbpf's order, `?` programs included
    opened.subprograms    # [OpenedProgram] the .text functions (kind "subprog"), raw
    opened.externs        # [Extern] kconfig externs by (align desc, size, name), then ksyms by name
    opened.kconfig_map    # index into maps of the .kconfig map, or None
    opened.map(name) / opened.program(name)

``OpenedMap``: ``name`` (as libbpf names it: BTF maps by variable, global data as
``<obj>.bss``-style names truncated the way libbpf truncates them), ``ident`` (skeleton field
name, bpftool's rule: ``bss``, ``rodata_str1_1``, ``counts``), ``real_name`` (variable or ELF
section name), ``section``, ``kind`` (one of MAP_KINDS), ``type``/``type_name``, ``key_size``,
``value_size``, ``max_entries``, ``map_flags``, ``numa_node``, ``pinning``, ``map_extra``,
``btf_key_type_id``, ``btf_value_type_id``, ``inner`` (an OpenedMap for map-in-map ``values``),
``init_slots`` ([None | name]: map names for map-in-map, program names for PROG_ARRAY),
``initial_value`` (bytes for global-data maps, zeros for .bss/.kconfig; None for BTF maps),
``mmapable``, ``is_internal``.

``OpenedProgram``: ``name``, ``section`` (without ``?``), ``type``/``type_name``,
``expected_attach_type``, ``prog_flags`` (sleepable, XDP frags), ``attach_target`` (what follows
the first ``/`` of the section, e.g. ``syscalls/sys_enter_getpid``), ``attach_btf`` (a
``(name, btf_kind)`` pair to resolve in kernel BTF for fentry/tp_btf/lsm/iter, or None),
``autoload`` (False for ``SEC("?...")``), ``insns`` (own code plus every subprogram it calls,
appended the way libbpf appends them, call immediates fixed; data references still as in the
ELF), ``relocations`` ([Relocation] against ``insns``: map, data, extern ld_imm64, kfunc call),
``func_info`` ([(insn_idx, type_id)]), ``line_info`` ([LineInfo] with ``insn_off`` in
instructions), ``core_relos`` ([CoreRelo] with ``insn_off`` in bytes, as the kernel wants them),
``subprograms`` (names appended, in order), ``sec_insn_off``/``sec_insn_cnt`` (own code).

``Relocation.kind`` is one of ``"map"`` (ld_imm64 of a map: ``map_index``), ``"data"`` (ld_imm64
of a global-data or .kconfig value: ``map_index``, ``offset`` = final byte offset in the map
value), ``"ksym"`` (ld_imm64 of a ksym extern: ``extern_index``), ``"kfunc"`` (call of a kfunc
extern: ``extern_index``).

``Extern``: ``name``, ``kind`` ("kconfig" or "ksym"), ``weak``, ``btf_id`` (the VAR/FUNC in the
object's BTF); kconfig: ``kcfg_type`` (one of KCFG_TYPES), ``size``, ``align``, ``signed``,
``offset`` (in the .kconfig map value); ksym: ``ksym_type_id`` (0 when typeless), ``is_func``.

Errors: ``OpenError(path, reason)`` for objects libbpf would refuse to open, naming the program,
map or symbol at fault; ``NotSupportedError`` for features recognised but not modelled.
"""

from __future__ import annotations

import os
import re
import resource
from typing import Dict, List, Optional, Tuple

from ..model import btf as B
from . import section_defs as S
from ..model.btf_ext import CoreRelo, LineInfo
from ..model.elf import (
    SHN_LORESERVE,
    SHN_UNDEF,
    SHT_NOBITS,
    SHT_PROGBITS,
    SHT_REL,
    SHT_SYMTAB,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_NOTYPE,
    STT_OBJECT,
    STT_SECTION,
    STV_HIDDEN,
    STV_INTERNAL,
    Object,
    SHF_EXECINSTR,
)
from ..errors import BpfBuildError, NotSupportedError, OpenError
from ..model.mapdef import MapDef, MapDefError, parse_map_def
from ..model.insn import INSN_SIZE, JMP, CALL, K, LD, DW, IMM, PSEUDO_CALL, PSEUDO_FUNC, Insn, decode

BPF_OBJ_NAME_LEN = 16
MAPS_SEC, KCONFIG_SEC, KSYMS_SEC = ".maps", ".kconfig", ".ksyms"
STRUCT_OPS_SECS = (".struct_ops", ".struct_ops.link", "?.struct_ops", "?.struct_ops.link")
ARENA_SEC = ".addr_space.1"
JUMPTABLES_SEC = ".jumptables"

MAX_GLOBAL_DATA = 1 << 30  # far above what the kernel accepts for an array map value
MAP_KINDS = ("btf", "data", "rodata", "bss", "kconfig", "struct_ops")
KCFG_TYPES = ("bool", "tristate", "char", "int", "char_array")

BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10
PIN_NONE, PIN_BY_NAME = 0, 1

_MAP_IN_MAP = (S.MAP_TYPES["ARRAY_OF_MAPS"], S.MAP_TYPES["HASH_OF_MAPS"])
_PROG_ARRAY = S.MAP_TYPES["PROG_ARRAY"]
_RINGBUFS = (S.MAP_TYPES["RINGBUF"], S.MAP_TYPES["USER_RINGBUF"])


class Relocation:
    """A data reference in a program's instructions that the load phase must resolve."""

    __slots__ = ("kind", "insn_idx", "map_index", "offset", "extern_index")

    def __init__(self, kind: str, insn_idx: int, map_index: int = -1, offset: int = 0,
                 extern_index: int = -1):
        self.kind, self.insn_idx, self.map_index = kind, insn_idx, map_index
        self.offset, self.extern_index = offset, extern_index

    def shifted(self, by: int) -> "Relocation":
        return Relocation(self.kind, self.insn_idx + by, self.map_index, self.offset, self.extern_index)

    def __repr__(self):
        target = f"map={self.map_index}" if self.map_index >= 0 else f"extern={self.extern_index}"
        return f"Relocation({self.kind}, insn={self.insn_idx}, {target}, off={self.offset})"


class OpenedMap:
    def __init__(self, name: str, kind: str, section: str, section_index: int):
        self.name = name
        self.kind = kind
        self.section = section
        self.section_index = section_index
        self.real_name = name
        self.ident = name
        self.sec_offset = 0
        self.sec_size = 0  # bytes the definition occupies in .maps (BTF maps)
        self.type = 0
        self.key_size = 0
        self.value_size = 0
        self.max_entries = 0
        self.map_flags = 0
        self.numa_node = 0
        self.pinning = PIN_NONE
        self.map_extra = 0
        self.btf_key_type_id = 0
        self.btf_value_type_id = 0
        self.inner: Optional[OpenedMap] = None
        self.init_slots: List[Optional[str]] = []
        self.initial_value: Optional[bytes] = None

    @property
    def type_name(self) -> str:
        return S.map_type_name(self.type)

    @property
    def is_internal(self) -> bool:
        """A map libbpf makes from global data (.data*, .rodata*, .bss*, .kconfig)."""
        return self.kind in ("data", "rodata", "bss", "kconfig")

    @property
    def mmapable(self) -> bool:
        return bool(self.map_flags & BPF_F_MMAPABLE)

    def __repr__(self):
        return (f"OpenedMap({self.name!r}, {self.type_name}, key={self.key_size}, "
                f"value={self.value_size}, max_entries={self.max_entries}, flags={self.map_flags:#x})")


class OpenedProgram:
    def __init__(self, name: str, section: str, section_index: int, sec_insn_off: int,
                 insns: List[Insn], autoload: bool, is_global: bool, hidden: bool):
        self.name = name
        self.section = section
        self.section_index = section_index
        self.sec_insn_off = sec_insn_off
        self.sec_insn_cnt = len(insns)
        self.insns = insns
        self.autoload = autoload
        self.is_global = is_global
        self.hidden = hidden
        self.type = 0
        self.expected_attach_type = 0
        self.prog_flags = 0
        self.sec_def: Optional[S.SecDef] = None
        self.attach_target: Optional[str] = None
        self.attach_btf: Optional[Tuple[str, int]] = None
        self.relocations: List[Relocation] = []
        self.func_info: List[Tuple[int, int]] = []
        self.line_info: List[LineInfo] = []
        self.core_relos: List[CoreRelo] = []
        self.subprograms: List[str] = []
        # Raw per-function facts (prog-relative insn indices) used while appending subprograms.
        self._calls: Dict[int, "_CallRef"] = {}

    @property
    def type_name(self) -> str:
        return S.prog_type_name(self.type)

    @property
    def expected_attach_type_name(self) -> str:
        return S.attach_type_name(self.expected_attach_type)

    def __repr__(self):
        return f"OpenedProgram({self.name!r}, {self.section!r}, {self.type_name}, {len(self.insns)} insns)"


class Extern:
    def __init__(self, name: str, kind: str, weak: bool, btf_id: int, sym_index: int):
        self.name, self.kind, self.weak, self.btf_id, self.sym_index = name, kind, weak, btf_id, sym_index
        self.kcfg_type = ""
        self.size = 0
        self.align = 0
        self.signed = False
        self.offset = 0
        self.ksym_type_id = 0
        self.is_func = False

    @property
    def typeless(self) -> bool:
        return self.kind == "ksym" and not self.is_func and self.ksym_type_id == 0

    def __repr__(self):
        return f"Extern({self.name!r}, {self.kind}, weak={self.weak})"


class OpenedObject:
    def __init__(self, name: str, path: Optional[str]):
        self.name = name
        self.path = path
        self.license = ""
        self.kern_version = 0
        self.btf: Optional[B.Btf] = None
        self.byteorder = "little"
        self.maps: List[OpenedMap] = []
        self.programs: List[OpenedProgram] = []
        self.subprograms: List[OpenedProgram] = []
        self.externs: List[Extern] = []
        self.kconfig_map: Optional[int] = None

    def map(self, name: str) -> Optional[OpenedMap]:
        return next((m for m in self.maps if m.name == name), None)

    def program(self, name: str) -> Optional[OpenedProgram]:
        return next((p for p in self.programs if p.name == name), None)

    def map_index(self, name: str) -> int:
        for i, m in enumerate(self.maps):
            if m.name == name:
                return i
        return -1


class _CallRef:
    """A call or function-address instruction found in a function: where it points."""

    __slots__ = ("kind", "sym_off")

    def __init__(self, kind: str, sym_off: int):
        self.kind, self.sym_off = kind, sym_off


# ----------------------------------------------------------------------------------------------

def default_object_name(path: Optional[str]) -> str:
    """libbpf's name for an object opened from a file: its base name up to the first dot."""
    base = os.path.basename(path or "") or "object"
    return base.split(".", 1)[0][:BPF_OBJ_NAME_LEN - 1] or "object"


def internal_map_name(obj_name: str, real_name: str) -> str:
    """libbpf's kernel-visible name for a global-data map (see internal_map_name in libbpf).

    ``.data``/``.rodata``/``.bss``/``.kconfig`` get as much of the object name as fits in front
    (7 characters are reserved for the suffix even when it is shorter); custom ``.data.foo``
    style sections use their own name only. The result is at most 15 characters."""
    sfx_len = min(max(7, len(real_name)), BPF_OBJ_NAME_LEN - 1)
    pfx_len = 0 if "." in real_name[1:] else min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj_name))
    name = (obj_name[:pfx_len] + real_name[:sfx_len])[:BPF_OBJ_NAME_LEN - 1]
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)


def skeleton_ident(m: OpenedMap) -> Optional[str]:
    """bpftool's skeleton field name for a map (get_map_ident): BTF maps by name, internal maps
    by what follows the object prefix, non-identifier characters as ``_``."""
    if not m.is_internal:
        return m.name
    # A custom section's map name is cut to 15 characters for the kernel; bpftool names the field
    # after the whole section (``.data.read_mostly`` -> ``data_read_mostly``), as libbpf 1.1 does.
    name = m.real_name if m.name.startswith(".") else m.name
    for sfx in (".data", ".rodata", ".bss", ".kconfig"):
        p = name.find(sfx)
        if p >= 0:
            return re.sub(r"[^A-Za-z0-9_]", "_", name[p + 1:])
    return None


def open_object(obj: Object, name: Optional[str] = None) -> OpenedObject:
    """Model ``obj`` the way libbpf's open phase would; see the module docstring."""
    try:
        return _Opener(obj, name).run()
    except BpfBuildError:
        raise
    except (KeyError, IndexError, ValueError) as e:  # malformed cross-references in BTF/ELF
        raise OpenError(obj.path, f"malformed object: {e.__class__.__name__}: {e}") from None


class _Opener:
    def __init__(self, obj: Object, name: Optional[str]):
        self.obj = obj
        self.path = obj.path
        self.out = OpenedObject((name or default_object_name(obj.path))[:BPF_OBJ_NAME_LEN - 1], obj.path)
        self.out.byteorder = obj.byteorder
        self.btf: Optional[B.Btf] = obj.btf.copy() if obj.btf is not None else None
        self.out.btf = self.btf
        self.text_index: Optional[int] = None
        self.maps_index: Optional[int] = None
        self.symtab_index: Optional[int] = None
        self.data_sections: Dict[int, str] = {}  # section index -> "data" | "rodata" | "bss"
        self.all_funcs: List[OpenedProgram] = []
        self.arena_index: Optional[int] = None
        self.jumptables_index: Optional[int] = None
        self.struct_ops_sections: List[int] = []
        self.map_defs: Dict[str, MapDef] = {}  # BTF map name -> its definition

    def fail(self, reason: str):
        raise OpenError(self.path, reason)

    # -- driver --------------------------------------------------------------------------------
    def run(self) -> OpenedObject:
        self.collect_sections()
        self.collect_externs()
        self.fixup_btf()
        self.init_maps()
        self.init_programs()
        self.collect_relocations()
        self.collect_core_relos()
        for prog in self.out.programs:
            self.append_subprograms(prog)
        self.mark_hidden_subprograms_static()
        return self.out

    # -- sections ------------------------------------------------------------------------------
    def collect_sections(self) -> None:
        obj = self.obj
        for i, s in enumerate(obj.sections):
            if s.type == SHT_SYMTAB:
                self.symtab_index = i
        if self.symtab_index is None:
            self.fail("no symbol table (stripped object?)")
        for i, s in enumerate(obj.sections):
            if i == 0 or s.name.startswith(".debug_"):
                continue
            if s.name == "license":
                self.out.license = s.data.split(b"\0", 1)[0][:63].decode("utf-8", "replace")
            elif s.name == "version":
                if len(s.data) != 4:
                    self.fail(f"section 'version' has {len(s.data)} bytes, expected 4")
                self.out.kern_version = int.from_bytes(s.data, obj.byteorder)
            elif s.name == "maps":
                self.fail("legacy map definitions in section 'maps' are not supported "
                          "(libbpf 1.0+ requires BTF-defined maps in '.maps')")
            elif s.name == MAPS_SEC:
                self.maps_index = i
            elif s.type == SHT_PROGBITS and s.size > 0:
                if s.flags & SHF_EXECINSTR:
                    if s.name == ".text":
                        self.text_index = i
                    self.add_functions(i)
                elif s.name == ".data" or s.name.startswith(".data."):
                    self.data_sections[i] = "data"
                elif s.name == ".rodata" or s.name.startswith(".rodata."):
                    self.data_sections[i] = "rodata"
                elif s.name in STRUCT_OPS_SECS:
                    self.struct_ops_sections.append(i)
                elif s.name == ARENA_SEC:
                    self.arena_index = i
                elif s.name == JUMPTABLES_SEC:
                    self.jumptables_index = i
            elif s.type == SHT_NOBITS and (s.name == ".bss" or s.name.startswith(".bss.")):
                self.data_sections[i] = "bss"
        self.all_funcs.sort(key=lambda p: (p.section_index, p.sec_insn_off))
        self.out.programs = [p for p in self.all_funcs if p.section_index != self.text_index]
        self.out.subprograms = [p for p in self.all_funcs if p.section_index == self.text_index]
        needs_btf = self.maps_index is not None or self.struct_ops_sections
        if needs_btf and self.btf is None:
            self.fail("BTF is required (the object defines maps in '.maps') but .BTF is missing")

    def add_functions(self, sec_index: int) -> None:
        obj = self.obj
        sec = obj.sections[sec_index]
        insns = None
        for sym in obj.symbols[1:]:
            if sym.shndx != sec_index or sym.type != STT_FUNC:
                continue
            if sym.value % INSN_SIZE or sym.size % INSN_SIZE or sym.size == 0 \
                    or sym.value + sym.size > sec.size:
                self.fail(f"section '{sec.name}': program '{sym.name}' at offset {sym.value} "
                          f"(size {sym.size}) is corrupt or crosses the section boundary")
            if sec.name != ".text" and sym.bind == STB_LOCAL:
                self.fail(f"section '{sec.name}': program '{sym.name}' is static; "
                          "entry programs must be global")
            if insns is None:
                insns = decode(sec.data, obj.byteorder, self.path)
            first = sym.value // INSN_SIZE
            autoload = not sec.name.startswith("?")
            section = sec.name[1:] if not autoload else sec.name
            prog = OpenedProgram(sym.name, section, sec_index, first,
                                 [i.copy() for i in insns[first:first + sym.size // INSN_SIZE]],
                                 autoload, sym.bind != STB_LOCAL,
                                 sym.visibility in (STV_HIDDEN, STV_INTERNAL))
            self.all_funcs.append(prog)

    # -- externs -------------------------------------------------------------------------------
    def collect_externs(self) -> None:
        obj, btf = self.obj, self.btf
        externs: List[Extern] = []
        for si, sym in enumerate(obj.symbols):
            if not (si and sym.shndx == SHN_UNDEF and sym.bind in (STB_GLOBAL, STB_WEAK)
                    and sym.type == STT_NOTYPE and sym.name):
                continue
            if btf is None:
                self.fail(f"extern '{sym.name}' needs BTF, but the object has no .BTF")
            btf_id = self.find_extern_btf_id(sym.name)
            t = btf.get(btf_id)
            sec_id, sec = self.find_extern_datasec(btf_id)
            if sec.name == KCONFIG_SEC:
                if t.kind == B.FUNC:
                    self.fail(f"extern function '{sym.name}' cannot be in section {KCONFIG_SEC}")
                ext = Extern(t.name, "kconfig", sym.bind == STB_WEAK, btf_id, si)
                ext.size = btf.resolve_size(t.type)
                if ext.size <= 0:
                    self.fail(f"extern (kconfig) '{sym.name}': cannot determine its size")
                ext.align = _align_of(btf, t.type)
                ext.kcfg_type, ext.signed = _kcfg_type(btf, t.type)
                if not ext.kcfg_type:
                    self.fail(f"extern (kconfig) '{sym.name}': type is unsupported (use bool, "
                              "char, an integer of 1/2/4/8 bytes, enum libbpf_tristate or a char array)")
            elif sec.name == KSYMS_SEC:
                ext = Extern(t.name, "ksym", sym.bind == STB_WEAK, btf_id, si)
                ext.is_func = t.kind == B.FUNC
                ext.ksym_type_id = btf.skip_modifiers(t.type)
            else:
                self.fail(f"extern '{sym.name}' is in unrecognized section '{sec.name}' "
                          f"(expected {KCONFIG_SEC} or {KSYMS_SEC})")
            externs.append(ext)

        def order(e: Extern):
            if e.kind == "kconfig":
                return (0, -e.align, e.size, e.name)
            return (1, 0, 0, e.name)
        externs.sort(key=order)
        self.out.externs = externs
        by_name = {e.name: e for e in externs}

        ksym_sec = btf.find(KSYMS_SEC, B.DATASEC) if btf is not None and \
            any(e.kind == "ksym" for e in externs) else None
        if ksym_sec is not None:
            # The kernel accepts neither extern VARs nor extern FUNCs in a DATASEC: libbpf turns
            # each into a 4-byte allocated int variable (functions via a shared dummy VAR).
            sec = btf.get(ksym_sec)
            int_id = _find_int32(btf)
            dummy_id = None
            if any(btf.get(v.type).kind == B.FUNC for v in sec.secinfo):
                dummy_id = btf.add(B.BtfType(B.VAR, "dummy_ksym", type=int_id,
                                             linkage=B.VAR_GLOBAL_ALLOCATED))
            off = 0
            for v in sec.secinfo:
                vt = btf.get(v.type)
                if vt.name not in by_name:
                    self.fail(f"no extern symbol for BTF {vt.kind_name} '{vt.name}' in {KSYMS_SEC}")
                if vt.kind == B.FUNC:
                    proto = btf.get(vt.type)
                    for p in proto.params:
                        if p.type and not p.name:
                            p.name, p.name_off = "dummy_ksym", None
                    v.type = dummy_id
                    vt.linkage = B.FUNC_GLOBAL
                else:
                    vt.linkage = B.VAR_GLOBAL_ALLOCATED
                    vt.type = int_id
                v.offset, v.size = off, 4
                off += 4
            sec.size = off

        if any(e.kind == "kconfig" for e in externs):
            off = 0
            for e in externs:
                if e.kind == "kconfig":
                    e.offset = _roundup(off, e.align)
                    off = e.offset + e.size
            sec = btf.get(btf.find(KCONFIG_SEC, B.DATASEC))
            sec.size = off
            for v in sec.secinfo:
                vt = btf.get(v.type)
                if vt.name not in by_name:
                    self.fail(f"no extern symbol for BTF VAR '{vt.name}' in {KCONFIG_SEC}")
                vt.linkage = B.VAR_GLOBAL_ALLOCATED
                v.offset = by_name[vt.name].offset

    def find_extern_btf_id(self, name: str) -> int:
        for tid, t in self.btf.items():
            if t.kind not in (B.VAR, B.FUNC) or t.name != name:
                continue
            if (t.kind == B.VAR and t.linkage != B.VAR_GLOBAL_EXTERN) or \
                    (t.kind == B.FUNC and t.linkage != B.FUNC_EXTERN):
                self.fail(f"extern '{name}': its BTF {t.kind_name} is not declared extern")
            return tid
        self.fail(f"extern '{name}' has no BTF VAR or FUNC describing it")

    def find_extern_datasec(self, btf_id: int) -> Tuple[int, B.BtfType]:
        for tid, t in self.btf.items():
            if t.kind == B.DATASEC and any(v.type == btf_id for v in t.secinfo):
                return tid, t
        name = self.btf.get(btf_id).name
        self.fail(f"extern '{name}' is not in any DATASEC (declare it __kconfig or __ksym)")

    # -- BTF fix-ups ---------------------------------------------------------------------------
    def fixup_btf(self) -> None:
        """Fill in what clang leaves at zero in DATASECs (size, variable offsets) from the ELF,
        make hidden global variables static, and sort variables by offset."""
        btf = self.btf
        if btf is None:
            return
        for tid, t in btf.items():
            if t.kind != B.DATASEC:
                continue
            if t.name not in (KCONFIG_SEC, KSYMS_SEC):
                fixup_offsets = False
                if t.size == 0:
                    sec = self.obj.section(t.name)
                    if sec is None or sec.size == 0:
                        self.fail(f"BTF DATASEC '{t.name}' has no matching non-empty ELF section")
                    t.size = sec.size
                    fixup_offsets = True
                for v in t.secinfo:
                    var = btf.get(v.type)
                    if var is None or var.kind != B.VAR:
                        self.fail(f"BTF DATASEC '{t.name}' holds a non-VAR type [{v.type}]")
                    if var.linkage in (B.VAR_STATIC, B.VAR_GLOBAL_EXTERN):
                        continue
                    sym = self.find_var_symbol(var.name)
                    if sym is None:
                        self.fail(f"BTF DATASEC '{t.name}': no ELF symbol for variable '{var.name}'")
                    if fixup_offsets:
                        v.offset = sym.value
                    if sym.visibility in (STV_HIDDEN, STV_INTERNAL):
                        var.linkage = B.VAR_STATIC
            t.secinfo.sort(key=lambda v: v.offset)

    def find_var_symbol(self, name: str):
        for sym in self.obj.symbols[1:]:
            if sym.name == name and sym.type == STT_OBJECT and sym.bind in (STB_GLOBAL, STB_WEAK):
                return sym
        return None

    # -- maps ----------------------------------------------------------------------------------
    def init_maps(self) -> None:
        if self.maps_index is not None:
            self.init_btf_maps()
        for idx in sorted(self.data_sections):
            sec = self.obj.sections[idx]
            kind = self.data_sections[idx]
            if sec.size == 0:
                continue
            if sec.size > MAX_GLOBAL_DATA:
                self.fail(f"section '{sec.name}' holds {sec.size} bytes of global data; the kernel "
                          f"cannot make a map value that large")
            data = bytes(sec.size) if kind == "bss" else bytes(sec.data)
            self.add_internal_map(kind, sec.name, idx, data)
        kcfg = [e for e in self.out.externs if e.kind == "kconfig"]
        if kcfg:
            last = kcfg[-1]
            self.add_internal_map("kconfig", KCONFIG_SEC, self.symtab_index, bytes(last.offset + last.size))
            self.out.kconfig_map = len(self.out.maps) - 1
        for idx in self.struct_ops_sections:
            self.init_struct_ops_maps(idx)

    def add_internal_map(self, kind: str, real_name: str, sec_index: int, data: bytes) -> None:
        m = OpenedMap(internal_map_name(self.out.name, real_name), kind, real_name, sec_index)
        m.real_name = real_name
        m.type = S.MAP_TYPES["ARRAY"]
        m.key_size = 4
        m.value_size = len(data)
        m.max_entries = 1
        m.map_flags = BPF_F_RDONLY_PROG if kind in ("rodata", "kconfig") else 0
        m.initial_value = data
        if self.btf is not None:
            # libbpf looks the section's DATASEC up by name, whatever its kind.
            tid = next((i for i, t in self.btf.items() if t.name == real_name), None)
            if tid is not None:
                m.btf_value_type_id = tid
                t = self.btf.get(tid)
                if t.kind == B.DATASEC and any(
                        self.btf.get(v.type).kind == B.VAR and self.btf.get(v.type).linkage != B.VAR_STATIC
                        for v in t.secinfo):
                    m.map_flags |= BPF_F_MMAPABLE
        m.ident = skeleton_ident(m) or m.name
        self.out.maps.append(m)

    def init_btf_maps(self) -> None:
        btf = self.btf
        sec_id = btf.find(MAPS_SEC, B.DATASEC)
        if sec_id is None:
            self.fail(f"BTF has no DATASEC '{MAPS_SEC}' describing the maps")
        sec = btf.get(sec_id)
        data_size = self.obj.sections[self.maps_index].size
        for v in sec.secinfo:
            var = btf.get(v.type)
            if not var.name:
                self.fail(f"a map in '{MAPS_SEC}' has an empty name")
            if v.offset + v.size > data_size:
                self.fail(f"map '{var.name}': BTF places it past the end of '{MAPS_SEC}'")
            if var.kind != B.VAR:
                self.fail(f"map '{var.name}': unexpected BTF kind {var.kind_name} in '{MAPS_SEC}'")
            if var.linkage != B.VAR_GLOBAL_ALLOCATED:
                self.fail(f"map '{var.name}': maps must be global, non-extern variables")
            try:
                definition = parse_map_def(btf, var.type, var.name)
            except MapDefError as e:
                self.fail(e.reason)
            m = OpenedMap(var.name, "btf", MAPS_SEC, self.maps_index)
            self.map_defs[var.name] = definition
            m.sec_offset = v.offset
            m.sec_size = v.size
            _apply_map_def(m, definition)
            if definition.inner is not None:
                inner = OpenedMap(definition.inner.name, "btf", MAPS_SEC, self.maps_index)
                _apply_map_def(inner, definition.inner)
                m.inner = inner
            self.out.maps.append(m)

    def init_struct_ops_maps(self, sec_index: int) -> None:
        """struct_ops maps are listed (name, value type) so that inspect and skeletons can show
        them; nothing loads them yet (the loader generator refuses them)."""
        sec_name = self.obj.sections[sec_index].name
        dsec = self.btf.find(sec_name.lstrip("?"), B.DATASEC) if self.btf is not None else None
        if dsec is None:
            self.fail(f"section '{sec_name}' has no BTF DATASEC")
        for v in self.btf.get(dsec).secinfo:
            var = self.btf.get(v.type)
            m = OpenedMap(var.name, "struct_ops", sec_name, sec_index)
            m.type = S.MAP_TYPES["STRUCT_OPS"]
            m.key_size = 4
            m.value_size = v.size
            m.max_entries = 1
            m.sec_offset = v.offset
            m.btf_value_type_id = self.btf.skip_modifiers(var.type)
            self.out.maps.append(m)

    # -- programs ------------------------------------------------------------------------------
    def init_programs(self) -> None:
        for p in self.out.programs:
            d = S.find_sec_def(p.section)
            p.sec_def = d
            if d is None:
                continue  # libbpf leaves the type unset; the loader generator reports it
            p.type = d.prog_type
            p.expected_attach_type = d.expected_attach_type
            p.prog_flags = d.prog_flags
            slash = p.section.find("/")
            p.attach_target = p.section[slash + 1:] if slash >= 0 else None
            if d.flags & S.SEC_ATTACH_BTF and p.attach_target and p.type != S.PROG_TYPES["EXT"]:
                prefix, kind = S.kernel_btf_prefix_kind(p.expected_attach_type)
                p.attach_btf = (prefix + p.attach_target, kind)
        for p in self.out.subprograms:
            p.type = 0

    # -- relocations ---------------------------------------------------------------------------
    def collect_relocations(self) -> None:
        obj = self.obj
        for rel_sec in obj.sections:
            if rel_sec.type != SHT_REL:
                continue
            target = rel_sec.info
            if not 0 < target < len(obj.sections):
                continue
            tsec = obj.sections[target]
            if target == self.maps_index:
                self.collect_map_relos(rel_sec)
            elif tsec.is_code:
                self.collect_prog_relos(target, rel_sec)

    def func_at(self, sec_index: int, insn_idx: int) -> Optional[OpenedProgram]:
        for p in self.all_funcs:
            if p.section_index == sec_index and p.sec_insn_off <= insn_idx < p.sec_insn_off + p.sec_insn_cnt:
                return p
        return None

    def collect_prog_relos(self, sec_index: int, rel_sec) -> None:
        obj = self.obj
        sec_name = obj.sections[sec_index].name
        for r in rel_sec.relocs:
            sym = obj.symbols[r.symbol]
            if r.offset % INSN_SIZE:
                self.fail(f"section '{rel_sec.name}': relocation at offset {r.offset} is not "
                          "on an instruction boundary")
            insn_idx = r.offset // INSN_SIZE
            prog = self.func_at(sec_index, insn_idx)
            if prog is None:
                continue  # code of an overridden weak function: libbpf skips it too
            local = insn_idx - prog.sec_insn_off
            sym_name = sym.name or (obj.sections[sym.shndx].name
                                    if sym.type == STT_SECTION and 0 < sym.shndx < len(obj.sections) else "?")
            self.record_reloc(prog, local, sym, r.symbol, sym_name, sec_name)

    def record_reloc(self, prog: OpenedProgram, idx: int, sym, sym_index: int, sym_name: str,
                     sec_name: str) -> None:
        insn = prog.insns[idx]
        where = f"program '{prog.name}': instruction {idx}"
        if not (insn.is_call or insn.is_ld_imm64):
            self.fail(f"{where}: relocation against '{sym_name}' on an instruction that is "
                      f"neither a call nor a 64-bit load (code {insn.code:#x})")
        if sym.shndx == SHN_UNDEF and sym.bind in (STB_GLOBAL, STB_WEAK) and sym.type == STT_NOTYPE:
            ext_index = next((i for i, e in enumerate(self.out.externs) if e.sym_index == sym_index), -1)
            if ext_index < 0:
                self.fail(f"{where}: no extern for '{sym_name}'")
            ext = self.out.externs[ext_index]
            if insn.is_call:
                prog.relocations.append(Relocation("kfunc", idx, extern_index=ext_index))
            elif ext.kind == "kconfig":
                prog.relocations.append(Relocation("data", idx, map_index=self.out.kconfig_map,
                                                   offset=ext.offset))
            else:
                prog.relocations.append(Relocation("ksym", idx, extern_index=ext_index))
            return
        if insn.is_call:
            if insn.src != PSEUDO_CALL:
                self.fail(f"{where}: relocated call is not a BPF-to-BPF call")
            if not sym.shndx or sym.shndx != self.text_index:
                self.fail(f"{where}: call to '{sym_name}' outside .text")
            if sym.value % INSN_SIZE:
                self.fail(f"{where}: call to '{sym_name}' at a misaligned offset {sym.value}")
            prog._calls[idx] = _CallRef("call", sym.value)
            return
        if not sym.shndx or sym.shndx >= SHN_LORESERVE:
            self.fail(f"{where}: relocation against '{sym_name}' in special section "
                      f"{sym.shndx:#x} (an uninitialized global variable?)")
        if sym.shndx == self.text_index and (
                (sym.bind == STB_LOCAL and sym.type == STT_SECTION) or
                (sym.bind in (STB_GLOBAL, STB_WEAK) and sym.type == STT_FUNC)):
            if sym.value % INSN_SIZE or insn.imm % INSN_SIZE:
                self.fail(f"{where}: misaligned function address of '{sym_name}'")
            insn.src = PSEUDO_FUNC  # what libbpf marks so the call relocation pass sees it
            prog._calls[idx] = _CallRef("func_addr", sym.value)
            return
        if sym.shndx == self.arena_index:
            arena = next((i for i, m in enumerate(self.out.maps) if m.type == S.MAP_TYPES["ARENA"]), -1)
            if arena < 0:
                self.fail(f"{where}: arena variable '{sym_name}' used but no ARENA map is defined")
            prog.relocations.append(Relocation("data", idx, map_index=arena,
                                               offset=insn.imm + sym.value))
            return
        if sym.shndx == self.jumptables_index:
            raise NotSupportedError(self.path, f"{where}: jump tables ({JUMPTABLES_SEC}) are not supported yet")
        if sym.shndx == self.maps_index:
            for mi, m in enumerate(self.out.maps):
                if m.kind == "btf" and m.sec_offset == sym.value:
                    prog.relocations.append(Relocation("map", idx, map_index=mi))
                    return
            self.fail(f"{where}: no map at offset {sym.value} of '{MAPS_SEC}' for '{sym_name}'")
        if sym.shndx in self.data_sections:
            for mi, m in enumerate(self.out.maps):
                if m.is_internal and m.section_index == sym.shndx:
                    prog.relocations.append(Relocation("data", idx, map_index=mi,
                                                       offset=_s32(insn.imm + sym.value)))
                    return
            self.fail(f"{where}: no map for data section '{self.obj.sections[sym.shndx].name}'")
        self.fail(f"{where}: relocation against '{sym_name}' in section "
                  f"'{self.obj.sections[sym.shndx].name}', which is neither code, maps nor data")

    def collect_map_relos(self, rel_sec) -> None:
        """``values`` initialisers in .maps: slots of map-in-map and PROG_ARRAY maps."""
        obj = self.obj
        for r in rel_sec.relocs:
            sym = obj.symbols[r.symbol]
            owner = None
            for m in self.out.maps:
                if m.kind == "btf" and m.sec_offset <= r.offset and r.offset + 8 <= m.sec_offset + m.sec_size:
                    owner = m
                    break
            if owner is None:
                self.fail(f"'{MAPS_SEC}' relocation at offset {r.offset} ('{sym.name}') is in no map")
            if owner.type in _MAP_IN_MAP:
                if sym.shndx != self.maps_index:
                    self.fail(f"map '{owner.name}': slot initialiser '{sym.name}' is not a BTF-defined map")
                if owner.type == S.MAP_TYPES["HASH_OF_MAPS"] and owner.key_size != 4:
                    self.fail(f"map '{owner.name}': a HASH_OF_MAPS with initial slots needs a 4-byte key")
                if self.out.map(sym.name) is None:
                    self.fail(f"map '{owner.name}': '{sym.name}' is not a map")
            elif owner.type == _PROG_ARRAY:
                target = self.out.program(sym.name)
                if target is None or target.section_index != sym.shndx or \
                        target.sec_insn_off * INSN_SIZE != sym.value:
                    self.fail(f"map '{owner.name}': '{sym.name}' is not an entry-point program")
            else:
                self.fail(f"map '{owner.name}': only map-in-map and PROG_ARRAY maps take initial values")
            values_offset = self.map_defs[owner.name].values_offset
            if values_offset is None:
                self.fail(f"map '{owner.name}': initialiser outside its 'values' member")
            moff = r.offset - owner.sec_offset - values_offset
            if moff < 0 or moff % 8:
                self.fail(f"map '{owner.name}': misplaced 'values' initialiser at offset {r.offset}")
            slot = moff // 8
            if slot >= len(owner.init_slots):
                owner.init_slots.extend([None] * (slot + 1 - len(owner.init_slots)))
            owner.init_slots[slot] = sym.name

    def collect_core_relos(self) -> None:
        ext = self.obj.btf_ext
        if ext is None:
            return
        for esec in ext.core_relo.sections:
            idx = self.obj.section_index(esec.name)
            if idx is None:
                continue
            for rec in esec.records:
                if rec.insn_off % INSN_SIZE:
                    self.fail(f"CO-RE relocation in '{esec.name}' at byte {rec.insn_off} is misaligned")
                prog = self.func_at(idx, rec.insn_off // INSN_SIZE)
                if prog is None:
                    continue  # belongs to an eliminated weak function
                local = rec.insn_off // INSN_SIZE - prog.sec_insn_off
                prog.core_relos.append(CoreRelo(local * INSN_SIZE, rec.type_id, rec.access_str_off,
                                                rec.kind))

    # -- subprogram appending ------------------------------------------------------------------
    def append_subprograms(self, main: OpenedProgram) -> None:
        """Append every .text function ``main`` reaches, depth first in call order, and fix the
        call immediates — libbpf's bpf_object__reloc_code — carrying BTF.ext records along."""
        own_insns = main.insns
        own_relos, own_core = main.relocations, main.core_relos
        main.insns = [i.copy() for i in own_insns]
        main.relocations, main.core_relos = [], []
        placed: Dict[int, int] = {id(main): 0}
        ext = self.obj.btf_ext
        state = {"func": ext is not None and bool(ext.func_info.sections),
                 "line": ext is not None and bool(ext.line_info.sections)}

        def add_ext_info(fn: OpenedProgram, base: int, is_main: bool) -> None:
            for which in ("func", "line"):
                if not state[which]:
                    continue
                table = ext.func_info if which == "func" else ext.line_info
                recs = self.ext_records(table, fn)
                if not recs:
                    if is_main:
                        state[which] = False  # libbpf: no info for the main program, drop it all
                        continue
                    self.fail(f"program '{main.name}': .BTF.ext {which} info is missing for "
                              f"subprogram '{fn.name}'")
                for rec in recs:
                    insn = rec.insn_off // INSN_SIZE - fn.sec_insn_off + base
                    if which == "func":
                        main.func_info.append((insn, rec.type_id))
                    else:
                        main.line_info.append(LineInfo(insn, rec.file_name_off, rec.line_off,
                                                       rec.line_col))

        def process(fn: OpenedProgram, base: int, relos, core, calls) -> None:
            add_ext_info(fn, base, fn is main)
            main.relocations.extend(r.shifted(base) for r in relos)
            main.core_relos.extend(CoreRelo(c.insn_off + base * INSN_SIZE, c.type_id, c.access_str_off,
                                            c.kind) for c in core)
            kfunc_at = {r.insn_idx for r in relos if r.kind == "kfunc"}
            for i in range(fn.sec_insn_cnt):
                insn = main.insns[base + i]
                is_call = insn.code == (JMP | CALL | K) and insn.src == PSEUDO_CALL and \
                    insn.dst == 0 and insn.off == 0
                is_func_addr = insn.code == (LD | DW | IMM) and insn.src == PSEUDO_FUNC
                if not (is_call or is_func_addr) or i in kfunc_at:
                    continue
                ref = calls.get(i)
                if ref is not None and ref.kind == "call":
                    target = ref.sym_off // INSN_SIZE + insn.imm + 1
                elif ref is not None:
                    target = (ref.sym_off + insn.imm) // INSN_SIZE
                elif is_func_addr:
                    self.fail(f"program '{main.name}': function address at instruction {i} "
                              f"of '{fn.name}' has no relocation")
                else:
                    target = fn.sec_insn_off + i + insn.imm + 1
                    if fn.section_index != self.text_index:
                        self.fail(f"program '{main.name}': call at instruction {i} does not "
                                  "reach a .text subprogram")
                sub = self.func_at(self.text_index, target) if self.text_index is not None else None
                if sub is None:
                    self.fail(f"program '{main.name}': call at instruction {i} of '{fn.name}' "
                              "does not reach a .text subprogram")
                if id(sub) not in placed:
                    placed[id(sub)] = len(main.insns)
                    main.subprograms.append(sub.name)
                    main.insns.extend(x.copy() for x in sub.insns)
                    process(sub, placed[id(sub)], sub.relocations, sub.core_relos, sub._calls)
                main.insns[base + i].imm = placed[id(sub)] - (base + i) - 1

        process(main, 0, own_relos, own_core, main._calls)
        if not state["func"]:
            main.func_info = []
        if not state["line"]:
            main.line_info = []

    def ext_records(self, table, fn: OpenedProgram) -> list:
        sec_name = self.obj.sections[fn.section_index].name
        esec = table.section(sec_name)
        if esec is None:
            return []
        lo, hi = fn.sec_insn_off, fn.sec_insn_off + fn.sec_insn_cnt
        return [r for r in esec.records if lo <= r.insn_off // INSN_SIZE < hi]

    def mark_hidden_subprograms_static(self) -> None:
        """Hidden global subprograms are verified as static ones (more context for the
        verifier): libbpf flips their BTF FUNC linkage, and so do we."""
        if self.btf is None:
            return
        for sub in self.out.subprograms:
            if not (sub.is_global and sub.hidden):
                continue
            for _, t in self.btf.items():
                if t.kind == B.FUNC and t.linkage == B.FUNC_GLOBAL and t.name == sub.name:
                    t.linkage = B.FUNC_STATIC
                    break


# ----------------------------------------------------------------------------------------------
# helpers

def _roundup(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _find_int32(btf: B.Btf) -> int:
    for tid, t in btf.items():
        if t.kind == B.INT and t.int_bits == 32:
            return tid
    return 0


def _align_of(btf: B.Btf, tid: int) -> int:
    t = btf.get(tid)
    if t is None:
        raise OpenError(None, "cannot align void")
    k = t.kind
    if k in (B.INT, B.ENUM, B.ENUM64, B.FLOAT):
        return min(8, t.size)
    if k == B.PTR:
        return 8
    if k in B.MODIFIER_KINDS:
        return _align_of(btf, t.type)
    if k == B.ARRAY:
        return _align_of(btf, t.type)
    if k in (B.STRUCT, B.UNION):
        max_align = 1
        for m in t.members:
            a = _align_of(btf, m.type)
            max_align = max(max_align, a)
            if not m.bitfield_size and m.offset % (8 * a):
                return 1
        return 1 if t.size % max_align else max_align
    raise OpenError(None, f"type [{tid}] {t.kind_name} has no alignment")


def _kcfg_type(btf: B.Btf, tid: int) -> Tuple[str, bool]:
    t = btf.get(btf.skip_modifiers(tid))
    if t is None:
        return "", False
    if t.kind == B.INT:
        if t.int_encoding & B.INT_BOOL:
            return ("bool" if t.size == 1 else ""), False
        signed = bool(t.int_encoding & B.INT_SIGNED)
        if t.size == 1:
            return "char", signed
        if t.size in (2, 4, 8):
            return "int", signed
        return "", False
    if t.kind in (B.ENUM, B.ENUM64):
        if t.name == "libbpf_tristate" and (t.kind == B.ENUM64 or t.size == 4):
            return "tristate", False
        return "", False
    if t.kind == B.ARRAY:
        if t.nelems and _kcfg_type(btf, t.type)[0] == "char":
            return "char_array", False
    return "", False


def _apply_map_def(m: OpenedMap, d: MapDef) -> None:
    m.real_name = m.ident = d.name
    m.type, m.key_size, m.value_size, m.max_entries = d.type, d.key_size, d.value_size, d.max_entries
    m.map_flags, m.numa_node, m.pinning, m.map_extra = d.map_flags, d.numa_node, d.pinning, d.map_extra
    m.btf_key_type_id, m.btf_value_type_id = d.key_type_id, d.value_type_id
    if m.type in _RINGBUFS:
        m.max_entries = _adjust_ringbuf_size(m.max_entries)


def _adjust_ringbuf_size(size: int) -> int:
    """The kernel wants ring buffer sizes to be a power-of-2 multiple of the page size; libbpf
    rounds up any other size, and so do we (with this host's page size, as libbpf does)."""
    page = resource.getpagesize()
    if size == 0:
        return 0
    if size % page == 0 and (size // page) & (size // page - 1) == 0:
        return size
    mul = 1
    while mul * page <= 0xFFFFFFFF:
        if mul * page > size:
            return mul * page
        mul <<= 1
    return size
