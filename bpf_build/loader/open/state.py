"""What the open phases share while they run: the object being opened, the result being built,
and the facts one phase finds for the next (which sections hold code, maps, data)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, NoReturn, Optional

from ...errors import OpenError
from ...model import btf as B
from ...model.elf import Object
from ...model.mapdef import MapDef
from .model import OpenedObject, OpenedProgram


@dataclass(eq=False)
class OpenState:
    """The input, the output, and the section facts ``collect_sections`` finds."""

    obj: Object
    out: OpenedObject
    """The result; its ``btf`` is ``btf`` below."""
    btf: Optional[B.Btf]
    """A copy of the object's BTF, which the phases fix up in place (None without .BTF)."""
    symtab_index: int = 0
    text_index: Optional[int] = None
    """The .text section (subprograms), if the object has code there."""
    maps_index: Optional[int] = None
    """The .maps section (BTF-defined maps)."""
    data_sections: Dict[int, str] = field(default_factory=dict)
    """Global-data section index -> "data" | "rodata" | "bss"."""
    struct_ops_sections: List[int] = field(default_factory=list)
    arena_index: Optional[int] = None
    jumptables_index: Optional[int] = None
    functions: List[OpenedProgram] = field(default_factory=list)
    """Every function of every code section, by (section index, offset): programs and subprograms."""
    map_defs: Dict[str, MapDef] = field(default_factory=dict)
    """BTF map name -> its parsed definition (``values`` initialisers need it)."""

    @property
    def path(self) -> Optional[str]:
        return self.obj.path

    def fail(self, reason: str) -> NoReturn:
        """Refuse the object, as libbpf's open would."""
        raise OpenError(self.path, reason)

    def need_btf(self) -> B.Btf:
        """The BTF, for phases that only run when the object has it."""
        if self.btf is None:
            self.fail("BTF is required but .BTF is missing")
        return self.btf

    def func_at(self, sec_index: int, insn_idx: int) -> Optional[OpenedProgram]:
        """The function whose own code holds instruction ``insn_idx`` of section ``sec_index``."""
        for p in self.functions:
            if p.section_index == sec_index and p.sec_insn_off <= insn_idx < p.sec_insn_off + p.sec_insn_cnt:
                return p
        return None
