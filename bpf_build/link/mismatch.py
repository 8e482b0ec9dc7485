"""Whether two inputs' descriptions of one global agree, by libbpf's linker rules, and if not what
differs: ``btf_mismatch`` for variables and functions, ``map_defs_mismatch`` for BTF-defined maps
(an extern map must repeat the definition exactly; model/mapdef.py reads the definitions). Each
returns None when the two are compatible, else a reason for the LinkError; side 1 is the earlier
input's, side 2 the new one's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from ..model import btf as B
from ..model.btf import Btf, BtfType, Member

if TYPE_CHECKING:
    from ..model.mapdef import MapDef

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
    # Imported here: only links that merge a map need it, and it loads dataclasses (~6 ms).
    from ..model.mapdef import MapDefError, map_def_of_var

    try:
        def2 = map_def_of_var(btf2, id2, name)
        def1 = map_def_of_var(btf1, id1, name)
    except MapDefError as e:
        return f"invalid map definition: {e}"
    return _compare_map_defs(name, btf1, def1, btf2, def2)


def _compare_map_defs(name: str, btf1: Btf, d1: MapDef, btf2: Btf, d2: MapDef) -> Optional[str]:
    """The first difference in libbpf's order (map_defs_match); map_extra is not compared."""
    def differs(what: str, v1: int, v2: int) -> str:
        return f"map '{name}' {what} differs: {v1} there, {v2} here"

    if d1.type != d2.type:
        return differs("type", d1.type, d2.type)
    if d1.key_size != d2.key_size:
        return differs("key_size", d1.key_size, d2.key_size)
    why = _typed_part_mismatch(name, "key", btf1, d1.key_type_id, btf2, d2.key_type_id)
    if why:
        return why
    if d1.value_size != d2.value_size:
        return differs("value_size", d1.value_size, d2.value_size)
    why = _typed_part_mismatch(name, "value", btf1, d1.value_type_id, btf2, d2.value_type_id)
    if why:
        return why
    for field, v1, v2 in (("max_entries", d1.max_entries, d2.max_entries),
                          ("map_flags", d1.map_flags, d2.map_flags),
                          ("numa_node", d1.numa_node, d2.numa_node),
                          ("pinning", d1.pinning, d2.pinning)):
        if v1 != v2:
            return differs(field, v1, v2)
    if (d1.inner is None) != (d2.inner is None):
        return f"map '{name}' has an inner map on one side only"
    if d1.inner is not None and d2.inner is not None:
        return _compare_map_defs(name + ".inner", btf1, d1.inner, btf2, d2.inner)
    return None


def _typed_part_mismatch(name: str, part: str, btf1: Btf, t1: int, btf2: Btf, t2: int) -> Optional[str]:
    """Key or value types (each side's own BTF ids, 0 where only a size is given) must match."""
    if bool(t1) != bool(t2):
        return f"map '{name}' {part} type is given on one side only"
    if t1:
        why = btf_mismatch(btf1, t1, btf2, t2, exact=True)
        if why:
            return f"map '{name}' {part} type differs: {why}"
    return None
