"""Whether two inputs' descriptions of one global agree, by libbpf's linker rules, and if not what
differs: ``btf_mismatch`` for variables and functions, ``map_defs_mismatch`` for BTF-defined maps
(an extern map must repeat the definition exactly). Each returns None when the two are
compatible, else a reason for the LinkError; side 1 is the earlier input's, side 2 the new one's.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

from ..errors import BpfBuildError
from ..model import btf as B
from ..model.btf import Btf, BtfType, Member

_VOID = BtfType(0)


def _kind_name(t: BtfType) -> str:
    return t.kind_name if t.kind else "void"


def _raw_member_offset(owner: BtfType, m: Member) -> int:
    return (m.bitfield_size << 24) | m.offset if owner.kflag else m.offset


def btf_mismatch(btf1: Btf, id1: int, btf2: Btf, id2: int, exact: bool) -> Optional[str]:
    """Kinds, names and sizes must agree; behind pointers only the shape counts (a FWD matches a
    struct/union of its name); structs and unions reached directly must have the same layout."""
    while True:
        id1, id2 = btf1.skip_modifiers(id1), btf2.skip_modifiers(id2)
        t1, t2 = btf1.get(id1) or _VOID, btf2.get(id2) or _VOID
        k1, k2 = t1.kind, t2.kind
        if not exact and (k1 == B.FWD) != (k2 == B.FWD):
            if t1.name != t2.name:
                return f"forward declaration names '{t1.name}' and '{t2.name}' differ"
            fwd, real = (t1, t2) if k1 == B.FWD else (t2, t1)
            if real.kind == (B.UNION if fwd.kflag else B.STRUCT):
                return None
            return (f"{'union' if fwd.kflag else 'struct'} forward declaration '{fwd.name}' "
                    f"does not match {_kind_name(real)} '{real.name}'")
        if k1 != k2:
            return f"BTF kinds {_kind_name(t1)} and {_kind_name(t2)} differ"
        if k1 in (B.STRUCT, B.UNION, B.ENUM, B.ENUM64, B.FWD, B.FUNC, B.VAR) and t1.name != t2.name:
            return f"{t1.kind_name} names '{t1.name}' and '{t2.name}' differ"
        if k1 in (0, B.FWD):
            return None
        if k1 in (B.INT, B.FLOAT, B.ENUM, B.ENUM64):
            if t1.size != t2.size:
                return f"{t1.kind_name} '{t1.name}' sizes {t1.size} and {t2.size} differ"
            return None
        if k1 == B.PTR:
            exact = False  # behind a pointer only the shape matters
            id1, id2 = t1.type, t2.type
        elif k1 == B.ARRAY:
            id1, id2 = t1.type, t2.type  # index type and length are not compared
        elif k1 in (B.FUNC, B.VAR):
            static = B.FUNC_STATIC if k1 == B.FUNC else B.VAR_STATIC
            if (t1.linkage == static) != (t2.linkage == static):
                return f"{t1.kind_name} '{t1.name}' is static on one side only"
            id1, id2 = t1.type, t2.type
        elif k1 in (B.STRUCT, B.UNION):
            return _members_mismatch(btf1, t1, btf2, t2) if exact else None
        elif k1 == B.FUNC_PROTO:
            if len(t1.params) != len(t2.params):
                return f"functions take {len(t1.params)} and {len(t2.params)} arguments"
            for p1, p2 in zip(t1.params, t2.params):  # argument names do not matter
                why = btf_mismatch(btf1, p1.type, btf2, p2.type, exact)
                if why:
                    return why
            id1, id2 = t1.type, t2.type
        else:
            return f"BTF kind {t1.kind_name} cannot be compared"


def _members_mismatch(btf1: Btf, t1: BtfType, btf2: Btf, t2: BtfType) -> Optional[str]:
    """Two structs (or unions) reached directly: the same fields at the same offsets."""
    if len(t1.members) != len(t2.members):
        return f"{t1.kind_name} '{t1.name}' has {len(t1.members)} and {len(t2.members)} fields"
    for i, (m1, m2) in enumerate(zip(t1.members, t2.members)):
        if m1.name != m2.name:
            return f"field #{i} of '{t1.name}' is named '{m1.name}' and '{m2.name}'"
        if _raw_member_offset(t1, m1) != _raw_member_offset(t2, m2):
            return f"field #{i} '{m1.name}' of '{t1.name}' has different offsets"
        why = btf_mismatch(btf1, m1.type, btf2, m2.type, True)
        if why:
            return why
    return None


# -- BTF-defined maps ----------------------------------------------------------------------------

def map_defs_mismatch(name: str, btf1: Btf, id1: int, btf2: Btf, id2: int) -> Optional[str]:
    """An extern map must repeat the definition exactly (field by field, key and value types
    included); two definitions of one map likewise."""
    try:
        def2 = _map_def_of_var(btf2, id2, name)
        def1 = _map_def_of_var(btf1, id1, name)
    except _MapDefError as e:
        return f"invalid map definition: {e}"
    return _compare_map_defs(name, btf1, def1, btf2, def2)


def _compare_map_defs(name: str, btf1: Btf, d1: MapDef, btf2: Btf, d2: MapDef) -> Optional[str]:
    def differs(what: str, v1: int, v2: int) -> str:
        return f"map '{name}' {what} differs: {v1} there, {v2} here"

    for field in ("type", "key_size"):
        if d1[field] != d2[field]:
            return differs(field, d1[field], d2[field])
    for part in ("key", "value"):
        if part == "value" and d1["value_size"] != d2["value_size"]:
            return differs("value_size", d1["value_size"], d2["value_size"])
        t1, t2 = d1[part + "_type"], d2[part + "_type"]
        if bool(t1) != bool(t2):
            return f"map '{name}' {part} type is given on one side only"
        if t1:
            why = btf_mismatch(btf1, t1, btf2, t2, exact=True)
            if why:
                return f"map '{name}' {part} type differs: {why}"
    for field in ("max_entries", "map_flags", "numa_node", "pinning"):
        if d1[field] != d2[field]:
            return differs(field, d1[field], d2[field])
    inner1, inner2 = d1["inner"], d2["inner"]
    if (inner1 is None) != (inner2 is None):
        return f"map '{name}' has an inner map on one side only"
    if inner1 is not None and inner2 is not None:
        return _compare_map_defs(name + ".inner", btf1, inner1, btf2, inner2)
    return None


# libbpf's parse_btf_map_def, strictly, for the comparison above. A definition is a dict of the
# attributes below, "inner" holding the inner map's definition or None.
MapDef = Dict[str, Any]
_MAP_TYPE_PROG_ARRAY = 3
_MAP_TYPES_MAP_IN_MAP = (12, 13)  # ARRAY_OF_MAPS, HASH_OF_MAPS
_INT_FIELDS = ("type", "max_entries", "map_flags", "numa_node", "map_extra")


class _MapDefError(Exception):
    pass


def _map_def_of_var(btf: Btf, var_id: int, name: str) -> MapDef:
    var = btf.get(var_id)
    if var is None or var.kind != B.VAR:
        raise _MapDefError(f"map '{name}': BTF type [{var_id}] is not a variable")
    return _parse_map_def(btf, btf.skip_modifiers(var.type), name, True)


def _map_field_int(btf: Btf, m: Member, map_name: str) -> int:
    """__uint(name, N) is ``int (*name)[N]``: the value is the array length."""
    ptr = btf.get(btf.skip_modifiers(m.type))
    if ptr is None or ptr.kind != B.PTR:
        raise _MapDefError(f"map '{map_name}': attribute '{m.name}' is not a pointer")
    arr = btf.get(ptr.type)
    if arr is None or arr.kind != B.ARRAY:
        raise _MapDefError(f"map '{map_name}': attribute '{m.name}' does not point to an array")
    return arr.nelems


def _map_sized_type(btf: Btf, m: Member, map_name: str) -> Tuple[int, int]:
    ptr = btf.get(m.type)
    if ptr is None or ptr.kind != B.PTR:
        raise _MapDefError(f"map '{map_name}': '{m.name}' is not a pointer")
    try:
        return btf.resolve_size(ptr.type), ptr.type
    except BpfBuildError as e:
        raise _MapDefError(f"map '{map_name}': cannot size '{m.name}': {e.reason}") from None


def _parse_map_def(btf: Btf, def_id: int, map_name: str, inner_allowed: bool) -> MapDef:
    """A BTF-defined map (a struct of __uint/__type/__array fields), strictly, as libbpf's
    parse_btf_map_def does."""
    t = btf.get(def_id)
    if t is None or t.kind != B.STRUCT:
        raise _MapDefError(f"map '{map_name}': definition is not a struct")
    d: MapDef = {"type": 0, "key_size": 0, "key_type": 0, "value_size": 0, "value_type": 0,
                 "max_entries": 0, "map_flags": 0, "numa_node": 0, "pinning": 0, "map_extra": 0,
                 "inner": None}

    def set_size(field: str, size: int) -> None:
        if d[field] and d[field] != size:
            raise _MapDefError(f"map '{map_name}': conflicting {field} {d[field]} != {size}")
        d[field] = size

    for i, m in enumerate(t.members):
        name = m.name
        if name in _INT_FIELDS:
            d[name] = _map_field_int(btf, m, map_name)
        elif name in ("key_size", "value_size"):
            set_size(name, _map_field_int(btf, m, map_name))
        elif name in ("key", "value"):
            size, type_id = _map_sized_type(btf, m, map_name)
            set_size(name + "_size", size)
            d[name + "_type"] = type_id
        elif name == "values":
            if not inner_allowed:
                raise _MapDefError(f"map '{map_name}': multi-level inner maps are not supported")
            if i != len(t.members) - 1:
                raise _MapDefError(f"map '{map_name}': 'values' must be the last field")
            is_prog_array = d["type"] == _MAP_TYPE_PROG_ARRAY
            if d["type"] not in _MAP_TYPES_MAP_IN_MAP and not is_prog_array:
                raise _MapDefError(f"map '{map_name}': 'values' needs a map-in-map or prog-array")
            set_size("value_size", 4)
            arr = btf.get(m.type)
            if arr is None or arr.kind != B.ARRAY or arr.nelems:
                raise _MapDefError(f"map '{map_name}': 'values' is not a zero-sized array")
            ptr = btf.get(btf.skip_modifiers(arr.type))
            if ptr is None or ptr.kind != B.PTR:
                raise _MapDefError(f"map '{map_name}': 'values' elements are not pointers")
            target = btf.skip_modifiers(ptr.type)
            target_t = btf.get(target)
            if is_prog_array:
                if target_t is None or target_t.kind != B.FUNC_PROTO:
                    raise _MapDefError(f"map '{map_name}': prog-array values are not functions")
                continue
            d["inner"] = _parse_map_def(btf, target, map_name + ".inner", False)
        elif name == "pinning":
            if not inner_allowed:
                raise _MapDefError(f"map '{map_name}': an inner map cannot be pinned")
            d["pinning"] = _map_field_int(btf, m, map_name)
            if d["pinning"] not in (0, 1):
                raise _MapDefError(f"map '{map_name}': invalid pinning value {d['pinning']}")
        else:
            raise _MapDefError(f"map '{map_name}': unknown field '{name}'")
    if d["type"] == 0:
        raise _MapDefError(f"map '{map_name}': map type is not specified")
    return d
