"""Where a library's exported functions and variables are in its DWARF, and its struct, union and
enum definitions: the top level of each unit walked once (dwarftypes.py then reads their types).

Functions are found by the address of their DIE (``DW_AT_low_pc``, or one of the addresses of
``DW_AT_ranges`` when gcc split them into hot and cold parts), else by name: gcc's identical code
folding leaves some (``bpf_btf_get_info_by_fd``) as DIEs without any address. Variables are found by
the address their ``DW_AT_location`` expression names.
"""

from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple

from .dwarf import CompileUnit, Die
from .dwarf_forms import as_int as _int, as_text
from .dwarf_shapes import Shape
from .elfread import ExportedSymbol

# The children of a unit the walk reads; it steps over the others without decoding them.
TOP_LEVEL_TAGS = frozenset({"DW_TAG_structure_type", "DW_TAG_union_type", "DW_TAG_class_type",
                            "DW_TAG_enumeration_type", "DW_TAG_subprogram", "DW_TAG_variable"})
DW_OP_ADDR = 0x03
Place = Tuple[CompileUnit, int, Shape, int, int]  # a Die's arguments


class Exported(NamedTuple):
    functions: List[Tuple[ExportedSymbol, Die]]  # each symbol and the DIE with its name and prototype
    variables: List[Tuple[ExportedSymbol, Die]]
    untyped: List[str]  # keys of the exported functions DWARF says nothing about, sorted
    definition_places: List[Place]  # the complete struct/union/enum definitions, in file order


def origin_of(die):
    """The DIE that carries a subprogram's name and prototype (concrete instances point at it)."""
    present = die.shape.present
    if "DW_AT_abstract_origin" not in present and "DW_AT_specification" not in present:
        return die  # most are their own
    for _ in range(8):
        for attr in ("DW_AT_abstract_origin", "DW_AT_specification"):
            if die.has(attr):
                die = die.ref(attr)
                break
        else:
            return die
    return die


def _variable_address(die, address_size: int) -> Optional[int]:
    location = die.get("DW_AT_location")
    if not isinstance(location, list) or len(location) != 1 + address_size or location[0] != DW_OP_ADDR:
        return None
    return int.from_bytes(bytes(location[1:]), "little" if die.cu.dwarf.info.endian == "<" else "big")


def find_exported(dwarf, functions_at: Dict[int, List[ExportedSymbol]],
                  variables_at: Dict[int, List[ExportedSymbol]]) -> Exported:
    """The DIEs of the exports (``functions_at``/``variables_at``: by address; what is found is
    taken out of them)."""
    definition_places: List[Place] = []
    found_functions: List[Tuple[ExportedSymbol, Die]] = []
    found_variables: List[Tuple[ExportedSymbol, Die]] = []
    # Subprograms without an address, for what the addresses miss (a Die's arguments: most are
    # declarations of what a unit calls, and a Die is made only of one whose name is missing).
    addressless: List[Tuple[CompileUnit, int, Shape, int, int]] = []
    for cu in dwarf.units():
        # In C, exported functions, variables and type definitions are children of the CU; not
        # descending further skips function bodies via DW_AT_sibling (much faster).
        # A Die is made only of what is kept: most subprograms are not exported.
        top = cu.top()
        for pos, shape, start, end in (cu.places(top.end, TOP_LEVEL_TAGS) if top is not None and top.has_children
                                       else ()):
            tag = shape.tag
            present = shape.present
            if tag == "DW_TAG_subprogram":
                address = _int(cu.attribute(shape, start, end, "DW_AT_low_pc")) if "DW_AT_low_pc" in present \
                    else None
                if address is None and "DW_AT_ranges" in present:
                    # gcc splits hot and cold parts; the symbol is at one of them, not always the lowest
                    address = next((a for a in cu.range_starts(Die(cu, pos, shape, start, end)) if a in functions_at),
                                   None)
                if address is not None and address in functions_at:
                    origin = origin_of(Die(cu, pos, shape, start, end))
                    for sym in functions_at.pop(address):
                        found_functions.append((sym, origin))
                elif address is None:
                    addressless.append((cu, pos, shape, start, end))
            elif tag == "DW_TAG_variable":
                if variables_at:
                    variable = Die(cu, pos, shape, start, end)
                    address = _variable_address(variable, cu.address_size)
                    if address is not None and address in variables_at:
                        for sym in variables_at.pop(address):
                            found_variables.append((sym, origin_of(variable)))
            elif "DW_AT_declaration" not in present:
                definition_places.append((cu, pos, shape, start, end))
    by_name: Dict[str, Die] = {}  # the first prototyped subprogram of each name still missing
    missing = {sym.name for syms in functions_at.values() for sym in syms}
    # Names compared as DWARF holds them (bytes, no decoding) when every missing one is valid text:
    # then bytes that decode to one of them are its encoding, and no other bytes do.
    missing_raw = None if any("\ufffd" in name for name in missing) else {name.encode() for name in missing}
    for place in (addressless if functions_at else ()):
        if missing_raw is not None:
            cu, _, shape, start, end = place
            raw = cu.attribute(shape, start, end, "DW_AT_name") if "DW_AT_name" in shape.present else None
            if type(raw) is not bytes or raw not in missing_raw:
                continue
        candidate = Die(*place)
        name = as_text(candidate.get("DW_AT_name"))
        if name is not None and name in missing and name not in by_name and \
                origin_of(candidate).has("DW_AT_prototyped"):
            by_name[name] = candidate
    untyped: List[str] = []
    for syms in functions_at.values():
        for sym in syms:
            named = by_name.get(sym.name)
            if named is not None:
                found_functions.append((sym, origin_of(named)))
            else:
                untyped.append(sym.key)
    return Exported(found_functions, found_variables, sorted(untyped), definition_places)
