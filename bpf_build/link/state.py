"""The linker's state, as typed records: what each phase reads and what it leaves behind.

``LinkerState`` is the output under construction (sections in libbpf's creation order, the symbol
table, global symbols, the growing BTF as words); ``InputView`` is one input as the phases see it while it
is being appended (its sections with their places in the output, and the maps from its symbol
and type ids to the output's). Nothing here links: the phases are functions in the sibling
modules, listed in order by ``link()`` in linker.py.

Plain classes with ``__slots__`` rather than dataclasses: loading ``dataclasses`` (and
``inspect``, which it imports) and generating each class's methods cost every ``bpf-link`` run
~8 ms of start-up, more than some whole links.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ..model.btf import Btf, BtfType, VarSecinfo
from ..model.btf_ext import ExtRecord
from ..model.elf import SHT_STRTAB, SHT_SYMTAB, Object, Relocation, Section, Symbol
from .words_btf import WordsBtf, empty_words_btf

# An input's global BTF, indexed once: name -> free-standing VAR/FUNC id, and name -> (DATASEC id,
# VAR/FUNC id, id of a free-standing VAR/FUNC of that name seen before the DATASEC, or 0).
GlobalBtfIndex = Tuple[Dict[str, int], Dict[str, Tuple[int, int, int]]]


class ExtRecords:
    """One output section's .BTF.ext records of one kind (func, line or CO-RE), in output order."""

    __slots__ = ("rec_size", "records")

    def __init__(self) -> None:
        self.rec_size = 0
        self.records: List[ExtRecord] = []


class OutputSection:
    """One output section. It is ephemeral (``elf_index`` 0) while only BTF knows it (.kconfig,
    .ksyms, a .maps of extern maps); the first real data gives it its ELF identity."""

    __slots__ = ("name", "ephemeral", "elf_index", "type", "flags", "addralign", "entsize", "data", "size",
                 "sec_sym_idx", "has_btf", "vars", "ext", "relocs", "target", "file")

    def __init__(self, name: str) -> None:
        self.name = name
        self.ephemeral = True
        self.elf_index = 0
        self.type = 0
        self.flags = 0
        self.addralign = 1
        self.entsize = 0
        self.data = bytearray()
        self.size = 0
        self.sec_sym_idx = 0  # its one section symbol, once an input has one
        self.has_btf = False  # some input described it with a DATASEC
        self.vars: List[VarSecinfo] = []  # its DATASEC's entries
        # func, line, core_relo
        self.ext: Tuple[ExtRecords, ExtRecords, ExtRecords] = (ExtRecords(), ExtRecords(), ExtRecords())
        self.relocs: List[Relocation] = []
        self.target: Optional[OutputSection] = None  # the section a relocation section relocates
        self.file = ""  # the input that gave it its ELF identity, for messages


class InputSection:
    """One section of the input being appended; ``section`` is None for an ephemeral one, which
    exists only as a DATASEC in the input's BTF."""

    __slots__ = ("name", "index", "section", "skipped", "dst", "dst_off", "datasec_id")

    def __init__(self, name: str, index: int, section: Optional[Section], skipped: bool = False) -> None:
        self.name = name
        self.index = index
        self.section = section
        self.skipped = skipped  # dropped, or (license, version) merged into an identical earlier one
        self.dst: Optional[OutputSection] = None
        self.dst_off = 0  # where its bytes start in ``dst``
        self.datasec_id = 0  # its DATASEC in the input's BTF, or 0

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


class GlobalSymbol:
    """A non-local symbol of the output: where it lives, which input settled it, its BTF."""

    __slots__ = ("sym_idx", "sec", "name", "is_extern", "is_weak", "file", "btf_id", "underlying_id",
                 "pending_src_id", "var_idx", "var_from_extern")

    def __init__(self, sym_idx: int, sec: Optional[OutputSection], name: str, is_extern: bool, is_weak: bool,
                 file: str) -> None:
        self.sym_idx = sym_idx
        self.sec = sec
        self.name = name
        self.is_extern = is_extern
        self.is_weak = is_weak
        self.file = file  # the input of its definition (or first declaration), for messages
        self.btf_id = 0  # its VAR/FUNC in the output BTF
        # The id of the VAR's/FUNC's type in the output BTF; None until known. While an input's
        # BTF is being appended, ``pending_src_id`` holds that input's id for it.
        self.underlying_id: Optional[int] = None
        self.pending_src_id: Optional[int] = None
        self.var_idx = -1  # its entry in the section's DATASEC
        self.var_from_extern = False  # that entry was made for an extern declaration


class InputView:
    """One input while it is appended; its BTF as words (words_btf.py)."""

    __slots__ = ("obj", "file", "btf", "linkable_ids", "secs", "by_index", "by_name", "datasecs",
                 "sym_map", "type_map", "global_btf")

    def __init__(self, obj: Object, file: str, btf: Optional[WordsBtf]) -> None:
        self.obj = obj
        self.file = file
        self.btf = btf  # as words (the caller's Object is not changed: a Btf of records is copied)
        # The ids of its BTF's VARs, FUNCs and DATASECs, ascending: the only records the
        # phases single out by kind (a few dozen of an input's thousands).
        self.linkable_ids: List[int] = []
        self.secs: List[InputSection] = []
        self.by_index: Dict[int, InputSection] = {}
        self.by_name: Dict[str, InputSection] = {}
        self.datasecs: Dict[int, BtfType] = {}  # DATASECs with sizes and offsets fixed up
        self.sym_map: List[int] = []  # input symbol index -> output symbol index
        self.type_map: List[int] = []  # input BTF id -> output BTF id
        self.global_btf: Optional[GlobalBtfIndex] = None  # built on first use

    def add_section(self, sec: InputSection) -> None:
        self.secs.append(sec)
        self.by_name.setdefault(sec.name, sec)

    @property
    def known_btf(self) -> WordsBtf:
        """The input's BTF, where an earlier check guarantees there is one."""
        if self.btf is None:
            raise AssertionError(f"{self.file} has no BTF")
        return self.btf


class LinkerState:
    """The output under construction. ``sections`` is libbpf's creation order (DATASECs and
    .BTF.ext follow it), ``elf_order`` the order of the sections in the ELF file."""

    __slots__ = ("dedup_flavour", "byteorder", "first_file", "sections", "sections_by_name", "elf_order",
                 "strtab_order", "symbols", "global_symbols", "btf", "btf_names", "out_btf")

    def __init__(self, dedup_flavour: str) -> None:
        self.dedup_flavour = dedup_flavour
        self.byteorder: Optional[str] = None  # the first input's
        self.first_file = ""
        self.sections: List[OutputSection] = []
        self.sections_by_name: Dict[str, OutputSection] = {}
        self.elf_order: List[OutputSection] = []
        self.strtab_order = [".strtab", ".symtab"]
        self.symbols = [Symbol("")]
        self.global_symbols: Dict[str, GlobalSymbol] = {}
        # The appended types as words (byte order set by the first input), and the
        # deduplicated BTF the output carries, once made.
        self.btf = empty_words_btf("little")
        self.out_btf: Optional[Btf] = None
        # Name texts the appending phases met -> their offsets in btf.strings (the table only
        # grows, so an offset never changes): an input's names found at once (link/btf.py).
        self.btf_names: Dict[str, int] = {"": 0}
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
