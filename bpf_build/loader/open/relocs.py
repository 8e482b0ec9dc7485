"""Open phase 5, libbpf's ``bpf_object__collect_relos``: what each ELF relocation of code means
(a map, global data, an extern, a call or a function address), the ``values`` initialisers of
map-in-map and PROG_ARRAY maps in ``.maps``, and the CO-RE relocations of .BTF.ext, each recorded
against the function whose own code holds it."""

from __future__ import annotations

from typing import Optional

from ...errors import NotSupportedError
from ...model.btf_ext import CoreRelo
from ...model.elf import (
    SHN_LORESERVE,
    SHN_UNDEF,
    SHT_REL,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_NOTYPE,
    STT_SECTION,
    Section,
    Symbol,
)
from ...model.insn import INSN_SIZE, PSEUDO_CALL, PSEUDO_FUNC
from ...model.ints import s32
from ...runtime.map_kinds import MAP_IN_MAP_TYPES
from ...runtime.uapi import MapType
from .arena import ARENA_GLOBALS_OFFSET
from .model import CallRef, OpenedMap, OpenedProgram, Relocation
from .names import JUMPTABLES_SEC, MAPS_SEC
from .state import OpenState

VALUES_SLOT_SIZE = 8  # a pointer in the ``values`` array of a definition


def collect_relocations(st: OpenState) -> None:
    """Every SHT_REL section of code or of .maps."""
    obj = st.obj
    for rel_sec in obj.sections:
        if rel_sec.type != SHT_REL:
            continue
        target = rel_sec.info
        if not 0 < target < len(obj.sections):
            continue
        if target == st.maps_index:
            _collect_map_relos(st, rel_sec)
        elif obj.sections[target].is_code:
            _collect_prog_relos(st, target, rel_sec)


def _collect_prog_relos(st: OpenState, sec_index: int, rel_sec: Section) -> None:
    obj = st.obj
    for r in rel_sec.relocs:
        sym = obj.symbols[r.symbol]
        if r.offset % INSN_SIZE:
            st.fail(f"section '{rel_sec.name}': relocation at offset {r.offset} is not "
                    "on an instruction boundary")
        insn_idx = r.offset // INSN_SIZE
        prog = st.func_at(sec_index, insn_idx)
        if prog is None:
            continue  # code of an overridden weak function: libbpf skips it too
        sym_name = sym.name or (obj.sections[sym.shndx].name
                                if sym.type == STT_SECTION and 0 < sym.shndx < len(obj.sections) else "?")
        _record_reloc(st, prog, insn_idx - prog.sec_insn_off, sym, r.symbol, sym_name)


def _record_reloc(st: OpenState, prog: OpenedProgram, idx: int, sym: Symbol, sym_index: int,
                  sym_name: str) -> None:
    """What the relocation at own-code instruction ``idx`` of ``prog`` refers to (libbpf's
    bpf_program__record_reloc)."""
    insn = prog.insns[idx]
    where = f"program '{prog.name}': instruction {idx}"
    if not (insn.is_call or insn.is_ld_imm64):
        st.fail(f"{where}: relocation against '{sym_name}' on an instruction that is "
                f"neither a call nor a 64-bit load (code {insn.code:#x})")
    if sym.shndx == SHN_UNDEF and sym.bind in (STB_GLOBAL, STB_WEAK) and sym.type == STT_NOTYPE:
        _record_extern_reloc(st, prog, idx, sym_index, sym_name, where)
        return
    if insn.is_call:
        if insn.src != PSEUDO_CALL:
            st.fail(f"{where}: relocated call is not a BPF-to-BPF call")
        if not sym.shndx or sym.shndx != st.text_index:
            st.fail(f"{where}: call to '{sym_name}' outside .text")
        if sym.value % INSN_SIZE:
            st.fail(f"{where}: call to '{sym_name}' at a misaligned offset {sym.value}")
        prog.call_refs[idx] = CallRef("call", sym.value)
        return
    if not sym.shndx or sym.shndx >= SHN_LORESERVE:
        st.fail(f"{where}: relocation against '{sym_name}' in special section "
                f"{sym.shndx:#x} (an uninitialized global variable?)")
    if sym.shndx == st.text_index and (
            (sym.bind == STB_LOCAL and sym.type == STT_SECTION) or
            (sym.bind in (STB_GLOBAL, STB_WEAK) and sym.type == STT_FUNC)):
        if sym.value % INSN_SIZE or insn.imm % INSN_SIZE:
            st.fail(f"{where}: misaligned function address of '{sym_name}'")
        insn.src = PSEUDO_FUNC  # what libbpf marks so the call relocation pass sees it
        prog.call_refs[idx] = CallRef("func_addr", sym.value)
        return
    if sym.shndx == st.arena_index:
        arena = next((i for i, m in enumerate(st.out.maps) if m.type == MapType.ARENA), -1)
        if arena < 0:
            st.fail(f"{where}: arena variable '{sym_name}' used but no ARENA map is defined")
        prog.relocations.append(Relocation("data", idx, map_index=arena,
                                           offset=ARENA_GLOBALS_OFFSET + insn.imm + sym.value))
        return
    if sym.shndx == st.jumptables_index:
        raise NotSupportedError(st.path, f"{where}: jump tables ({JUMPTABLES_SEC}) are not supported yet")
    if sym.shndx == st.maps_index:
        for mi, m in enumerate(st.out.maps):
            if m.kind == "btf" and m.sec_offset == sym.value:
                prog.relocations.append(Relocation("map", idx, map_index=mi))
                return
        st.fail(f"{where}: no map at offset {sym.value} of '{MAPS_SEC}' for '{sym_name}'")
    if sym.shndx in st.data_sections:
        for mi, m in enumerate(st.out.maps):
            if m.is_internal and m.section_index == sym.shndx:
                prog.relocations.append(Relocation("data", idx, map_index=mi,
                                                   offset=s32(insn.imm + sym.value)))
                return
        st.fail(f"{where}: no map for data section '{st.obj.sections[sym.shndx].name}'")
    st.fail(f"{where}: relocation against '{sym_name}' in section "
            f"'{st.obj.sections[sym.shndx].name}', which is neither code, maps nor data")


def _record_extern_reloc(st: OpenState, prog: OpenedProgram, idx: int, sym_index: int,
                         sym_name: str, where: str) -> None:
    """A kfunc call, a ksym address, or a .kconfig value (a data reference into its map)."""
    ext_index = next((i for i, e in enumerate(st.out.externs) if e.sym_index == sym_index), -1)
    if ext_index < 0:
        st.fail(f"{where}: no extern for '{sym_name}'")
    ext = st.out.externs[ext_index]
    if prog.insns[idx].is_call:
        prog.relocations.append(Relocation("kfunc", idx, extern_index=ext_index))
    elif ext.kind == "kconfig":
        if st.out.kconfig_map is None:
            st.fail(f"{where}: kconfig extern '{sym_name}' without a .kconfig map")
        prog.relocations.append(Relocation("data", idx, map_index=st.out.kconfig_map, offset=ext.offset))
    else:
        prog.relocations.append(Relocation("ksym", idx, extern_index=ext_index))


def _collect_map_relos(st: OpenState, rel_sec: Section) -> None:
    """``values`` initialisers in .maps: slots of map-in-map and PROG_ARRAY maps."""
    obj = st.obj
    for r in rel_sec.relocs:
        sym = obj.symbols[r.symbol]
        owner = _map_holding(st, r.offset)
        if owner is None:
            st.fail(f"'{MAPS_SEC}' relocation at offset {r.offset} ('{sym.name}') is in no map")
        if owner.type in MAP_IN_MAP_TYPES:
            if sym.shndx != st.maps_index:
                st.fail(f"map '{owner.name}': slot initialiser '{sym.name}' is not a BTF-defined map")
            if owner.type == MapType.HASH_OF_MAPS and owner.key_size != 4:
                st.fail(f"map '{owner.name}': a HASH_OF_MAPS with initial slots needs a 4-byte key")
            if st.out.map(sym.name) is None:
                st.fail(f"map '{owner.name}': '{sym.name}' is not a map")
        elif owner.type == MapType.PROG_ARRAY:
            target = st.out.program(sym.name)
            if target is None or target.section_index != sym.shndx or \
                    target.sec_insn_off * INSN_SIZE != sym.value:
                st.fail(f"map '{owner.name}': '{sym.name}' is not an entry-point program")
        else:
            st.fail(f"map '{owner.name}': only map-in-map and PROG_ARRAY maps take initial values")
        values_offset = st.map_defs[owner.name].values_offset
        if values_offset is None:
            st.fail(f"map '{owner.name}': initialiser outside its 'values' member")
        moff = r.offset - owner.sec_offset - values_offset
        if moff < 0 or moff % VALUES_SLOT_SIZE:
            st.fail(f"map '{owner.name}': misplaced 'values' initialiser at offset {r.offset}")
        slot = moff // VALUES_SLOT_SIZE
        if slot >= len(owner.init_slots):
            owner.init_slots.extend([None] * (slot + 1 - len(owner.init_slots)))
        owner.init_slots[slot] = sym.name


def _map_holding(st: OpenState, offset: int) -> Optional[OpenedMap]:
    """The BTF map whose definition holds the pointer at ``offset`` of .maps."""
    for m in st.out.maps:
        if m.kind == "btf" and m.sec_offset <= offset and offset + VALUES_SLOT_SIZE <= m.sec_offset + m.sec_size:
            return m
    return None


def collect_core_relos(st: OpenState) -> None:
    """.BTF.ext CO-RE records, moved to the function they belong to (``insn_off`` in bytes)."""
    ext = st.obj.btf_ext
    if ext is None:
        return
    for esec in ext.core_relo.sections:
        idx = st.obj.section_index(esec.name)
        if idx is None:
            continue
        for rec in esec.records:
            if not isinstance(rec, CoreRelo):
                continue  # the CO-RE table holds nothing else
            if rec.insn_off % INSN_SIZE:
                st.fail(f"CO-RE relocation in '{esec.name}' at byte {rec.insn_off} is misaligned")
            prog = st.func_at(idx, rec.insn_off // INSN_SIZE)
            if prog is None:
                continue  # belongs to an eliminated weak function
            local = rec.insn_off // INSN_SIZE - prog.sec_insn_off
            prog.core_relos.append(CoreRelo(local * INSN_SIZE, rec.type_id, rec.access_str_off, rec.kind))
