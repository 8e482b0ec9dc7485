"""The open phase's result: the maps, programs and externs libbpf's ``bpf_object__open`` makes of
an object, as plain dataclasses (identity equality: the phases and their readers keep them in
lists and look them up by ``id``/name, never compare them by value).

Readers (the loader generator, the skeleton renderers, ``bpf-build inspect``) treat them as
read-only; only the open phases in this package fill them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

from ...model import btf as B
from ...model.btf_ext import CoreRelo, LineInfo
from ...model.insn import Insn
from ...model.mapdef import MapDef
from ...runtime.uapi import MapFlag, attach_type_name, map_type_name, prog_type_name
from .. import section_defs as S

if TYPE_CHECKING:
    from .struct_ops import StructOps

MAP_KINDS = ("btf", "data", "rodata", "bss", "kconfig", "struct_ops")
INTERNAL_MAP_KINDS = ("data", "rodata", "bss", "kconfig")
KCFG_TYPES = ("bool", "tristate", "char", "int", "char_array")
RELOCATION_KINDS = ("map", "data", "ksym", "kfunc")

# Plain ints, not MapFlag members: map_flags keeps the int type it always had.
BPF_F_RDONLY_PROG = int(MapFlag.RDONLY_PROG)
BPF_F_MMAPABLE = int(MapFlag.MMAPABLE)


@dataclass(eq=False)
class Relocation:
    """A data reference in a program's instructions that the load phase must resolve."""

    kind: str
    """``"map"``: ld_imm64 of a map (``map_index``); ``"data"``: ld_imm64 of a global-data or
    .kconfig value (``map_index``, ``offset``); ``"ksym"``: ld_imm64 of a ksym extern
    (``extern_index``); ``"kfunc"``: call of a kfunc extern (``extern_index``)."""
    insn_idx: int
    """The instruction, an index into the program's ``insns``."""
    map_index: int = -1
    """Index into ``OpenedObject.maps`` ("map", "data"), -1 otherwise."""
    offset: int = 0
    """"data": the final byte offset in the map value."""
    extern_index: int = -1
    """Index into ``OpenedObject.externs`` ("ksym", "kfunc"), -1 otherwise."""

    def shifted(self, by: int) -> Relocation:
        """The same reference with the instruction ``by`` places further (subprogram appending)."""
        return Relocation(self.kind, self.insn_idx + by, self.map_index, self.offset, self.extern_index)

    def __repr__(self) -> str:
        target = f"map={self.map_index}" if self.map_index >= 0 else f"extern={self.extern_index}"
        return f"Relocation({self.kind}, insn={self.insn_idx}, {target}, off={self.offset})"


@dataclass(eq=False)
class OpenedMap(MapDef):
    """A map libbpf will create: BTF-defined (``.maps``), global data, .kconfig or struct_ops.

    Its definition is a ``MapDef``'s fields (``type``, ``key_size``, ``key_type_id``,
    ``value_size``, ``value_type_id``, ``max_entries``, ``map_flags``, ``numa_node``, ``pinning``,
    ``inner``, ``map_extra``, ``values_offset``) as the kernel gets them: a BTF map's as parsed,
    with ring buffer sizes rounded up as libbpf rounds them; the open phase fills them itself for
    the other kinds. Type ids are into the object's BTF; ``value_type_id`` is the DATASEC of a
    global-data map and the struct of a struct_ops map. ``inner`` is the OpenedMap a map-in-map's
    ``values`` declares (named ``<name>.inner``). Equality is identity, unlike MapDef's."""

    kind: str = ""
    """One of MAP_KINDS (required)."""
    section: str = ""
    """The ELF section it comes from (``.maps``, ``.data.foo``, ``.kconfig``, ``.struct_ops``)."""
    section_index: int = 0
    """That section's index (the symbol table's for .kconfig, which has no section)."""
    real_name: str = ""
    """The variable or ELF section name (``name`` until set); ``name`` is the map's name as libbpf
    names it: BTF maps by variable; global data ``<obj>.bss``-style, truncated the way libbpf
    truncates it (see ``internal_map_name``)."""
    ident: str = ""
    """The skeleton field name, bpftool's rule: ``bss``, ``rodata_str1_1``, ``counts``."""
    sec_offset: int = 0
    """Where the definition (BTF maps) or variable (struct_ops) starts in its section."""
    sec_size: int = 0
    """Bytes the definition occupies in ``.maps`` (BTF maps)."""
    inner: Optional[OpenedMap] = None
    init_slots: List[Optional[str]] = field(default_factory=list)
    """Initial ``values``: map names (map-in-map) or program names (PROG_ARRAY), None for a gap."""
    initial_value: Optional[bytes] = None
    """Global-data maps: the section's bytes (zeros for .bss/.kconfig); the ARENA map: its
    ``__arena`` globals (.addr_space.1), copied into the arena once mapped; None for other maps."""
    struct_ops: Optional[StructOps] = None
    """struct_ops maps: the struct's members and bytes, which program each pointer names."""

    # The phases and readers keep maps in lists and find them by identity (see the module doc).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def __post_init__(self) -> None:
        if self.kind not in MAP_KINDS:
            raise ValueError(f"map '{self.name}': kind {self.kind!r} is not one of {MAP_KINDS}")
        self.real_name = self.real_name or self.name
        self.ident = self.ident or self.name

    @property
    def type_name(self) -> str:
        return map_type_name(self.type)

    @property
    def is_internal(self) -> bool:
        """A map libbpf makes from global data (.data*, .rodata*, .bss*, .kconfig)."""
        return self.kind in INTERNAL_MAP_KINDS

    @property
    def mmapable(self) -> bool:
        return bool(self.map_flags & BPF_F_MMAPABLE)

    def __repr__(self) -> str:
        return (f"OpenedMap({self.name!r}, {self.type_name}, key={self.key_size}, "
                f"value={self.value_size}, max_entries={self.max_entries}, flags={self.map_flags:#x})")


@dataclass(eq=False)
class CallRef:
    """A relocated call or function-address instruction: what kind, and the target symbol's
    byte offset in .text (the open phase's own bookkeeping for subprogram appending)."""

    kind: str
    """``"call"`` (BPF-to-BPF call) or ``"func_addr"`` (ld_imm64 of a function)."""
    sym_off: int


@dataclass(eq=False)
class OpenedProgram:
    """An ELF function: an entry program (its own section) or a .text subprogram."""

    name: str
    section: str
    """The section name without a leading ``?``."""
    section_index: int
    sec_insn_off: int
    """Where its own code starts in the section, in instructions."""
    insns: List[Insn]
    """Own code, then every subprogram it calls, appended the way libbpf appends them with call
    immediates fixed; data references still as in the ELF."""
    autoload: bool
    """False for ``SEC("?...")``."""
    is_global: bool
    """Not STB_LOCAL."""
    hidden: bool
    """STV_HIDDEN or STV_INTERNAL (hidden global subprograms are verified as static ones)."""
    sec_insn_cnt: int = field(init=False)
    """The length of its own code, in instructions."""
    type: int = 0
    """The program type from the section definition (0 for subprograms and unknown sections)."""
    expected_attach_type: int = 0
    prog_flags: int = 0
    """Sleepable, XDP frags, ... as the section definition says."""
    sec_def: Optional[S.SecDef] = None
    """The section definition that matched, None for unknown sections and subprograms."""
    attach_target: Optional[str] = None
    """What follows the first ``/`` of the section, e.g. ``syscalls/sys_enter_getpid``."""
    attach_btf: Optional[Tuple[str, int]] = None
    """A ``(name, btf_kind)`` to resolve in kernel BTF (fentry, tp_btf, lsm, iter), or None."""
    relocations: List[Relocation] = field(default_factory=list)
    """Data references in ``insns``: map, data, extern ld_imm64, kfunc call."""
    func_info: List[Tuple[int, int]] = field(default_factory=list)
    """(insn_idx, BTF FUNC id) for each function in ``insns``."""
    line_info: List[LineInfo] = field(default_factory=list)
    """With ``insn_off`` in instructions."""
    core_relos: List[CoreRelo] = field(default_factory=list)
    """With ``insn_off`` in bytes, as the kernel wants them."""
    subprograms: List[str] = field(default_factory=list)
    """The names of the subprograms appended to ``insns``, in order."""
    call_refs: Dict[int, CallRef] = field(default_factory=dict, repr=False)
    """Relocated calls in its own code, by own-code instruction index (open-phase bookkeeping)."""

    def __post_init__(self) -> None:
        self.sec_insn_cnt = len(self.insns)

    @property
    def type_name(self) -> str:
        return prog_type_name(self.type)

    @property
    def expected_attach_type_name(self) -> str:
        return attach_type_name(self.expected_attach_type)

    def __repr__(self) -> str:
        return f"OpenedProgram({self.name!r}, {self.section!r}, {self.type_name}, {len(self.insns)} insns)"


@dataclass(eq=False)
class Extern:
    """An ``extern`` the object leaves to the loader: a kconfig value or a kernel symbol."""

    name: str
    kind: str
    """``"kconfig"`` (``__kconfig``, a value in the .kconfig map) or ``"ksym"`` (``__ksym``)."""
    weak: bool
    btf_id: int
    """Its VAR or FUNC in the object's BTF."""
    sym_index: int
    """Its ELF symbol."""
    kcfg_type: str = ""
    """kconfig: one of KCFG_TYPES."""
    size: int = 0
    """kconfig: bytes in the .kconfig map value."""
    align: int = 0
    signed: bool = False
    offset: int = 0
    """kconfig: where it is in the .kconfig map value."""
    ksym_type_id: int = 0
    """ksym: the type (modifiers skipped) in the object's BTF, 0 when typeless."""
    is_func: bool = False
    """ksym: a kfunc rather than a variable."""

    @property
    def typeless(self) -> bool:
        return self.kind == "ksym" and not self.is_func and self.ksym_type_id == 0

    def __repr__(self) -> str:
        return f"Extern({self.name!r}, {self.kind}, weak={self.weak})"


@dataclass(eq=False)
class OpenedObject:
    """What libbpf's open phase makes of one object."""

    name: str
    """The object name, which prefixes global-data map names (at most 15 characters)."""
    path: Optional[str]
    license: str = ""
    kern_version: int = 0
    btf: Optional[B.Btf] = None
    """The BTF as the kernel should receive it: DATASEC sizes and offsets filled in, extern VARs
    and FUNCs rewritten, hidden globals made static. None when the object has no .BTF."""
    byteorder: str = "little"
    maps: List[OpenedMap] = field(default_factory=list)
    """libbpf's order: .maps variables by offset, then .data*/.rodata*/.bss* by section index,
    then .kconfig, then .struct_ops variables."""
    programs: List[OpenedProgram] = field(default_factory=list)
    """Entry programs (not .text subprograms) by section index then offset, ``?`` ones included."""
    subprograms: List[OpenedProgram] = field(default_factory=list)
    """The .text functions, as in the ELF (nothing appended)."""
    externs: List[Extern] = field(default_factory=list)
    """kconfig externs by (alignment descending, size, name), then ksyms by name."""
    kconfig_map: Optional[int] = None
    """Index into ``maps`` of the .kconfig map, None without kconfig externs."""

    def map(self, name: str) -> Optional[OpenedMap]:
        return next((m for m in self.maps if m.name == name), None)

    def program(self, name: str) -> Optional[OpenedProgram]:
        return next((p for p in self.programs if p.name == name), None)

    def map_index(self, name: str) -> int:
        for i, m in enumerate(self.maps):
            if m.name == name:
                return i
        return -1
