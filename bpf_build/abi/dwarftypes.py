"""The type surface of a library's exports, from DWARF (read by ``dwarf``): what callers compiled
against its headers depend on.

For every exported function (matched by address, so versioned internal names like
``foo_v0_6_0`` exported as ``foo@@LIBBPF_0.6.0`` work) we record the return and parameter types;
for exported variables their type. From those we walk to every struct, union and enum reachable
through pointers, typedefs, arrays, members and function pointers.

Types are spelled canonically (typedefs resolved, base type names normalised) so a renamed
typedef or another compiler's spelling is not a change. A struct defined in a ``.c`` file is
opaque to callers (libbpf's getters/setters convention), so its layout is not recorded.

The exports' DIEs are found by dwarf_exports.py (by address, else by name); an exported function
still not found is listed as having no type information rather than silently dropped. Where each type was
declared (``DW_AT_decl_file``/``DW_AT_decl_line``) is kept aside for annotations; it is not part
of the comparable surface.
"""

from __future__ import annotations

import os
import struct
from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple, Union

from ..errors import AbiError
from ..collector import paused_gc
from .dwarf import CompileUnit, Die, DwarfError
from .dwarf_load import read_dwarf
from .dwarf_exports import find_exported
from .dwarf_forms import as_int as _int, as_text as _text
from .dwarf_children import VARIADIC, describe_members, enumerators, member_fields, parameter_types
from .dwarf_shapes import Shape
from .elfread import ExportedSymbol
from .inputs import map_input

RECORD_TAGS = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union", "DW_TAG_class_type": "struct"}
ENUM_TAG = "DW_TAG_enumeration_type"
POINTER_TAGS = frozenset({"DW_TAG_pointer_type", "DW_TAG_reference_type", "DW_TAG_rvalue_reference_type"})
QUALIFIERS = {"DW_TAG_const_type": "const", "DW_TAG_volatile_type": "volatile", "DW_TAG_atomic_type": "_Atomic"}
# What spell_at writes of a pointer ("*") or a qualifier on its target's spelling (restrict: nothing).
MODIFIERS = {**{tag: "*" for tag in POINTER_TAGS}, **QUALIFIERS, "DW_TAG_restrict_type": ""}
MODIFIERS_CHAINED = 1000  # more in one chain: they loop (what recursion would find as deep)
# The children each step reads; the reader steps over the others without decoding them.
SUBRANGE_TAGS = frozenset({"DW_TAG_subrange_type"})
DEFINITION_TAGS = frozenset({"DW_TAG_subprogram", "DW_TAG_variable"})
HEADER_SUFFIXES = (".h", ".hh", ".hpp")
# What a corrupt DWARF section makes the reader raise: reported as one AbiError naming the file.
_CORRUPT = (DwarfError, struct.error, IndexError, KeyError, TypeError, ValueError, OverflowError, RecursionError)
DW_OP_PLUS_UCONST = 0x23
Location = Tuple[str, int]  # (absolute file path when known, line)


class TypeSurface(NamedTuple):
    types: dict  # the comparable surface: functions, variables, records, enums
    untyped: List[str]  # exported functions DWARF says nothing about
    locations: Dict[str, Location]  # type or symbol key -> declaration


def normalise_base_name(name: str) -> str:
    """'long unsigned int' (gcc) and 'unsigned long' (clang) are the same type."""
    words = name.split()
    if "char" in words or not ({"int", "long", "short", "signed", "unsigned"} & set(words)):
        return " ".join(words)
    if "__int128" in words:
        return ("unsigned " if "unsigned" in words else "") + "__int128"
    sign = "unsigned " if "unsigned" in words else ""
    longs = words.count("long")
    size = "short" if "short" in words else "long long" if longs >= 2 else "long" if longs == 1 else "int"
    return sign + size


def _name(die) -> Optional[str]:
    value = die.get("DW_AT_name")  # _name_attr, inline: names are asked for most
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def _name_attr(die, name: str) -> Optional[str]:
    return _text(die.get(name))


def _int_attr(die, name: str) -> Optional[int]:
    return _int(die.get(name))


def _type_of(die):
    return die.ref("DW_AT_type")


class _Surface:
    def __init__(self) -> None:
        # Where the complete struct/union/enum definitions are, in file order (a Die is made only of
        # those a declaration turns out to need).
        self.definition_places: List[Tuple[CompileUnit, int, Shape, int, int]] = []  # a Die's arguments
        self._definitions: Optional[Dict[Tuple[str, str], Tuple[CompileUnit, int, Shape, int, int]]] = None
        self.records: Dict[str, dict] = {}
        self.enums: Dict[str, Dict[str, int]] = {}
        self.pending: List[Tuple[str, Die]] = []
        self.seen: set = set()
        self.locations: Dict[str, Location] = {}
        # Spellings by DIE offset, and by (offset, typedef name) for an anonymous type a typedef names.
        self.spelled: Dict[Union[int, Tuple[int, str]], str] = {}
        self.anonymous: Dict[int, bool] = {}
        self.files: Dict[Tuple[CompileUnit, int], Optional[str]] = {}  # file_at's memo
        self.subroutines: set = set()  # offsets of the function types spelled (a pointer to one reads as one)

    def definition(self, tag: str, name: str):
        """The first complete definition of a named type, for a declaration reached elsewhere (the
        index is built when the first declaration needs it: a library may not have any)."""
        if self._definitions is None:
            self._definitions = {}
            for place in self.definition_places:
                cu, _, shape, start, end = place
                found = _text(cu.attribute(shape, start, end, "DW_AT_name")) if "DW_AT_name" in shape.present \
                    else None
                if found is not None:
                    self._definitions.setdefault((shape.tag, found), place)
        found_at = self._definitions.get((tag, name))
        return Die(*found_at) if found_at is not None else None

    # -- where a type was declared ----------------------------------------------------------
    def decl_file(self, die) -> Optional[str]:
        return self.file_at(die.cu, _int_attr(die, "DW_AT_decl_file"))

    def file_at(self, cu, index: Optional[int]) -> Optional[str]:
        """The file a unit's DW_AT_decl_file value names (remembered: a unit's types and functions
        name the same few files)."""
        if index is None:
            return None
        key = (cu, index)
        if key in self.files:
            return self.files[key]
        files = cu.file_table()  # DWARF 5 counts from 0, older versions from 1
        path = self.files[key] = files[index] if 0 <= index < len(files) else None
        return path

    @staticmethod
    def is_private(path: Optional[str]) -> bool:
        """Declared in a .c file: callers only ever see a forward declaration."""
        return path is not None and not path.endswith(HEADER_SUFFIXES)

    @staticmethod
    def is_kernel_uapi(path: Optional[str]) -> bool:
        path = path or ""
        return "/uapi/" in path or "/include/linux/" in path or path.startswith("linux/")

    # -- spelling -----------------------------------------------------------------------------
    def spell(self, die, typedef_name: Optional[str] = None) -> str:
        """A type's canonical spelling; memoised per DIE, as every exported function repeats the
        same few (2000 spellings of "const char *" in a 2000-function library)."""
        if die is None:
            return "void"
        key = die.offset if typedef_name is None else (die.offset, typedef_name)
        spelled = self.spelled.get(key)
        if spelled is None:
            spelled = self.spelled[key] = self.spell_uncached(die, typedef_name)
        return spelled

    def spell_type_of(self, die) -> str:
        """spell(_type_of(die)), found by the referenced offset: most types are spelled already, and
        then the DIE need not be parsed."""
        return self.spell_at(die.cu.dwarf, die.get("DW_AT_type"))

    def spell_at(self, dwarf, target) -> str:
        """The spelling of the type at offset ``target`` (a DW_AT_type value; "void" when not one)."""
        if not isinstance(target, int):
            return "void"
        spelled = self.spelled.get(target)
        if spelled is not None:
            return spelled
        # A chain of pointers and qualifiers (const struct foo *) is followed down to a type spelled
        # already or spelled by spell_uncached, without a Die for its links, then spelled back up.
        chain: List[Tuple[int, str]] = []  # (offset, modifier), outermost first
        data = dwarf.info.data
        while True:
            unit = dwarf.last_unit  # unit_at and abbreviation_at, inline for the usual case
            if unit is None or not unit.offset <= target < unit.end:
                unit = dwarf.unit_at(target)
            code = data[target]
            if 0 < code < 0x80:
                start, shape = target + 1, unit.shapes.get(code) or unit.shape(code)
            else:
                _, start, shape = unit.abbreviation_at(target)
            if shape is None:
                spelled = "void"
                break
            modifier = MODIFIERS.get(shape.tag)
            type_at = shape.type_at
            if modifier is None or type_at is None:
                die = dwarf.cache.get(target)  # die_at, with the DIE's shape found already
                if die is None:
                    die = dwarf.cache[target] = unit.die(target, shape, start)
                spelled = self.spelled[target] = self.spell_uncached(die, None)
                break
            chain.append((target, modifier))
            if len(chain) > MODIFIERS_CHAINED:
                raise DwarfError(f"the pointers and qualifiers at offset {target} refer to each other")
            target = type_at[1](data, start + type_at[0])[0] + unit.offset
            spelled = self.spelled.get(target)
            if spelled is not None:
                break
        for offset, modifier in reversed(chain):
            if modifier == "*" and target in self.subroutines:
                spelled = self.signature_text(dwarf.die_at(target), "(*)")
            else:
                spelled = _modify(modifier, spelled)
            self.spelled[offset] = spelled
            target = offset
        return spelled

    def modified(self, modifier: str, dwarf, target) -> Optional[str]:
        """The spelling of a pointer or qualifier (MODIFIERS) of the type at offset ``target``; None
        for a pointer to a function (spelled as its signature with a "(*)" declarator)."""
        inner = self.spell_at(dwarf, target)
        if modifier == "*" and isinstance(target, int) and target in self.subroutines:
            return None
        return _modify(modifier, inner)

    def is_anonymous_record(self, dwarf, target) -> bool:
        """Whether the DIE at ``target`` (a DW_AT_type value) is a struct or union without a name."""
        if not isinstance(target, int):
            return False
        anonymous = self.anonymous.get(target)
        if anonymous is None:
            die = dwarf.die_at(target)
            anonymous = self.anonymous[target] = die is not None and die.tag in RECORD_TAGS and _name(die) is None
        return anonymous

    def spell_uncached(self, die, typedef_name: Optional[str]) -> str:
        tag = die.shape.tag
        if tag == "DW_TAG_base_type":
            return normalise_base_name(_name(die) or "?")
        if tag == "DW_TAG_unspecified_type":
            return _name(die) or "void"
        if tag in RECORD_TAGS or tag == ENUM_TAG:
            return self.reach(die, typedef_name)
        if tag == "DW_TAG_typedef":
            return self.spell(_type_of(die), _name(die))
        modifier = MODIFIERS.get(tag)
        if modifier is not None:
            target = die.get("DW_AT_type")
            spelled = self.modified(modifier, die.cu.dwarf, target)
            return spelled if spelled is not None else self.signature_text(die.cu.dwarf.die_at(target), "(*)")
        if tag == "DW_TAG_array_type":
            dims = ""
            for sub in die.children(SUBRANGE_TAGS):
                count = _int_attr(sub, "DW_AT_count")
                upper = _int_attr(sub, "DW_AT_upper_bound")
                if count is None and upper is not None:
                    count = upper + 1
                dims += f"[{count}]" if count is not None else "[]"
            return f"{self.spell_type_of(die)} {dims or '[]'}"
        if tag == "DW_TAG_subroutine_type":
            self.subroutines.add(die.offset)
            return self.signature_text(die, "")
        return f"<{tag[7:].lower()}>"

    def signature(self, die) -> Tuple[str, List[str]]:
        cu = die.cu
        spelled: dict = self.spelled
        params = []
        for target in parameter_types(cu, die):
            spelling = spelled.get(target)  # spell_at's memo, without the call: most are spelled already
            if spelling is None:
                spelling = "..." if target == VARIADIC else self.spell_at(cu.dwarf, target)
            params.append(spelling)
        return self.spell_at(cu.dwarf, die.get("DW_AT_type")), params  # spell_type_of, inline

    def signature_text(self, die, declarator: str) -> str:
        returns, params = self.signature(die)
        return f"{returns} {declarator}({', '.join(params) or 'void'})"

    # -- records and enums --------------------------------------------------------------------
    def reach(self, die, typedef_name: Optional[str]) -> str:
        tag = die.shape.tag
        kind = "enum" if tag == ENUM_TAG else RECORD_TAGS[tag]
        # Every attribute, decoded at once: a definition reached is described (drain reads its size,
        # file and line), so its attributes are decoded anyway.
        name = _text(die.attrs.get("DW_AT_name"))
        if name is None:
            if typedef_name is None:
                return f"{kind} <anonymous>"
            key = f"{kind} <{typedef_name}>"
        else:
            key = f"{kind} {name}"
        declared = "DW_AT_declaration" in die.shape.present
        if name is not None and declared:
            die = self.definition(tag, name) or die
            declared = "DW_AT_declaration" in die.shape.present
        if not declared and key not in self.seen:
            self.seen.add(key)
            self.pending.append((key, die))
        return key

    def drain(self) -> None:
        """Describe reachable types breadth-first; describing one may reach more."""
        done = 0
        while done < len(self.pending):  # a queue: appended to while it is worked through
            key, die = self.pending[done]
            done += 1
            attrs = die.attrs  # a type's name, size, file and line are all read: decode them at once
            path = self.file_at(die.cu, _int(attrs.get("DW_AT_decl_file")))
            if die.shape.tag == ENUM_TAG:
                self.enums[key] = {(_text(e.get("DW_AT_name")) or "?"): int(e["DW_AT_const_value"])
                                   for e in enumerators(die.cu, die) if "DW_AT_const_value" in e}
            elif path is None or path.endswith(HEADER_SUFFIXES):  # not is_private(path), inline
                self.records[key] = self.describe_record(die, attrs, path)
            else:
                continue
            line = _int(attrs.get("DW_AT_decl_line"))
            if path and line:
                self.locations[key] = (path, line)
        self.pending.clear()

    def describe_record(self, die, attrs: dict, path: Optional[str]) -> dict:
        fields: List[list] = []
        is_struct = die.shape.tag != "DW_TAG_union_type"
        if describe_members(die.cu, die, fields, self.spelled, self.anonymous):
            # every member described as add_members would (named, spelled, whole bytes): the first
            # field is the first member's
            opts = is_struct and bool(fields) and fields[0][0] == "sz" and fields[0][2] == "unsigned long"
        else:
            fields.clear()
            members = member_fields(die.cu, die)
            self.add_members(die.cu.dwarf, members, 0, fields)
            first = members[0] if members else None
            opts = is_struct and first is not None and first[0] == b"sz" and \
                self.spell_at(die.cu.dwarf, first[1]) == "unsigned long"
        entry = {"size": _int(attrs.get("DW_AT_byte_size")) or 0, "fields": fields}
        if opts:
            entry["extensible"] = "opts"  # libbpf opts: callers pass sizeof, the struct grows at its end
        elif self.is_kernel_uapi(path):
            entry["extensible"] = "uapi"  # kernel UAPI structs grow at their end, sized by the caller
        return entry

    def add_members(self, dwarf, members: List[tuple], base_bits: int, fields: List[list], prefix: str = "") -> None:
        """The fields of a record from its members' attributes (dwarf_children.member_fields)."""
        anonymous, spelled = self.anonymous, self.spelled  # the memos, looked up here without a call
        for raw_name, target, location, bit_size, data_bit_offset, bit_offset, byte_size in members:
            if type(location) is int and data_bit_offset is None and bit_offset is None:
                bits = base_bits + location * 8  # the common case of member_bit_offset
            else:
                bits = base_bits + self.member_bit_offset(location, bit_size, data_bit_offset, bit_offset, byte_size)
            name = raw_name.decode("utf-8", "replace") if type(raw_name) is bytes else None  # _text, inline
            if bit_size is not None:
                bit_size = _int(bit_size)
            spelling: Optional[str] = "void"
            record = None
            if isinstance(target, int):
                spelling = spelled.get(target)
                is_anonymous = anonymous.get(target)
                if is_anonymous is None:
                    is_anonymous = self.is_anonymous_record(dwarf, target)
                record = dwarf.die_at(target) if is_anonymous else None
            if record is not None:
                # An anonymous struct/union has no name to be compared by, so its members are
                # listed as ours: unnamed ones as they are, named ones as member.field.
                nested = member_fields(record.cu, record)
                self.add_members(record.cu.dwarf, nested, bits, fields, prefix + (f"{name}." if name else ""))
                continue
            if name is None:
                continue  # unnamed bitfield padding
            if spelling is None:
                spelling = self.spell_at(dwarf, target)
            if bit_size:
                spelling += f":{bit_size}"
            offset = bits // 8 if bits % 8 == 0 else f"{bits // 8}.{bits % 8}"
            fields.append([prefix + name, offset, spelling])

    @staticmethod
    def member_bit_offset(location, bit_size, data_bit_offset, bit_offset, byte_size) -> int:
        """A member's offset in bits from its attributes (MEMBER_FIELDS' values)."""
        data_bit_offset = _int(data_bit_offset)
        if data_bit_offset is not None:
            return data_bit_offset
        byte = 0
        if isinstance(location, int):
            byte = location
        elif isinstance(location, list) and location and location[0] == DW_OP_PLUS_UCONST:
            byte = _uleb(location[1:])
        bits = byte * 8
        old_bit_offset = _int(bit_offset)  # DWARF 2/3, big-endian numbering
        if old_bit_offset is not None:
            storage = (_int(byte_size) or 0) * 8
            bits += storage - old_bit_offset - (_int(bit_size) or 0)
        return bits


def _modify(modifier: str, inner: str) -> str:
    """A pointer's or qualifier's spelling (MODIFIERS) from its target's."""
    if modifier == "*":
        return inner + ("*" if inner.endswith("*") else " *")
    if not modifier:
        return inner  # restrict does not change the calling convention
    return f"{inner} {modifier}" if inner.endswith("*") else f"{modifier} {inner}"


def _uleb(data: List[int]) -> int:
    value, shift = 0, 0
    for b in data:
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return value


def read_type_surface(path, exports: Iterable[ExportedSymbol]) -> Optional[TypeSurface]:
    """The exports' types, or None when the library has no DWARF debug info."""
    path = os.fspath(path)
    functions_at: Dict[int, List[ExportedSymbol]] = {}
    variables_at: Dict[int, List[ExportedSymbol]] = {}
    for sym in exports:
        table = functions_at if sym.kind in ("func", "ifunc") else variables_at
        table.setdefault(sym.address, []).append(sym)
    dwarf = read_dwarf(path, map_input(path))
    if dwarf is None:
        return None
    # Everything the walk keeps lives until the surface is built, and what it drops has no cycles,
    # so the collector's passes over the growing heap (a fifth of a 2000-function library's time)
    # are paused. The reader's own cycles are broken first, so it is freed at once when dropped.
    with paused_gc():
        try:
            return _collect(dwarf, functions_at, variables_at)
        except _CORRUPT as e:
            raise AbiError(path, f"malformed DWARF debug info ({type(e).__name__}: {e})") from None
        finally:
            dwarf.release()


def _collect(dwarf, functions_at, variables_at) -> TypeSurface:
    surface = _Surface()
    found = find_exported(dwarf, functions_at, variables_at)
    surface.definition_places = found.definition_places
    functions, variables = {}, {}
    for sym, die in found.functions:
        path = surface.decl_file(die)  # gcc points C definitions at the .c: only a header's line is kept
        if path is not None and path.endswith(HEADER_SUFFIXES):
            line = _int_attr(die, "DW_AT_decl_line")
            if line:
                surface.locations[sym.key] = (path, line)
        returns, params = surface.signature(die)
        functions[sym.key] = {"returns": returns, "params": params}
    for sym, die in found.variables:
        variables[sym.key] = surface.spell_type_of(die)
    surface.drain()
    types = {"functions": functions, "variables": variables, "records": surface.records, "enums": surface.enums}
    return TypeSurface(types, found.untyped, surface.locations)


def definition_lines(path, names: Iterable[str]) -> Dict[str, Tuple[str, int]]:
    """Where an object file's (.o) global functions and variables are defined: name -> (source
    file, line), from its DWARF; empty without debug info. Paths under the current directory are
    made relative so GitHub annotations land on the repository file."""
    path, wanted = os.fspath(path), set(names)
    found: Dict[str, Tuple[str, int]] = {}
    if not wanted:
        return found
    dwarf = read_dwarf(path, map_input(path))
    if dwarf is None:
        return found
    surface = _Surface()
    try:
        for cu in dwarf.units():
            top = cu.top()
            for die in (top.children(DEFINITION_TAGS) if top is not None else ()):
                name, line = _name(die), _int_attr(die, "DW_AT_decl_line")
                if name in wanted and name not in found and line and not die.has("DW_AT_declaration"):
                    source = surface.decl_file(die)
                    if source:
                        found[name] = (_display_path(source), line)
    except _CORRUPT as e:
        raise AbiError(path, f"malformed DWARF debug info ({type(e).__name__}: {e})") from None
    return found


def _display_path(source: str) -> str:
    if os.path.isabs(source):
        relative = os.path.relpath(source)
        if not relative.startswith(".."):
            return relative
    return source
