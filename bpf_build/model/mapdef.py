"""BTF-defined maps: the one parser of a ``SEC(".maps")`` definition struct.

A BTF-defined map is a global variable in ``.maps`` whose type is a struct of attributes, each
encoded in the member's type the way ``bpf_helpers.h`` writes them:

- ``__uint(name, N)`` is ``int (*name)[N]``: the value is the array's length;
- ``__ulong(name, N)`` is an anonymous enum with the one value N (only ``map_extra`` takes it);
- ``__type(name, T)`` is ``T *name``: ``key``/``value`` give a size and a BTF type id;
- ``__array(values, T)`` is a zero-length array of pointers: ``values`` must come last, and
  points to functions (PROG_ARRAY) or to the inner map's own definition (map-in-map).

This module reads such a struct strictly, in member order, as libbpf's ``parse_btf_map_def``
does (an unknown attribute is an error). The open phase's ``OpenedMap`` (``loader/open``) is a
``MapDef`` as the kernel gets it, plus where the map comes from; the static linker compares the
definitions two objects give of one map.

API::

    parse_map_def(btf, def_type_id, map_name, *, inner_allowed=True) -> MapDef
        def_type_id: the definition struct (modifiers and typedefs are skipped here);
        inner_allowed=False parses an inner map (no ``values``, no ``pinning``).
    map_def_of_var(btf, var_id, map_name) -> MapDef
        the same for the ``.maps`` VAR ``var_id`` (its type, modifiers skipped).
    MapDefError
        raised for any definition libbpf would refuse: a BpfBuildError without a path whose
        ``reason`` (and ``str(e)``) reads ``map '<map_name>': <what is wrong>``, with
        ``e.map_name`` the map at fault (``outer.inner`` for an inner map). Callers add the file:
        ``OpenError(path, e.reason)``, ``LinkError(path, f"...: {e}")``.
        A type id that the BTF does not have raises KeyError (from ``Btf.type``), as elsewhere.

``MapDef`` is a dataclass; an attribute the struct leaves out is 0 (``inner`` None,
``values_offset`` None). Its fields, in the order libbpf's linker compares two definitions
(``map_defs_match``: the first one that differs is the one to name): ``type``, ``key_size``,
``key_type_id``, ``value_size``, ``value_type_id``, ``max_entries``, ``map_flags``, ``numa_node``,
``pinning``, then ``inner``; the linker does not compare ``map_extra``, ``name`` or
``values_offset``. ``dataclasses.fields(MapDef)`` lists them in that order, so a comparison can
walk them and name the field with ``f.name``; key and value *types* (``*_type_id``, 0 when only
a size is given) are ids into each side's own BTF and need a BTF comparison, not ``==``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ..errors import BpfBuildError
from ..runtime.map_kinds import MAP_IN_MAP_TYPES
from ..runtime.uapi import MapType
from . import btf as B

PIN_NONE, PIN_BY_NAME = 0, 1

# A slot of ``values`` holds a map or program fd: 4 bytes, whatever the definition says.
VALUES_SLOT_VALUE_SIZE = 4


class MapDefError(BpfBuildError):
    """A BTF map definition libbpf would refuse; ``reason`` starts with ``map '<name>':``."""

    def __init__(self, map_name: str, problem: str):
        self.map_name = map_name
        super().__init__(None, f"map '{map_name}': {problem}")


@dataclass
class MapDef:
    """What a BTF map definition says (0 for an attribute it leaves out)."""

    name: str
    """The map's name as errors name it: the variable, or ``<outer>.inner`` for an inner map."""
    type: int = 0
    """``__uint(type, ...)``: the kernel's map type number (never 0 once parsed)."""
    key_size: int = 0
    """``__uint(key_size, N)`` or the size of ``__type(key, T)``."""
    key_type_id: int = 0
    """``__type(key, T)``: T's id in the definition's BTF; 0 when only a size is given."""
    value_size: int = 0
    """``__uint(value_size, N)``, the size of ``__type(value, T)``, or 4 with ``values``."""
    value_type_id: int = 0
    """``__type(value, T)``: T's id in the definition's BTF; 0 when only a size is given."""
    max_entries: int = 0
    """``__uint(max_entries, N)``, as written (an OpenedMap's ring buffer sizes are rounded up)."""
    map_flags: int = 0
    """``__uint(map_flags, ...)``."""
    numa_node: int = 0
    """``__uint(numa_node, N)``."""
    pinning: int = PIN_NONE
    """``__uint(pinning, LIBBPF_PIN_BY_NAME)``: PIN_NONE or PIN_BY_NAME."""
    inner: Optional[MapDef] = None
    """The inner map's definition, for a map-in-map whose ``values`` points to one."""
    map_extra: int = 0
    """``__uint(map_extra, N)`` or ``__ulong(map_extra, N)`` (e.g. bloom filter hash count)."""
    values_offset: Optional[int] = None
    """Byte offset of the ``values`` member in the definition struct, None without ``values``:
    where the ``.maps`` relocations that fill initial slots point."""


def map_def_of_var(btf: B.Btf, var_id: int, map_name: str) -> MapDef:
    """The definition of the ``.maps`` variable ``var_id``."""
    var = btf.get(var_id)
    if var is None or var.kind != B.VAR:
        raise MapDefError(map_name, f"BTF type [{var_id}] is not a variable")
    return parse_map_def(btf, var.type, map_name)


def parse_map_def(btf: B.Btf, def_type_id: int, map_name: str, *, inner_allowed: bool = True) -> MapDef:
    """Read the definition struct ``def_type_id`` of map ``map_name``; see the module docstring."""
    struct = btf.get(btf.skip_modifiers(def_type_id))
    if struct is None or struct.kind != B.STRUCT:
        raise MapDefError(map_name, "definition is not a struct")
    d = MapDef(map_name)
    last = len(struct.members) - 1
    for i, member in enumerate(struct.members):
        field = member.name
        if field == "type":
            d.type = _uint_attr(btf, member, map_name)
        elif field == "max_entries":
            d.max_entries = _uint_attr(btf, member, map_name)
        elif field == "map_flags":
            d.map_flags = _uint_attr(btf, member, map_name)
        elif field == "numa_node":
            d.numa_node = _uint_attr(btf, member, map_name)
        elif field == "map_extra":
            d.map_extra = _ulong_attr(btf, member, map_name)
        elif field == "key_size":
            d.key_size = _agreed_size(d.key_size, _uint_attr(btf, member, map_name), "key", map_name)
        elif field == "value_size":
            d.value_size = _agreed_size(d.value_size, _uint_attr(btf, member, map_name), "value", map_name)
        elif field == "key":
            size, d.key_type_id = _typed_attr(btf, member, map_name)
            d.key_size = _agreed_size(d.key_size, size, "key", map_name)
        elif field == "value":
            size, d.value_type_id = _typed_attr(btf, member, map_name)
            d.value_size = _agreed_size(d.value_size, size, "value", map_name)
        elif field == "pinning":
            if not inner_allowed:
                raise MapDefError(map_name, "an inner map definition cannot be pinned")
            d.pinning = _uint_attr(btf, member, map_name)
            if d.pinning not in (PIN_NONE, PIN_BY_NAME):
                raise MapDefError(map_name, f"invalid pinning value {d.pinning}")
        elif field == "values":
            if not inner_allowed:
                raise MapDefError(map_name, "multi-level inner maps are not supported")
            if i != last:
                raise MapDefError(map_name, "'values' must be the last member")
            _parse_values(btf, member, d)
        else:
            raise MapDefError(map_name, f"unknown field '{field}'")
    if d.type == 0:
        raise MapDefError(map_name, "map type isn't specified")
    return d


def _parse_values(btf: B.Btf, member: B.Member, d: MapDef) -> None:
    """``__array(values, ...)``: slots of a PROG_ARRAY (functions) or of a map-in-map (maps of
    the inner definition it points to)."""
    is_prog_array = d.type == MapType.PROG_ARRAY
    if not is_prog_array and d.type not in MAP_IN_MAP_TYPES:
        raise MapDefError(d.name, "'values' needs a map-in-map or PROG_ARRAY type")
    d.value_size = _agreed_size(d.value_size, VALUES_SLOT_VALUE_SIZE, "value", d.name)
    d.values_offset = member.offset // 8
    array = btf.get(member.type)
    if array is None or array.kind != B.ARRAY or array.nelems:
        raise MapDefError(d.name, "'values' must be a zero-sized array")
    pointer = btf.get(btf.skip_modifiers(array.type))
    if pointer is None or pointer.kind != B.PTR:
        raise MapDefError(d.name, "'values' elements must be pointers")
    target_id = btf.skip_modifiers(pointer.type)
    target = btf.get(target_id)
    if is_prog_array:
        if target is None or target.kind != B.FUNC_PROTO:
            raise MapDefError(d.name, "PROG_ARRAY 'values' must point to functions")
        return
    if target is None or target.kind != B.STRUCT:
        raise MapDefError(d.name, "map-in-map 'values' must point to a map definition struct")
    d.inner = parse_map_def(btf, target_id, f"{d.name}.inner", inner_allowed=False)


def _agreed_size(current: int, size: int, what: str, map_name: str) -> int:
    """A key or value size given twice (``*_size`` and ``__type``) must agree."""
    if current and current != size:
        raise MapDefError(map_name, f"conflicting {what} size {current} != {size}")
    return size


def _uint_attr(btf: B.Btf, member: B.Member, map_name: str) -> int:
    """``__uint(name, N)``, i.e. ``int (*name)[N]``: N."""
    pointer = btf.get(btf.skip_modifiers(member.type))
    array = btf.get(pointer.type) if pointer is not None and pointer.kind == B.PTR else None
    if array is None or array.kind != B.ARRAY:
        raise MapDefError(map_name, f"attribute '{member.name}' must be __uint(...) (a pointer to an array)")
    return array.nelems


def _ulong_attr(btf: B.Btf, member: B.Member, map_name: str) -> int:
    """``__uint(name, N)`` or ``__ulong(name, N)`` (an enum whose one value is N): N."""
    t = btf.get(btf.skip_modifiers(member.type))
    if t is not None and t.kind == B.PTR:
        return _uint_attr(btf, member, map_name)
    if t is None or t.kind not in (B.ENUM, B.ENUM64) or len(t.enums) != 1:
        raise MapDefError(map_name, f"attribute '{member.name}' must be __uint or __ulong")
    return t.enums[0].value & 0xFFFFFFFFFFFFFFFF


def _typed_attr(btf: B.Btf, member: B.Member, map_name: str) -> Tuple[int, int]:
    """``__type(name, T)``, i.e. ``T *name``: (size of T, id of T)."""
    pointer = btf.get(member.type)
    if pointer is None or pointer.kind != B.PTR:
        raise MapDefError(map_name, f"{member.name} must be declared as a pointer (__type)")
    try:
        return btf.resolve_size(pointer.type), pointer.type
    except BpfBuildError as e:
        raise MapDefError(map_name, f"cannot determine the {member.name} size of type "
                                    f"[{pointer.type}]: {e.reason}") from None
