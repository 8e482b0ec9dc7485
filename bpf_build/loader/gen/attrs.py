"""The bpf_attr records the loader passes to bpf(), packed for the blob in the target's byte order.

Fields known when generating are filled here; the loader itself fills fds, pointers into the blob
and the runner's settings (log, max_entries) just before each call. Layouts are the contract's
(runtime/loader_contract.py), since a user-space runner reads these attrs too.
"""

from __future__ import annotations

from typing import Dict, Tuple, Union

from ...runtime.loader_contract import BTF_LOAD_ATTR, MAP_CREATE_ATTR, PROG_LOAD_ATTR
from ...runtime.uapi import BPF_OBJ_NAME_LEN, MapType
from ..open import OpenedMap, OpenedProgram
from .blob import c_bytes

# Map types the kernel takes no key/value BTF for.
NO_BTF_MAP_TYPES = frozenset({
    MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY, MapType.STACK_TRACE, MapType.ARRAY_OF_MAPS,
    MapType.HASH_OF_MAPS, MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP,
    MapType.SOCKMAP, MapType.SOCKHASH, MapType.QUEUE, MapType.STACK, MapType.ARENA})

FUNC_INFO_REC_SIZE, LINE_INFO_REC_SIZE, CORE_RELO_REC_SIZE = 8, 16, 16
_KERNEL_NAME_LEN = BPF_OBJ_NAME_LEN - 1  # less its NUL


def btf_load_attr(byte_order: str, size: int) -> bytes:
    return BTF_LOAD_ATTR.pack(byte_order, {"btf_size": size})


def map_create_attr(byte_order: str, m: OpenedMap, name: str, has_btf: bool) -> Tuple[bytes, bool]:
    """The attr creating ``m`` under ``name``, and whether it refers to the object's BTF."""
    key_id, value_id = m.key_type_id, m.value_type_id
    # The kernel refuses a key type without a value type (libbpf then retries without BTF; a
    # loader cannot retry, so it never asks), and some map types take no BTF at all.
    if m.type in NO_BTF_MAP_TYPES or not has_btf or not value_id:
        key_id = value_id = 0
    if m.struct_ops is not None:
        # the value type is the kernel's (btf_vmlinux_value_type_id, written by the runner), but
        # the kernel still wants the object's BTF fd to accept it
        values = _map_values(m, name, 0, 0)
        return MAP_CREATE_ATTR.pack(byte_order, values), has_btf
    return MAP_CREATE_ATTR.pack(byte_order, _map_values(m, name, key_id, value_id)), bool(key_id or value_id)


def _map_values(m: OpenedMap, name: str, key_id: int, value_id: int) -> Dict[str, Union[int, bytes]]:
    return {"map_type": m.type, "key_size": m.key_size, "value_size": m.value_size,
            "max_entries": m.max_entries, "map_flags": m.map_flags, "numa_node": m.numa_node,
            "map_name": c_bytes(name)[:_KERNEL_NAME_LEN], "btf_key_type_id": key_id,
            "btf_value_type_id": value_id, "map_extra": m.map_extra}


def prog_load_attr(byte_order: str, p: OpenedProgram) -> bytes:
    values: Dict[str, Union[int, bytes]] = {
        "prog_type": p.type, "insn_cnt": len(p.insns), "prog_flags": p.prog_flags,
        "prog_name": c_bytes(p.name)[:_KERNEL_NAME_LEN], "expected_attach_type": p.expected_attach_type}
    if p.func_info:
        values.update(func_info_rec_size=FUNC_INFO_REC_SIZE, func_info_cnt=len(p.func_info))
    if p.line_info:
        values.update(line_info_rec_size=LINE_INFO_REC_SIZE, line_info_cnt=len(p.line_info))
    if p.core_relos:
        values.update(core_relo_cnt=len(p.core_relos), core_relo_rec_size=CORE_RELO_REC_SIZE)
    return PROG_LOAD_ATTR.pack(byte_order, values)
