"""A record's members, a function's parameters and an enum's enumerators: the DIEs that follow it.

Each is read by the walker made for its abbreviation (dwarf_decoders.py) once that abbreviation has
been walked WALKER_AFTER times: one call decodes a whole run of siblings that use it (a struct's
members mostly share one or two), so the loop here only picks the walker for the next run. Before
that, for the rare member or parameter with children, and for enumerators (an enum is read once), a
DIE is decoded as any other.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable, List, Optional

from .dwarf_decoders import MEMBER_FIELDS, Walker
from .dwarf_forms import DwarfError

if TYPE_CHECKING:
    from .dwarf import CompileUnit, Die
    from .dwarf_shapes import Shape

MEMBER = "DW_TAG_member"
PARAMETER = "DW_TAG_formal_parameter"
ENUMERATOR = "DW_TAG_enumerator"
VARIADIC = -1  # in parameter_types: ``...`` (never a DIE offset)
# Walks without a walker before one is made, with its describer: compiling the two costs ~0.1-0.2 ms,
# about what a hundred walks save, so a library read once (libbpf: 23 member and parameter shapes,
# most walked a few dozen times) does not pay for functions it hardly uses.
WALKER_AFTER = 128


_UNKNOWN: Any = object()  # a code without a walker in a unit's walkers (yet)


def _walker(shape: "Shape") -> Optional[Walker]:
    if shape.walker is not None or shape.has_children or shape.tag == ENUMERATOR:
        return shape.walker
    shape.walks += 1
    return shape.make_walker() if shape.walks > WALKER_AFTER else None


def _end(unit: "CompileUnit", shape: "Shape", start: int) -> int:
    fixed = shape.fixed_size
    return start + fixed if fixed is not None else unit.end_of(shape, start)


def _read_one(unit: "CompileUnit", shape: "Shape", start: int):
    """What a walker would append for one child (or an enumerator's attributes: no walker reads those)."""
    if shape.tag == MEMBER:
        attrs = unit.decode(shape, start)
        return tuple(map(attrs.get, MEMBER_FIELDS))
    if shape.tag == ENUMERATOR:
        return unit.decode(shape, start)
    target = unit.attribute(shape, start, _end(unit, shape, start), "DW_AT_type") \
        if "DW_AT_type" in shape.present else None
    return target if isinstance(target, int) else None


def _children(tag: str, unit: "CompileUnit", die: "Die") -> list:
    """What is read of each child of ``die`` with ``tag``, in order. Parameters are a subprogram's
    leading children (gcc and clang emit its body's DIEs after them), so their walk ends at the first
    other child but ``...``; the others' steps over children with other tags."""
    out: list = []
    if not die.shape.has_children:
        return out
    data, end = unit.dwarf.info.data, unit.end
    walkers = unit.walkers.get(tag)
    if walkers is None:
        walkers = unit.walkers[tag] = {0: None}  # None: the code of a DIE that ends the walk
    pos = die.end
    while pos < end:
        walker = walkers.get(data[pos], _UNKNOWN)  # the walker of the next run, when it has one already
        if walker is not _UNKNOWN:
            if walker is None:
                return out
            pos = walker(unit, data, pos + 1, data[pos], end, out)
            continue
        code, start, shape = unit.abbreviation_at(pos)
        if shape is None:
            return out
        if shape.tag == tag:
            walker = shape.walker or _walker(shape)
            if walker is not None:  # this child and the siblings after it with the same code
                if start == pos + 1:
                    walkers[code] = walker
                pos = walker(unit, data, start, code if start == pos + 1 else -1, end, out)
                continue
            out.append(_read_one(unit, shape, start))
        elif tag == PARAMETER:
            if shape.tag != "DW_TAG_unspecified_parameters":
                if start == pos + 1:
                    walkers[code] = None
                return out
            out.append(VARIADIC)
        fixed = shape.fixed_size
        die_end = start + fixed if fixed is not None else unit.end_of(shape, start)
        pos = unit.after_subtree(shape, pos, start, die_end) if shape.has_children else die_end
    if pos > end:
        raise DwarfError(f"a DIE runs past the end of the unit at {unit.offset}")
    return out


def describe_members(unit: "CompileUnit", die: "Die", fields: List[list], spelled: dict, anonymous: dict) -> bool:
    """Append the fields of a struct's or union's members to ``fields`` by their describers
    (dwarf_decoders.make_member_describer), when every child is a member one describes; False as
    soon as one is not (what was appended is then to be dropped: the record is described the general
    way, from member_fields)."""
    if not die.shape.has_children:
        return True
    data, end = unit.dwarf.info.data, unit.end
    describers = unit.describers
    pos = die.end
    while pos < end:
        code = data[pos]
        describe = describers.get(code)
        if describe is None:
            if code == 0:
                return True
            _, _, shape = unit.abbreviation_at(pos)
            describe = shape.describer if shape is not None and shape.tag == MEMBER and code < 0x80 else None
            if describe is None:
                return False  # not yet made, not a member, or not one a describer can do
            describers[code] = describe
        pos = describe(unit, data, pos + 1, code, end, fields, spelled, anonymous)
        if pos < 0:
            return False
    return False  # the unit ends before the list does: the general way reports it


# MEMBER_FIELDS of each DW_TAG_member child of a struct or union, in order (None for an attribute a
# member lacks): member_fields(unit, die). DW_AT_type of each parameter of a subprogram or subroutine
# type, in order (None: none; VARIADIC for ``...``): parameter_types(unit, die). Every attribute of
# each DW_TAG_enumerator child: enumerators(unit, die). (Partial applications: no call of their own.)
member_fields: Callable[["CompileUnit", "Die"], List[tuple]] = partial(_children, MEMBER)
parameter_types: Callable[["CompileUnit", "Die"], List[Optional[int]]] = partial(_children, PARAMETER)
enumerators: Callable[["CompileUnit", "Die"], List[dict]] = partial(_children, ENUMERATOR)
