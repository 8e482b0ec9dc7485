"""Planning a loader: what it will do, and everything it needs laid out in the blob.

``plan_loader`` walks the opened object once, in the order the loader will act — the fd table and
scratch space, BTF, maps (with their inner maps, initial values, keys), map-in-map slots, programs
(relocated instructions, license, func/line info, CO-RE records, attach target, externs to
resolve), PROG_ARRAY slots — adding each item to the blob as it goes, so the blob's layout is
that order. The result, a ``LoaderPlan``, is all that emission (emit.py) reads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, Collection, Dict, List, NoReturn, Optional, Tuple, Type

from ...errors import BpfBuildError, LoaderError, NotSupportedError
from ...model import btf as B
from ...model.insn import PSEUDO_BTF_ID, PSEUDO_KFUNC_CALL, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE, encode
from ...runtime.loader_contract import MAP_ELEM_ATTR
from ...runtime.map_kinds import MAP_IN_MAP_TYPES
from ...runtime.uapi import MapType, ProgType
from ..section_defs import SEC_ATTACH_BTF
from ..open import OpenedMap, OpenedObject, OpenedProgram
from .attrs import btf_load_attr, map_create_attr, prog_load_attr
from .blob import Blob, BlobRef, FdTable, c_bytes
from .struct_ops import StructOpsPlan, datasec_names_for_every_kernel, plan_struct_ops

FREEZE_ATTR_BYTES = 8  # MAP_FREEZE reads 4 (map_fd); the blob keeps 8-byte alignment


@dataclass
class BtfPlan:
    attr: BlobRef
    data: BlobRef
    size: int


@dataclass
class MapPlan:
    index: int
    map: OpenedMap
    attr: BlobRef
    uses_btf: bool
    inner_attr: Optional[BlobRef] = None   # map-in-map: the inner map's template, created first
    inner_uses_btf: bool = False
    value: Optional[BlobRef] = None        # global data: the initial value, written after creation
    update_attr: Optional[BlobRef] = None
    key: Optional[BlobRef] = None          # key 0 of that update
    freeze_attr: Optional[BlobRef] = None  # .rodata and .kconfig are frozen once written


@dataclass
class SlotPlan:
    """One initial slot of a map-in-map or PROG_ARRAY: map[slot] = the fd of map or program target."""

    map_index: int
    slot: int
    target: int
    target_is_prog: bool
    key: BlobRef
    attr: BlobRef


@dataclass
class KsymUse:
    """One extern as one program uses it: resolved once at load time, patched into each insn."""

    kind: str            # "kallsyms" (typeless ksym), "ksym" (typed: a BTF id) or "kfunc"
    name: str
    weak: bool
    btf_kind: int
    name_ref: BlobRef
    fd_slot: int = -1    # kfunc: the fd table slot of its module BTF fd
    insn_idx: List[int] = field(default_factory=list)
    dst_regs: List[int] = field(default_factory=list)


@dataclass
class ProgPlan:
    index: int
    prog: OpenedProgram
    ksyms: List[KsymUse]
    insns: BlobRef
    license: BlobRef
    attr: BlobRef
    func_info: Optional[BlobRef] = None
    line_info: Optional[BlobRef] = None
    core_relos: Optional[BlobRef] = None
    attach_name: Optional[BlobRef] = None  # attach target looked up in kernel BTF (name, NUL)
    attach_kind: int = 0


@dataclass
class LoaderPlan:
    opened: OpenedObject
    byte_order: str      # struct prefix of the target: "<" or ">"
    fds: FdTable
    scratch: BlobRef     # 8 bytes for kallsyms results
    btf: Optional[BtfPlan]
    maps: List[MapPlan]
    map_slots: List[SlotPlan]
    progs: List[ProgPlan]
    prog_array_slots: List[SlotPlan]
    struct_ops: List[StructOpsPlan]
    blob: Blob
    data: bytes          # the finished blob


def _fail(opened: OpenedObject, reason: str, cls: Type[BpfBuildError] = LoaderError) -> NoReturn:
    raise cls(opened.path, reason)


def check_supported(opened: OpenedObject) -> None:
    """Refuse what a loader program cannot do (before anything is planned)."""
    for m in opened.maps:
        what = None
        if (m.kind == "struct_ops" or m.type == MapType.STRUCT_OPS) and m.struct_ops is None:
            what = "struct_ops maps outside .struct_ops sections are"
        if what:
            _fail(opened, f"map '{m.name}': {what} not supported yet by loader programs", NotSupportedError)
    for p in opened.programs:
        if p.sec_def is None:
            _fail(opened, f"program '{p.name}': section '{p.section}' names no program type")
        # freplace (EXT) programs attach to a function of another program, known only at load:
        # the runner writes attach_prog_fd and attach_btf_id into their attr (runtime/freplace.py)
        if p.sec_def.flags & SEC_ATTACH_BTF and p.attach_btf is None and p.type != ProgType.EXT:
            _fail(opened, f"program '{p.name}': section '{p.section}' needs an attach target "
                          "(e.g. SEC(\"fentry/do_sys_open\"))")


@dataclass
class _Planning:
    """What the planning phases share while the blob fills."""

    opened: OpenedObject
    byte_order: str
    blob: Blob
    fds: FdTable
    zero_key: Optional[BlobRef] = None

    def key_zero(self) -> BlobRef:
        if self.zero_key is None:
            self.zero_key = self.blob.add(bytes(4))
        return self.zero_key


def plan_loader(opened: OpenedObject) -> LoaderPlan:
    """Lay out the blob for ``opened``, in the loader's order (see the module docstring)."""
    nr_kfunc_slots = sum(len({opened.externs[r.extern_index].name for r in p.relocations if r.kind == "kfunc"})
                         for p in opened.programs)
    fds = FdTable(len(opened.maps), len(opened.programs), any(m.inner is not None for m in opened.maps),
                  nr_kfunc_slots)
    state = _Planning(opened, "<" if opened.byteorder == "little" else ">", Blob(), fds)
    state.blob.add(bytes(fds.size))
    scratch = state.blob.add(bytes(8))
    btf = _plan_btf(state)
    maps = [_plan_map(state, i, m) for i, m in enumerate(opened.maps)]
    map_slots = _plan_slots(state, MAP_IN_MAP_TYPES, opened.map_index, target_is_prog=False)
    progs = [_plan_prog(state, j, p) for j, p in enumerate(opened.programs)]
    prog_index = {p.name: j for j, p in reversed(list(enumerate(opened.programs)))}  # first of a name
    prog_array_slots = _plan_slots(state, (MapType.PROG_ARRAY,), prog_index.__getitem__, target_is_prog=True)
    struct_ops = plan_struct_ops(opened)
    data = state.blob.finish()
    return LoaderPlan(opened, state.byte_order, fds, scratch, btf, maps, map_slots, progs, prog_array_slots,
                      struct_ops, state.blob, data)


def _plan_btf(state: _Planning) -> Optional[BtfPlan]:
    btf = state.opened.btf
    if btf is None:
        return None
    try:
        raw = datasec_names_for_every_kernel(btf.encode())
    except struct.error as e:  # corrupt values that no longer fit BTF's fields
        _fail(state.opened, f"BTF cannot be encoded for the kernel: {e}")
    data = state.blob.add(raw, tail=True)
    return BtfPlan(state.blob.add(btf_load_attr(state.byte_order, len(raw))), data, len(raw))


def _plan_map(state: _Planning, i: int, m: OpenedMap) -> MapPlan:
    has_btf = state.opened.btf is not None
    inner_attr, inner_uses_btf = None, False
    if m.inner is not None:
        attr, inner_uses_btf = map_create_attr(state.byte_order, m.inner, m.inner.name, has_btf)
        inner_attr = state.blob.add(attr)
    attr, uses_btf = map_create_attr(state.byte_order, m, m.name, has_btf)
    plan = MapPlan(i, m, state.blob.add(attr), uses_btf, inner_attr, inner_uses_btf)
    if m.is_internal:
        plan.value = state.blob.add(m.initial_value or bytes(m.value_size), tail=True)
        plan.update_attr = state.blob.add(bytes(MAP_ELEM_ATTR.size))
        plan.key = state.key_zero()
        if m.kind in ("rodata", "kconfig"):
            plan.freeze_attr = state.blob.add(bytes(FREEZE_ATTR_BYTES))
    return plan


def _plan_slots(state: _Planning, map_types: Collection[int], target_index: Callable[[str], int],
                target_is_prog: bool) -> List[SlotPlan]:
    plans = []
    for i, m in enumerate(state.opened.maps):
        if m.type not in map_types:
            continue
        for slot, target in enumerate(m.init_slots):
            if target is None:
                continue
            key = state.blob.add(struct.pack(state.byte_order + "I", slot))
            attr = state.blob.add(bytes(MAP_ELEM_ATTR.size))
            plans.append(SlotPlan(i, slot, target_index(target), target_is_prog, key, attr))
    return plans


def _plan_prog(state: _Planning, j: int, p: OpenedProgram) -> ProgPlan:
    blob, bo = state.blob, state.byte_order
    insns = [i.copy() for i in p.insns]
    uses: Dict[Tuple[str, str], KsymUse] = {}
    for r in p.relocations:
        k = r.insn_idx
        if r.kind == "map":
            insns[k].src, insns[k].imm = PSEUDO_MAP_IDX, r.map_index
        elif r.kind == "data":
            insns[k].src, insns[k].imm = PSEUDO_MAP_IDX_VALUE, r.map_index
            insns[k + 1].imm = r.offset
        elif r.kind in ("ksym", "kfunc"):
            ext = state.opened.externs[r.extern_index]
            if r.kind == "kfunc":
                insns[k].src, insns[k].imm, insns[k].off = PSEUDO_KFUNC_CALL, 0, 0
                key = ("kfunc", ext.name)
            else:
                typed = ext.is_func or ext.ksym_type_id != 0
                insns[k].src = PSEUDO_BTF_ID if typed else 0
                insns[k].imm = insns[k + 1].imm = 0
                key = ("ksym" if typed else "kallsyms", ext.name)
            use = uses.get(key)
            if use is None:
                btf_kind = B.FUNC if (r.kind == "kfunc" or ext.is_func) else B.VAR
                use = uses[key] = KsymUse(key[0], ext.name, ext.weak, btf_kind, blob.add(c_bytes(ext.name) + b"\0"))
                if key[0] == "kfunc":
                    use.fd_slot = state.fds.take_kfunc_slot()
            use.insn_idx.append(k)
            use.dst_regs.append(insns[k].dst)
    code = blob.add(encode(insns, state.opened.byteorder), tail=True)
    license_ref = blob.add(c_bytes(state.opened.license or "") + b"\0")
    func_info = line_info = core_relos = attach_name = None
    if p.func_info:
        func_info = blob.add(b"".join(struct.pack(bo + "II", a, b) for a, b in p.func_info), tail=True)
    if p.line_info:
        line_info = blob.add(b"".join(struct.pack(bo + "IIII", li.insn_off, li.file_name_off, li.line_off,
                                                  li.line_col) for li in p.line_info), tail=True)
    if p.core_relos:
        core_relos = blob.add(b"".join(struct.pack(bo + "IIII", c.insn_off, c.type_id, c.access_str_off, c.kind)
                                       for c in p.core_relos), tail=True)
    attach_kind = 0
    if p.attach_btf is not None:
        name, attach_kind = p.attach_btf
        attach_name = blob.add(c_bytes(name) + b"\0")
    attr = blob.add(prog_load_attr(bo, p))
    return ProgPlan(j, p, list(uses.values()), code, license_ref, attr, func_info, line_info, core_relos,
                    attach_name, attach_kind)
