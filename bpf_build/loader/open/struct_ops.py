"""Open phase 5b, libbpf's ``bpf_object__init_struct_ops`` and ``bpf_object__collect_st_ops_relos``:
what each ``SEC(".struct_ops")``/``SEC(".struct_ops.link")`` variable holds (a ``?`` before the
section's name: an optional map, not created unless asked).

``maps.py`` lists one STRUCT_OPS map per variable; this phase reads its struct in the object's BTF
(the kernel type's name, each member's offset and size), its bytes in the section (the data
members' initial values), and the section's relocations, which say which function-pointer member
points at which ``SEC("struct_ops/...")`` program. Nothing here knows the kernel: the kernel's
layout of the same struct is only known where the object loads, so the runner matches these
members to the kernel's by name then (runtime/struct_ops.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from ...model import btf as B
from ...model.elf import SHT_NOBITS, STT_FUNC, STT_SECTION
from ...runtime.uapi import ProgType
from .model import OpenedMap, OpenedProgram
from .state import OpenState

BPF_F_LINK = 1 << 13   # map_flags: the struct_ops map registers through a BPF link
LINK_SECTION_SUFFIX = ".link"
POINTER_SIZE = 8


@dataclass(eq=False)
class StructOpsMember:
    """One member of the object's struct, as user space and the runner see it."""

    name: str
    offset: int
    """Byte offset in the object's struct (and in ``StructOps.data``)."""
    size: int
    is_func_ptr: bool
    program: Optional[str] = None
    """The program a function-pointer member points at (None: NULL, or a data member)."""


@dataclass(eq=False)
class StructOps:
    """What a struct_ops map's variable says, in the object's terms."""

    type_name: str
    """The struct's name without a CO-RE flavour (``tcp_congestion_ops``): the kernel type to find."""
    data: bytes
    """The variable's bytes in the section (function pointers are zero here)."""
    members: List[StructOpsMember] = field(default_factory=list)
    link: bool = False
    """From ``.struct_ops.link``: registered by BPF_LINK_CREATE, not by the map update."""
    optional: bool = False
    """From ``?.struct_ops``/``?.struct_ops.link``: created only when asked (libbpf starts the map
    with autocreate off; the runner then leaves it and the programs only it uses out)."""

    @property
    def programs(self) -> List[StructOpsMember]:
        """The function-pointer members that point at a program, in member order."""
        return [m for m in self.members if m.program is not None]


def collect_struct_ops(st: OpenState) -> None:
    """Fill ``OpenedMap.struct_ops`` of every struct_ops map; programs no map uses do not load
    (libbpf's rule: they could not, without a struct member to attach to)."""
    ops_maps = [m for m in st.out.maps if m.kind == "struct_ops"]
    for m in ops_maps:
        m.struct_ops = _describe(st, m)
    for sec_index in st.struct_ops_sections:
        _collect_relos(st, sec_index, [m for m in ops_maps if m.section_index == sec_index])
    used = {member.program for m in ops_maps if m.struct_ops is not None for member in m.struct_ops.programs}
    for p in st.out.programs:
        if p.type == ProgType.STRUCT_OPS and p.name not in used:
            p.autoload = False


def _describe(st: OpenState, m: OpenedMap) -> StructOps:
    btf = st.need_btf()
    type_id = btf.skip_modifiers(m.value_type_id)
    t = btf.type(type_id)
    where = f"struct_ops map '{m.name}'"
    if t.kind != B.STRUCT or not t.name:
        st.fail(f"{where}: its variable's type is not a named struct")
    sec = st.obj.sections[m.section_index]
    if sec.type == SHT_NOBITS or m.sec_offset + t.size > len(sec.data):
        st.fail(f"{where}: its {t.size} bytes are not in section '{sec.name}'")
    ops = StructOps(_essential_name(t.name), bytes(sec.data[m.sec_offset:m.sec_offset + t.size]),
                    link=sec.name.lstrip("?").endswith(LINK_SECTION_SUFFIX), optional=sec.name.startswith("?"))
    for member in t.members:
        if member.bitfield_size or member.offset % 8:
            st.fail(f"{where}: member '{member.name}' is a bitfield, which struct_ops cannot copy")
        mtype = btf.skip_modifiers(member.type)
        target = btf.skip_modifiers(btf.type(mtype).type) if btf.type(mtype).kind == B.PTR else 0
        is_func_ptr = target != 0 and btf.type(target).kind == B.FUNC_PROTO
        ops.members.append(StructOpsMember(member.name, member.offset // 8, btf.resolve_size(member.type),
                                           is_func_ptr))
    if ops.link:
        m.map_flags |= BPF_F_LINK
    return ops


def _collect_relos(st: OpenState, sec_index: int, maps: List[OpenedMap]) -> None:
    """Each relocation of the section: a function pointer of one variable set to a program."""
    obj = st.obj
    sec_name = obj.sections[sec_index].name
    for r in obj.relocations_for(sec_index):
        sym = obj.symbols[r.symbol]
        owner = next((m for m in maps if m.struct_ops is not None
                      and m.sec_offset <= r.offset < m.sec_offset + len(m.struct_ops.data)), None)
        if owner is None or owner.struct_ops is None:
            st.fail(f"section '{sec_name}': relocation at offset {r.offset} ('{sym.name}') is in no variable")
        moff = r.offset - owner.sec_offset
        member = next((x for x in owner.struct_ops.members if x.offset == moff), None)
        if member is None or not member.is_func_ptr:
            st.fail(f"struct_ops map '{owner.name}': relocation at member offset {moff} ('{sym.name}') "
                    "is not on a function pointer")
        prog = _program_at(st, sym.shndx, sym.value if sym.type != STT_SECTION else 0)
        if prog is None or sym.type not in (STT_FUNC, STT_SECTION):
            st.fail(f"struct_ops map '{owner.name}': member '{member.name}' points at '{sym.name}', "
                    "which is not a program")
        if prog.type != ProgType.STRUCT_OPS:
            st.fail(f"struct_ops map '{owner.name}': member '{member.name}' points at program "
                    f"'{prog.name}' of SEC(\"{prog.section}\"); it must be SEC(\"struct_ops/...\")")
        member.program = prog.name


def _program_at(st: OpenState, sec_index: int, byte_offset: int) -> Optional[OpenedProgram]:
    for p in st.out.programs:
        if p.section_index == sec_index and p.sec_insn_off * 8 == byte_offset:
            return p
    return None


def _essential_name(name: str) -> str:
    """``tcp_congestion_ops___v2`` -> ``tcp_congestion_ops`` (a CO-RE flavour names no kernel type)."""
    cut = name.rfind("___")
    return name[:cut] if cut > 0 else name
