"""Open phase 3, libbpf's ``bpf_object__init_maps``: BTF-defined maps from ``.maps`` (parsed by
``model.mapdef``), one array map per global-data section, the .kconfig map, and struct_ops maps
(listed only: nothing loads them yet)."""

from __future__ import annotations

import dataclasses
import resource

from ...model import btf as B
from ...model.mapdef import MapDef, MapDefError, parse_map_def
from ...runtime.uapi import MapType
from .model import BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, OpenedMap
from .names import KCONFIG_SEC, MAPS_SEC, internal_map_name, skeleton_ident
from .state import OpenState

MAX_GLOBAL_DATA = 1 << 30  # far above what the kernel accepts for an array map value

_RINGBUFS = (MapType.RINGBUF, MapType.USER_RINGBUF)


def init_maps(st: OpenState) -> None:
    """The maps in libbpf's order: .maps, global data by section index, .kconfig, struct_ops."""
    if st.maps_index is not None:
        _init_btf_maps(st, st.need_btf(), st.maps_index)
    for idx in sorted(st.data_sections):
        sec = st.obj.sections[idx]
        kind = st.data_sections[idx]
        if sec.size == 0:
            continue
        if sec.size > MAX_GLOBAL_DATA:
            st.fail(f"section '{sec.name}' holds {sec.size} bytes of global data; the kernel "
                    f"cannot make a map value that large")
        data = bytes(sec.size) if kind == "bss" else bytes(sec.data)
        _add_internal_map(st, kind, sec.name, idx, data)
    kcfg = [e for e in st.out.externs if e.kind == "kconfig"]
    if kcfg:
        last = kcfg[-1]
        _add_internal_map(st, "kconfig", KCONFIG_SEC, st.symtab_index, bytes(last.offset + last.size))
        st.out.kconfig_map = len(st.out.maps) - 1
    for idx in st.struct_ops_sections:
        _init_struct_ops_maps(st, idx)


def _add_internal_map(st: OpenState, kind: str, real_name: str, sec_index: int, data: bytes) -> None:
    """A one-entry array map holding a global-data section; mmapable when it has globals."""
    m = OpenedMap(internal_map_name(st.out.name, real_name), type=MapType.ARRAY, key_size=4, value_size=len(data),
                  max_entries=1, map_flags=BPF_F_RDONLY_PROG if kind in ("rodata", "kconfig") else 0,
                  kind=kind, section=real_name, section_index=sec_index, real_name=real_name, initial_value=data)
    btf = st.btf
    if btf is not None:
        # libbpf looks the section's DATASEC up by name, whatever its kind.
        tid = next((i for i, t in btf.items() if t.name == real_name), None)
        if tid is not None:
            m.value_type_id = tid
            if _has_global_var(btf, btf.type(tid)):
                m.map_flags |= BPF_F_MMAPABLE
    m.ident = skeleton_ident(m) or m.name
    st.out.maps.append(m)


def _has_global_var(btf: B.Btf, t: B.BtfType) -> bool:
    """A DATASEC with a non-static VAR: user space may see its map, so it is mmapable."""
    if t.kind != B.DATASEC:
        return False
    for v in t.secinfo:
        var = btf.type(v.type)
        if var.kind == B.VAR and var.linkage != B.VAR_STATIC:
            return True
    return False


def _init_btf_maps(st: OpenState, btf: B.Btf, maps_index: int) -> None:
    """A map per VAR of the .maps DATASEC, by offset."""
    sec_id = btf.find(MAPS_SEC, B.DATASEC)
    if sec_id is None:
        st.fail(f"BTF has no DATASEC '{MAPS_SEC}' describing the maps")
    data_size = st.obj.sections[maps_index].size
    for v in btf.type(sec_id).secinfo:
        var = btf.type(v.type)
        if not var.name:
            st.fail(f"a map in '{MAPS_SEC}' has an empty name")
        if v.offset + v.size > data_size:
            st.fail(f"map '{var.name}': BTF places it past the end of '{MAPS_SEC}'")
        if var.kind != B.VAR:
            st.fail(f"map '{var.name}': unexpected BTF kind {var.kind_name} in '{MAPS_SEC}'")
        if var.linkage != B.VAR_GLOBAL_ALLOCATED:
            st.fail(f"map '{var.name}': maps must be global, non-extern variables")
        try:
            definition = parse_map_def(btf, var.type, var.name)
        except MapDefError as e:
            st.fail(e.reason)
        st.map_defs[var.name] = definition
        m = _btf_map(definition, maps_index)
        m.sec_offset = v.offset
        m.sec_size = v.size
        st.out.maps.append(m)


def _btf_map(d: MapDef, maps_index: int) -> OpenedMap:
    """The map a definition describes, with its inner map's (named ``<outer>.inner``)."""
    definition = {f.name: getattr(d, f.name) for f in dataclasses.fields(MapDef) if f.name != "inner"}
    m = OpenedMap(**definition, kind="btf", section=MAPS_SEC, section_index=maps_index)
    if d.inner is not None:
        m.inner = _btf_map(d.inner, maps_index)
    if m.type in _RINGBUFS:
        m.max_entries = _adjust_ringbuf_size(m.max_entries)
    return m


def _init_struct_ops_maps(st: OpenState, sec_index: int) -> None:
    """A struct_ops section's maps, one per variable of its DATASEC: the value's size and type are
    the object's; the kernel's layout is found by the runner on the machine that loads."""
    sec_name = st.obj.sections[sec_index].name
    btf = st.need_btf()
    dsec = btf.find(sec_name, B.DATASEC)  # clang names it after the section, '?' included
    if dsec is None:
        st.fail(f"section '{sec_name}' has no BTF DATASEC")
    for v in btf.type(dsec).secinfo:
        var = btf.type(v.type)
        st.out.maps.append(OpenedMap(var.name, type=MapType.STRUCT_OPS, key_size=4, value_size=v.size, max_entries=1,
                                     value_type_id=btf.skip_modifiers(var.type), kind="struct_ops",
                                     section=sec_name, section_index=sec_index, sec_offset=v.offset))


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
