"""Open phase 6, libbpf's ``bpf_object__relocate`` code part (``bpf_object__reloc_code``): each
entry program gets every .text subprogram it reaches appended to its instructions, depth first
in call order, with call immediates fixed and relocations, CO-RE records, func_info and
line_info carried along at their new instruction indices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Type, TypeVar

from ...model.btf_ext import CoreRelo, ExtInfo, ExtRecord, FuncInfo, LineInfo
from ...model.insn import CALL, DW, IMM, INSN_SIZE, JMP, LD, PSEUDO_CALL, PSEUDO_FUNC, K
from .model import CallRef, OpenedProgram, Relocation
from .state import OpenState

Record = TypeVar("Record", bound=ExtRecord)


def append_subprograms(st: OpenState) -> None:
    """Make every entry program self-contained."""
    for prog in st.out.programs:
        _Appender(st, prog).run()


@dataclass(eq=False)
class _Appender:
    """Appending for one entry program ``main``; its own facts are moved out first, then
    re-added for its code and each subprogram's at their places in the final ``insns``."""

    st: OpenState
    main: OpenedProgram
    placed: Dict[int, int] = field(default_factory=dict)
    """id(function) -> where its code starts in ``main.insns``."""
    keep_func_info: bool = False
    keep_line_info: bool = False

    def run(self) -> None:
        main, ext = self.main, self.st.obj.btf_ext
        own_relos, own_core = main.relocations, main.core_relos
        main.insns = [i.copy() for i in main.insns]
        main.relocations, main.core_relos = [], []
        self.placed[id(main)] = 0
        self.keep_func_info = ext is not None and bool(ext.func_info.sections)
        self.keep_line_info = ext is not None and bool(ext.line_info.sections)
        self._place(main, 0, own_relos, own_core, main.call_refs)
        if not self.keep_func_info:
            main.func_info = []
        if not self.keep_line_info:
            main.line_info = []

    def _place(self, fn: OpenedProgram, base: int, relos: Sequence[Relocation],
               core: Sequence[CoreRelo], calls: Dict[int, CallRef]) -> None:
        """Carry ``fn``'s facts to ``base`` and resolve its calls, appending callees not yet
        placed (recursively: they are appended before ``fn``'s next call is looked at)."""
        main = self.main
        self._add_ext_info(fn, base)
        main.relocations.extend(r.shifted(base) for r in relos)
        main.core_relos.extend(CoreRelo(c.insn_off + base * INSN_SIZE, c.type_id, c.access_str_off, c.kind)
                               for c in core)
        kfunc_at = {r.insn_idx for r in relos if r.kind == "kfunc"}
        for i in range(fn.sec_insn_cnt):
            insn = main.insns[base + i]
            is_call = insn.code == (JMP | CALL | K) and insn.src == PSEUDO_CALL and \
                insn.dst == 0 and insn.off == 0
            is_func_addr = insn.code == (LD | DW | IMM) and insn.src == PSEUDO_FUNC
            if not (is_call or is_func_addr) or i in kfunc_at:
                continue
            sub = self._callee(fn, i, insn.imm, calls.get(i), is_func_addr)
            if id(sub) not in self.placed:
                self.placed[id(sub)] = len(main.insns)
                main.subprograms.append(sub.name)
                main.insns.extend(x.copy() for x in sub.insns)
                self._place(sub, self.placed[id(sub)], sub.relocations, sub.core_relos, sub.call_refs)
            main.insns[base + i].imm = self.placed[id(sub)] - (base + i) - 1

    def _callee(self, fn: OpenedProgram, i: int, imm: int, ref: Optional[CallRef],
                is_func_addr: bool) -> OpenedProgram:
        """The .text function that instruction ``i`` of ``fn`` calls or takes the address of."""
        st, main = self.st, self.main
        if ref is not None and ref.kind == "call":
            target = ref.sym_off // INSN_SIZE + imm + 1
        elif ref is not None:
            target = (ref.sym_off + imm) // INSN_SIZE
        elif is_func_addr:
            st.fail(f"program '{main.name}': function address at instruction {i} "
                    f"of '{fn.name}' has no relocation")
        else:
            target = fn.sec_insn_off + i + imm + 1
            if fn.section_index != st.text_index:
                st.fail(f"program '{main.name}': call at instruction {i} does not "
                        "reach a .text subprogram")
        sub = st.func_at(st.text_index, target) if st.text_index is not None else None
        if sub is None:
            st.fail(f"program '{main.name}': call at instruction {i} of '{fn.name}' "
                    "does not reach a .text subprogram")
        return sub

    def _add_ext_info(self, fn: OpenedProgram, base: int) -> None:
        """``fn``'s func_info and line_info at ``base``."""
        ext = self.st.obj.btf_ext
        if ext is None:
            return
        if self.keep_func_info:
            funcs = self._records(ext.func_info, fn, FuncInfo)
            self.keep_func_info = self._has_info("func", funcs, fn)
            self.main.func_info.extend((self._insn(r.insn_off, fn, base), r.type_id) for r in funcs)
        if self.keep_line_info:
            lines = self._records(ext.line_info, fn, LineInfo)
            self.keep_line_info = self._has_info("line", lines, fn)
            self.main.line_info.extend(LineInfo(self._insn(r.insn_off, fn, base), r.file_name_off, r.line_off,
                                                r.line_col) for r in lines)

    def _has_info(self, which: str, records: Sequence[ExtRecord], fn: OpenedProgram) -> bool:
        """Whether ``which`` info stays: without records for the main program libbpf drops that
        kind of info altogether; a subprogram without them is an error."""
        if not records and fn is not self.main:
            self.st.fail(f"program '{self.main.name}': .BTF.ext {which} info is missing for "
                         f"subprogram '{fn.name}'")
        return bool(records)

    @staticmethod
    def _insn(insn_off: int, fn: OpenedProgram, base: int) -> int:
        """A record's byte offset in ``fn``'s section, as an index into the main program."""
        return insn_off // INSN_SIZE - fn.sec_insn_off + base

    def _records(self, table: ExtInfo, fn: OpenedProgram, kind: Type[Record]) -> List[Record]:
        """``table``'s records (all of class ``kind``) that fall in ``fn``'s own code."""
        esec = table.section(self.st.obj.sections[fn.section_index].name)
        if esec is None:
            return []
        lo, hi = fn.sec_insn_off, fn.sec_insn_off + fn.sec_insn_cnt
        return [r for r in esec.records if isinstance(r, kind) and lo <= r.insn_off // INSN_SIZE < hi]
