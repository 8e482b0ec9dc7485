"""Open phase 1, libbpf's ``bpf_object__elf_collect``: what each ELF section is (license,
version, code, .maps, global data, struct_ops, arena), and the functions of every code section."""

from __future__ import annotations

from typing import List, Optional

from ...model.elf import (
    SHF_EXECINSTR,
    SHT_NOBITS,
    SHT_PROGBITS,
    SHT_SYMTAB,
    STB_LOCAL,
    STT_FUNC,
    STV_HIDDEN,
    STV_INTERNAL,
)
from ...model.insn import INSN_SIZE, Insn, decode
from .model import OpenedProgram
from .names import ARENA_SEC, JUMPTABLES_SEC, MAPS_SEC, STRUCT_OPS_SECS
from .state import OpenState

LICENSE_MAX = 63  # libbpf keeps this many bytes of the license string


def collect_sections(st: OpenState) -> None:
    """Classify the sections into ``st``; list the entry programs and .text subprograms."""
    obj, out = st.obj, st.out
    symtab = None
    for i, s in enumerate(obj.sections):
        if s.type == SHT_SYMTAB:
            symtab = i
    if symtab is None:
        st.fail("no symbol table (stripped object?)")
    st.symtab_index = symtab
    for i, s in enumerate(obj.sections):
        if i == 0 or s.name.startswith(".debug_"):
            continue
        if s.name == "license":
            out.license = s.data.split(b"\0", 1)[0][:LICENSE_MAX].decode("utf-8", "replace")
        elif s.name == "version":
            if len(s.data) != 4:
                st.fail(f"section 'version' has {len(s.data)} bytes, expected 4")
            out.kern_version = int.from_bytes(s.data, "little" if obj.byteorder == "little" else "big")
        elif s.name == "maps":
            st.fail("legacy map definitions in section 'maps' are not supported "
                    "(libbpf 1.0+ requires BTF-defined maps in '.maps')")
        elif s.name == MAPS_SEC:
            st.maps_index = i
        elif s.type == SHT_PROGBITS and s.size > 0:
            if s.flags & SHF_EXECINSTR:
                if s.name == ".text":
                    st.text_index = i
                _add_functions(st, i)
            elif s.name == ".data" or s.name.startswith(".data."):
                st.data_sections[i] = "data"
            elif s.name == ".rodata" or s.name.startswith(".rodata."):
                st.data_sections[i] = "rodata"
            elif s.name in STRUCT_OPS_SECS:
                st.struct_ops_sections.append(i)
            elif s.name == ARENA_SEC:
                st.arena_index = i
            elif s.name == JUMPTABLES_SEC:
                st.jumptables_index = i
        elif s.type == SHT_NOBITS and (s.name == ".bss" or s.name.startswith(".bss.")):
            st.data_sections[i] = "bss"
    st.functions.sort(key=lambda p: (p.section_index, p.sec_insn_off))
    out.programs = [p for p in st.functions if p.section_index != st.text_index]
    out.subprograms = [p for p in st.functions if p.section_index == st.text_index]
    needs_btf = st.maps_index is not None or st.struct_ops_sections
    if needs_btf and st.btf is None:
        st.fail("BTF is required (the object defines maps in '.maps') but .BTF is missing")


def _add_functions(st: OpenState, sec_index: int) -> None:
    """Each STT_FUNC symbol of a code section becomes an OpenedProgram with its own code."""
    obj = st.obj
    sec = obj.sections[sec_index]
    insns: Optional[List[Insn]] = None
    for sym in obj.symbols[1:]:
        if sym.shndx != sec_index or sym.type != STT_FUNC:
            continue
        if sym.value % INSN_SIZE or sym.size % INSN_SIZE or sym.size == 0 \
                or sym.value + sym.size > sec.size:
            st.fail(f"section '{sec.name}': program '{sym.name}' at offset {sym.value} "
                    f"(size {sym.size}) is corrupt or crosses the section boundary")
        if sec.name != ".text" and sym.bind == STB_LOCAL:
            st.fail(f"section '{sec.name}': program '{sym.name}' is static; "
                    "entry programs must be global")
        if insns is None:
            insns = decode(sec.data, obj.byteorder, st.path)
        first = sym.value // INSN_SIZE
        autoload = not sec.name.startswith("?")
        section = sec.name[1:] if not autoload else sec.name
        st.functions.append(OpenedProgram(
            sym.name, section, sec_index, first,
            [i.copy() for i in insns[first:first + sym.size // INSN_SIZE]],
            autoload, sym.bind != STB_LOCAL, sym.visibility in (STV_HIDDEN, STV_INTERNAL)))
