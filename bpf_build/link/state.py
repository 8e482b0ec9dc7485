"""The linker's state, as typed records: what each phase reads and what it leaves behind.

``LinkerState`` is the output under construction (sections in libbpf's creation order, the symbol
table, global symbols, the growing BTF); ``InputView`` is one input as the phases see it while it
is being appended (its sections with their places in the output, and the maps from its symbol
and type ids to the output's). Nothing here links: the phases are functions in the sibling
modules, listed in order by ``link()`` in linker.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from ..model.btf import Btf, BtfType, VarSecinfo
from ..model.btf_ext import ExtRecord
from ..model.elf import SHT_STRTAB, SHT_SYMTAB, Object, Relocation, Section, Symbol

# An input's global BTF, indexed once: name -> free-standing VAR/FUNC id, and name -> (DATASEC id,
# VAR/FUNC id, id of a free-standing VAR/FUNC of that name seen before the DATASEC, or 0).
GlobalBtfIndex = Tuple[Dict[str, int], Dict[str, Tuple[int, int, int]]]


@dataclass(eq=False)
class ExtRecords:
    """One output section's .BTF.ext records of one kind (func, line or CO-RE), in output order."""

    rec_size: int = 0
    records: List[ExtRecord] = field(default_factory=list)


@dataclass(eq=False)
class OutputSection:
    """One output section. It is ephemeral (``elf_index`` 0) while only BTF knows it (.kconfig,
    .ksyms, a .maps of extern maps); the first real data gives it its ELF identity."""

    name: str
    ephemeral: bool = True
    elf_index: int = 0
    type: int = 0
    flags: int = 0
    addralign: int = 1
    entsize: int = 0
    data: bytearray = field(default_factory=bytearray)
    size: int = 0
    sec_sym_idx: int = 0  # its one section symbol, once an input has one
    has_btf: bool = False  # some input described it with a DATASEC
    vars: List[VarSecinfo] = field(default_factory=list)  # its DATASEC's entries
    ext: Tuple[ExtRecords, ExtRecords, ExtRecords] = field(
        default_factory=lambda: (ExtRecords(), ExtRecords(), ExtRecords()))  # func, line, core_relo
    relocs: List[Relocation] = field(default_factory=list)
    target: Optional[OutputSection] = None  # the section a relocation section relocates
    file: str = ""  # the input that gave it its ELF identity, for messages


@dataclass(eq=False)
class InputSection:
    """One section of the input being appended; ``section`` is None for an ephemeral one, which
    exists only as a DATASEC in the input's BTF."""

    name: str
    index: int
    section: Optional[Section]
    skipped: bool = False  # dropped, or (license, version) merged into an identical earlier one
    dst: Optional[OutputSection] = None
    dst_off: int = 0  # where its bytes start in ``dst``
    datasec_id: int = 0  # its DATASEC in the input's BTF, or 0

    @property
    def ephemeral(self) -> bool:
        return self.section is None

    @property
    def size(self) -> int:
        return self.section.size if self.section is not None else 0

    @property
    def elf(self) -> Section:
        """The ELF section of a section known not to be ephemeral."""
        if self.section is None:
            raise AssertionError(f"section '{self.name}' is ephemeral")
        return self.section

    @property
    def output(self) -> OutputSection:
        """The output section, for a section already appended."""
        if self.dst is None:
            raise AssertionError(f"section '{self.name}' has no output section")
        return self.dst


@dataclass(eq=False)
class GlobalSymbol:
    """A non-local symbol of the output: where it lives, which input settled it, its BTF."""

    sym_idx: int
    sec: Optional[OutputSection]
    name: str
    is_extern: bool
    is_weak: bool
    file: str  # the input of its definition (or first declaration), for messages
    btf_id: int = 0  # its VAR/FUNC in the output BTF
    # The id of the VAR's/FUNC's type in the output BTF; None until known. While an input's
    # BTF is being appended, ``pending_src_id`` holds that input's id for it.
    underlying_id: Optional[int] = None
    pending_src_id: Optional[int] = None
    var_idx: int = -1  # its entry in the section's DATASEC
    var_from_extern: bool = False  # that entry was made for an extern declaration


@dataclass(eq=False)
class InputView:
    """One input while it is appended. ``owned``: the Object is the linker's (read from a path or
    bytes), so its BTF types may move into the output instead of being copied."""

    obj: Object
    owned: bool
    file: str
    btf: Optional[Btf]  # read only: the caller's Object is not changed
    secs: List[InputSection] = field(default_factory=list)
    by_index: Dict[int, InputSection] = field(default_factory=dict)
    by_name: Dict[str, InputSection] = field(default_factory=dict)
    datasecs: Dict[int, BtfType] = field(default_factory=dict)  # DATASECs with sizes and offsets fixed up
    sym_map: List[int] = field(default_factory=list)  # input symbol index -> output symbol index
    type_map: List[int] = field(default_factory=list)  # input BTF id -> output BTF id
    global_btf: Optional[GlobalBtfIndex] = None  # built on first use

    def add_section(self, sec: InputSection) -> None:
        self.secs.append(sec)
        self.by_name.setdefault(sec.name, sec)

    @property
    def known_btf(self) -> Btf:
        """The input's BTF, where an earlier check guarantees there is one."""
        if self.btf is None:
            raise AssertionError(f"{self.file} has no BTF")
        return self.btf


@dataclass(eq=False)
class LinkerState:
    """The output under construction. ``sections`` is libbpf's creation order (DATASECs and
    .BTF.ext follow it), ``elf_order`` the order of the sections in the ELF file."""

    dedup_flavour: str
    byteorder: Optional[str] = None  # the first input's
    first_file: str = ""
    sections: List[OutputSection] = field(default_factory=list)
    sections_by_name: Dict[str, OutputSection] = field(default_factory=dict)
    elf_order: List[OutputSection] = field(default_factory=list)
    strtab_order: List[str] = field(default_factory=lambda: [".strtab", ".symtab"])
    symbols: List[Symbol] = field(default_factory=lambda: [Symbol("")])
    global_symbols: Dict[str, GlobalSymbol] = field(default_factory=dict)
    btf: Btf = field(default_factory=Btf)
    # Each name text of the appended records: the one string object kept for it and its offset
    # in btf.strings (the table only grows, so an offset never changes). The empty name is at
    # 0: the output is not split BTF.
    btf_names: Dict[str, Tuple[str, int]] = field(default_factory=lambda: {"": ("", 0)})

    def __post_init__(self) -> None:
        for name, sh_type in ((".strtab", SHT_STRTAB), (".symtab", SHT_SYMTAB)):
            sec = self.add_section(name)
            sec.ephemeral, sec.type = False, sh_type
            sec.elf_index = len(self.elf_order) + 1
            self.elf_order.append(sec)

    def add_section(self, name: str) -> OutputSection:
        sec = OutputSection(name)
        self.sections.append(sec)
        self.sections_by_name.setdefault(name, sec)
        return sec
