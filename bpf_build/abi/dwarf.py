"""A small DWARF 2-5 reader: just what the type surface needs, and no more of the file than that.

bpf-abi runs on every library a release CI compares, so the reader does as little as it can:

- An abbreviation becomes a ``_Shape`` the first time a unit uses it: where each attribute sits
  (at a fixed distance from the DIE's start or end, when the forms around it have fixed sizes)
  and a decoding plan in which each run of fixed-size attributes is one ``struct`` unpack.
- Walking a list of DIEs decodes nothing it does not have to: a DIE's end comes from its shape, a
  subtree is skipped through ``DW_AT_sibling``, and only DIEs with a wanted tag become ``Die``
  objects (bpf-abi wants the functions, variables and type definitions at the top of each unit).
- A ``Die`` decodes an attribute when asked: one at a fixed place is read alone; otherwise every
  attribute is decoded once and kept. A DIE reached through a reference is parsed then, and cached.

Attribute values are plain Python values: ints for constants, addresses and offsets (references
already made absolute), bytes for strings, lists of ints for blocks and expressions, True for
flags. Also here: the file table of a unit's line program header (for ``DW_AT_decl_file``) and
range lists (``DW_AT_ranges``), both DWARF 4 and 5.

Relocatable objects (.o) carry their DWARF cross-section offsets in relocations; those of the
architectures we build for (x86-64, AArch64, i386) are applied first.
"""

from __future__ import annotations

import bisect
import os
import struct
from typing import Callable, Dict, FrozenSet, Iterator, List, NamedTuple, Optional, Tuple

from ..errors import AbiError
from .elfread import ET_REL, ElfImage

TAGS = {
    0x01: "DW_TAG_array_type", 0x02: "DW_TAG_class_type", 0x04: "DW_TAG_enumeration_type",
    0x05: "DW_TAG_formal_parameter", 0x0D: "DW_TAG_member", 0x0F: "DW_TAG_pointer_type",
    0x10: "DW_TAG_reference_type", 0x11: "DW_TAG_compile_unit", 0x13: "DW_TAG_structure_type",
    0x15: "DW_TAG_subroutine_type", 0x16: "DW_TAG_typedef", 0x17: "DW_TAG_union_type",
    0x18: "DW_TAG_unspecified_parameters", 0x21: "DW_TAG_subrange_type", 0x24: "DW_TAG_base_type",
    0x26: "DW_TAG_const_type", 0x28: "DW_TAG_enumerator", 0x2E: "DW_TAG_subprogram",
    0x34: "DW_TAG_variable", 0x35: "DW_TAG_volatile_type", 0x37: "DW_TAG_restrict_type",
    0x3B: "DW_TAG_unspecified_type", 0x42: "DW_TAG_rvalue_reference_type", 0x47: "DW_TAG_atomic_type",
}
ATTRIBUTES = {
    0x01: "DW_AT_sibling", 0x02: "DW_AT_location", 0x03: "DW_AT_name", 0x0B: "DW_AT_byte_size",
    0x0C: "DW_AT_bit_offset", 0x0D: "DW_AT_bit_size", 0x10: "DW_AT_stmt_list", 0x11: "DW_AT_low_pc",
    0x1B: "DW_AT_comp_dir", 0x1C: "DW_AT_const_value", 0x27: "DW_AT_prototyped", 0x2F: "DW_AT_upper_bound",
    0x31: "DW_AT_abstract_origin", 0x37: "DW_AT_count", 0x38: "DW_AT_data_member_location",
    0x3A: "DW_AT_decl_file", 0x3B: "DW_AT_decl_line", 0x3C: "DW_AT_declaration", 0x47: "DW_AT_specification",
    0x49: "DW_AT_type", 0x55: "DW_AT_ranges", 0x6B: "DW_AT_data_bit_offset", 0x72: "DW_AT_str_offsets_base",
    0x73: "DW_AT_addr_base", 0x74: "DW_AT_rnglists_base",
}
REFERENCE_ATTRIBUTES = {"DW_AT_sibling", "DW_AT_type", "DW_AT_abstract_origin", "DW_AT_specification"}

# Forms whose size does not depend on the unit: data, ref, flag, strx/addrx with fixed widths.
_FORM_SIZES = {0x0B: 1, 0x11: 1, 0x0C: 1, 0x25: 1, 0x29: 1, 0x05: 2, 0x12: 2, 0x26: 2, 0x2A: 2,
               0x27: 3, 0x2B: 3, 0x06: 4, 0x13: 4, 0x1C: 4, 0x28: 4, 0x2C: 4, 0x07: 8, 0x14: 8,
               0x20: 8, 0x1E: 16, 0x19: 0, 0x21: 0}
_OFFSET_SIZED_FORMS = (0x0E, 0x1F, 0x17, 0x1D, 0x1F20, 0x1F21)  # strp, line_strp, sec_offset, strp_sup, GNU alt
_LEB128_FORMS = (0x0F, 0x0D, 0x15, 0x1A, 0x1B, 0x22, 0x23, 0x1F01, 0x1F02)
# dataN and refN forms: (size, whether the value is an offset from the unit's start).
_FIXED_SIZE_FORMS = {0x0B: (1, False), 0x05: (2, False), 0x06: (4, False), 0x07: (8, False),
                     0x11: (1, True), 0x12: (2, True), 0x13: (4, True), 0x14: (8, True)}
# How a value unpacked from a fixed-size form becomes its attribute value (forms not listed: as is).
_CONVERSIONS = {0x11: "ref", 0x12: "ref", 0x13: "ref", 0x14: "ref", 0x0E: "strp", 0x1F: "line_strp",
                0x0C: "flag", 0x25: "strx", 0x26: "strx", 0x27: "strx", 0x28: "strx", 0x29: "addrx",
                0x2A: "addrx", 0x2B: "addrx", 0x2C: "addrx", 0x1E: "block", 0x20: "foreign", 0x1C: "foreign"}
_STRUCT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}  # other sizes (3, 16) unpack as bytes
SIBLING = "DW_AT_sibling"
# Relocation types that write a symbol's value plus addend into DWARF: (machine, type) -> size.
_RELOCATION_SIZES = {(62, 1): 8, (62, 10): 4, (62, 11): 4, (183, 257): 8, (183, 258): 4, (3, 1): 4}
_DEBUG_SECTIONS = (".debug_info", ".debug_abbrev", ".debug_str", ".debug_line", ".debug_line_str",
                   ".debug_str_offsets", ".debug_addr", ".debug_ranges", ".debug_rnglists")

Spec = Tuple[Optional[str], int, int]  # (attribute name, or None when not read; form; implicit constant)
Abbreviation = Tuple[str, bool, Tuple[Spec, ...]]  # (tag, has children, attributes)
Layout = Tuple[int, int, int, str]  # a unit's (offset size, address size, version, byte order)


class DwarfError(Exception):
    """Malformed DWARF; the caller names the file."""


class _Reader:
    __slots__ = ("data", "endian", "_unpackers")

    def __init__(self, data: bytes, endian: str):
        self.data, self.endian = data, endian
        self._unpackers = {size: struct.Struct(endian + code).unpack_from for size, code in _STRUCT_CODES.items()}

    def uint(self, pos: int, size: int) -> int:
        unpack = self._unpackers.get(size)
        if unpack is not None and pos >= 0:
            try:
                return unpack(self.data, pos)[0]
            except struct.error:
                pass
        if pos < 0 or pos + size > len(self.data):
            raise DwarfError(f"read past the end of a section at offset {pos}")
        return int.from_bytes(self.data[pos:pos + size], "little" if self.endian == "<" else "big")

    def uleb(self, pos: int) -> Tuple[int, int]:
        data = self.data
        if 0 <= pos < len(data) and data[pos] < 0x80:  # most numbers are one byte
            return data[pos], pos + 1
        value, shift = 0, 0
        while True:
            if not 0 <= pos < len(data):
                raise DwarfError("LEB128 number runs past the end of a section")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, pos

    def sleb(self, pos: int) -> Tuple[int, int]:
        start = pos
        value, pos = self.uleb(pos)
        bits = 7 * (pos - start)
        return (value - (1 << bits) if value & (1 << (bits - 1)) else value), pos

    def cstring(self, pos: int) -> Tuple[bytes, int]:
        end = self.data.find(b"\0", pos) if pos >= 0 else -1
        if end < 0:
            raise DwarfError(f"unterminated string at offset {pos}")
        return self.data[pos:end], end + 1


def _form_size(form: int, layout: Layout) -> Optional[int]:
    """Bytes a value of ``form`` takes in units of this layout; None when it varies."""
    size = _FORM_SIZES.get(form)
    if size is not None:
        return size
    offset_size, address_size, version, _ = layout
    if form in _OFFSET_SIZED_FORMS:
        return offset_size
    if form == 0x10:  # ref_addr: an address in DWARF 2, an offset since
        return address_size if version == 2 else offset_size
    if form == 0x01:  # addr
        return address_size
    return None


# Where one attribute sits: (distance, form, implicit constant, and for a fixed-size form that
# unpacks as an integer: its unpack function and the conversion of the unpacked value).
_Place = Tuple[int, int, int, Optional[Callable], Optional[str]]


def _place(distance: int, form: int, implicit: int, size: Optional[int], endian: str) -> _Place:
    code = _STRUCT_CODES.get(size) if size else None
    unpack = struct.Struct(endian + code).unpack_from if code is not None else None
    return distance, form, implicit, unpack, _CONVERSIONS.get(form)


class _Shape:
    """One abbreviation as the units of one layout use it: the tag, whether children follow, which
    attributes are present, where they sit, and how to decode them all at once.

    ``at_start``/``at_end``: attribute -> a _Place, at a distance from the DIE's start, or back from
    its end, for attributes that only fixed-size forms separate from that edge.
    ``plan``: steps, each a run of fixed-size attributes (one unpack; attributes bpf-abi does not
    read are padding) or one variable-size attribute. ``skips``: to find the end of a DIE whose
    size varies, (fixed bytes, variable form or None) pairs."""

    __slots__ = ("tag", "has_children", "present", "fixed_size", "at_start", "at_end", "constants",
                 "plan", "skips")

    def __init__(self, tag: str, has_children: bool, specs: Tuple[Spec, ...], layout: Layout):
        self.tag, self.has_children = tag, has_children
        self.present: FrozenSet[str] = frozenset(name for name, _, _ in specs if name is not None)
        sizes = [_form_size(form, layout) for _, form, _ in specs]
        endian = layout[3]
        self.at_start: Dict[str, _Place] = {}
        self.at_end: Dict[str, _Place] = {}
        distance = 0
        for (name, form, implicit), size in zip(specs, sizes):
            if name is not None:
                self.at_start.setdefault(name, _place(distance, form, implicit, size, endian))
            if size is None:
                break
            distance += size
        distance = 0
        for (name, form, implicit), size in zip(reversed(specs), reversed(sizes)):
            if size is None:
                break
            distance += size
            if name is not None and name not in self.at_start:
                self.at_end.setdefault(name, _place(distance, form, implicit, size, endian))
        self.fixed_size: Optional[int] = sum(s for s in sizes if s is not None) if None not in sizes else None
        self.constants: Dict[str, object] = {}
        self.plan: List[tuple] = []
        self.skips: List[Tuple[int, Optional[int]]] = []
        self._make_plan(specs, sizes, endian)

    def _make_plan(self, specs: Tuple[Spec, ...], sizes: List[Optional[int]], endian: str) -> None:
        codes: List[str] = []
        names: List[str] = []
        conversions: List[Tuple[str, str]] = []
        run_size = 0

        def close_run() -> None:
            nonlocal run_size
            if names:
                self.plan.append((True, struct.Struct(endian + "".join(codes)).unpack_from, run_size,
                                  tuple(names), tuple(conversions)))
            elif run_size:
                self.plan.append((True, None, run_size, (), ()))
            codes.clear()
            names.clear()
            conversions.clear()
            run_size = 0

        skipped = 0
        for (name, form, implicit), size in zip(specs, sizes):
            if size is None:
                close_run()
                self.plan.append((False, name, form, implicit))
                self.skips.append((skipped, form))
                skipped = 0
                continue
            skipped += size
            if size == 0:  # flag_present, implicit_const: the abbreviation holds the value
                if name is not None:
                    self.constants[name] = True if form == 0x19 else implicit
                continue
            run_size += size
            if name is None:
                codes.append(f"{size}x")
                continue
            codes.append(_STRUCT_CODES.get(size, f"{size}s"))
            names.append(name)
            conversion = _CONVERSIONS.get(form)
            if conversion is not None:
                conversions.append((name, conversion))
        close_run()
        self.skips.append((skipped, None))


# Shapes by what they are made of. Each unit of a gcc library has its own abbreviation table, but
# most entries repeat from table to table and from one build of a library to the next, so a shape
# is made once per process (there are a few thousand different ones in practice; see _shape_of).
_SHAPES: Dict[Tuple[Abbreviation, Layout], _Shape] = {}
_SHAPES_KEPT = 50_000


# Abbreviation tables by the bytes they were read from (see DwarfInfo._shared_abbrev_table).
_ABBREV_TABLES: Dict[bytes, Dict[int, Abbreviation]] = {}
_ABBREV_TABLES_KEPT = 5_000


def _shape_of(abbrev: Abbreviation, layout: Layout) -> _Shape:
    shape = _SHAPES.get((abbrev, layout))
    if shape is None:
        if len(_SHAPES) >= _SHAPES_KEPT:  # only a pathological input has this many: start again
            _SHAPES.clear()
        shape = _SHAPES[(abbrev, layout)] = _Shape(*abbrev, layout)
    return shape


class Die:
    """One debugging information entry. Its attributes are decoded when asked for: most DIEs are
    only stepped over, and most of the rest are asked for one or two attributes."""

    __slots__ = ("cu", "offset", "shape", "start", "end", "_attrs")

    def __init__(self, cu: "CompileUnit", offset: int, shape: _Shape, start: int, end: int):
        self.cu, self.offset, self.shape, self.start, self.end = cu, offset, shape, start, end
        self._attrs: Optional[dict] = None

    @property
    def tag(self) -> str:
        return self.shape.tag

    @property
    def has_children(self) -> bool:
        return self.shape.has_children

    @property
    def attrs(self) -> dict:
        if self._attrs is None:
            self._attrs = self.cu.decode(self.shape, self.start)
        return self._attrs

    def has(self, name: str) -> bool:
        return name in self.shape.present

    def get(self, name: str, default=None):
        if self._attrs is None:
            shape = self.shape
            place = shape.at_start.get(name)
            if place is not None:
                return self.cu.read(place, self.start + place[0])
            place = shape.at_end.get(name)
            if place is not None:
                return self.cu.read(place, self.end - place[0])
            if name not in shape.present:
                return default
        return self.attrs.get(name, default)

    def ref(self, name: str) -> Optional["Die"]:
        target = self.get(name)
        return self.cu.dwarf.die_at(target) if isinstance(target, int) and name in REFERENCE_ATTRIBUTES else None

    def children(self, tags: Optional[FrozenSet[str]] = None) -> Iterator["Die"]:
        """The children (only those with one of ``tags`` when given), in order."""
        if self.shape.has_children:
            yield from self.cu.entries(self.end, tags)


class _UnitHeader(NamedTuple):
    offset: int
    end: int
    offset_size: int
    version: int
    address_size: int
    abbrev_offset: int
    first_die: int


def _unit_header(info: _Reader, offset: int) -> _UnitHeader:
    length = info.uint(offset, 4)
    offset_size, pos = 4, offset + 4
    if length == 0xFFFFFFFF:
        length, offset_size, pos = info.uint(pos, 8), 8, pos + 8
    end = pos + length
    version = info.uint(pos, 2)
    pos += 2
    if not 2 <= version <= 5:
        raise DwarfError(f"unsupported DWARF version {version} in the unit at {offset}")
    if version >= 5:
        unit_type, address_size = info.uint(pos, 1), info.uint(pos + 1, 1)
        abbrev_offset = info.uint(pos + 2, offset_size)
        pos += 2 + offset_size
        if unit_type in (4, 5):  # skeleton / split compile units carry a DWO id
            pos += 8
        elif unit_type in (2, 6):  # type units: signature and type offset
            pos += 8 + offset_size
    else:
        abbrev_offset = info.uint(pos, offset_size)
        address_size = info.uint(pos + offset_size, 1)
        pos += offset_size + 1
    return _UnitHeader(offset, end, offset_size, version, address_size, abbrev_offset, pos)


class CompileUnit:
    def __init__(self, dwarf: "DwarfInfo", header: _UnitHeader):
        self.dwarf, self.offset, self.end = dwarf, header.offset, header.end
        self.offset_size, self.version, self.address_size = header.offset_size, header.version, header.address_size
        self.first_die = pos = header.first_die
        info = dwarf.info
        self.abbrevs = dwarf.abbrev_table(header.abbrev_offset)
        self.shapes = dwarf.shapes(header.abbrev_offset,
                                   (self.offset_size, self.address_size, self.version, info.endian))
        default_base = 8 if self.version >= 5 else 0  # past the tables' headers
        self.str_offsets_base = self.addr_base = default_base
        self.rnglists_base = 0
        self._top = self.parse(pos)
        if self._top is not None:  # the bases must be known before strx/addrx values are decoded
            self.str_offsets_base = self._top.get("DW_AT_str_offsets_base", default_base)
            self.addr_base = self._top.get("DW_AT_addr_base", default_base)
            self.rnglists_base = self._top.get("DW_AT_rnglists_base", 0)
            self._top._attrs = None  # decoded (if at all) before the bases were known
        self._files: Optional[List[Optional[str]]] = None

    def top(self) -> Optional[Die]:
        return self._top

    def shape(self, code: int) -> _Shape:
        shape = self.shapes.get(code)
        if shape is None:
            abbrev = self.abbrevs.get(code)
            if abbrev is None:
                raise DwarfError(f"a DIE uses undefined abbreviation {code}")
            shape = self.shapes[code] = _shape_of(abbrev, (self.offset_size, self.address_size, self.version,
                                                           self.dwarf.info.endian))
        return shape

    def parse(self, pos: int) -> Optional[Die]:
        """The DIE at ``pos``; None for the null entry that closes a list of siblings."""
        code, start = self.dwarf.info.uleb(pos)
        if code == 0:
            return None
        shape = self.shape(code)
        return Die(self, pos, shape, start, self.end_of(shape, start))

    def entries(self, pos: int, tags: Optional[FrozenSet[str]] = None) -> Iterator[Die]:
        """The list of sibling DIEs starting at ``pos``, up to its null entry; those whose tag is
        not in ``tags`` are stepped over without being decoded."""
        info = self.dwarf.info
        data, end, shapes = info.data, self.end, self.shapes
        while pos < end:
            code = data[pos]
            if code < 0x80:
                start = pos + 1
            else:
                code, start = info.uleb(pos)
            if code == 0:
                return
            shape = shapes.get(code) or self.shape(code)
            fixed = shape.fixed_size
            die_end = start + fixed if fixed is not None else self.end_of(shape, start)
            if tags is None or shape.tag in tags:
                yield Die(self, pos, shape, start, die_end)
            pos = self.after_subtree(shape, pos, start, die_end) if shape.has_children else die_end
        if pos > end:
            raise DwarfError(f"a DIE runs past the end of the unit at {self.offset}")

    def after_subtree(self, shape: _Shape, pos: int, start: int, end: int) -> int:
        """Where the next sibling of the DIE at ``pos`` (which has children) starts."""
        sibling = self.sibling(shape, pos, start, end)
        if sibling is not None:
            return sibling
        info = self.dwarf.info
        depth, pos = 1, end  # no usable sibling pointer: walk the subtree to its null entry
        while depth:
            if pos >= self.end:
                raise DwarfError(f"a DIE's children run past the end of the unit at {self.offset}")
            code, start = info.uleb(pos)
            if code == 0:
                depth, pos = depth - 1, start
                continue
            child = self.shape(code)
            child_end = self.end_of(child, start)
            if child.has_children:
                sibling = self.sibling(child, pos, start, child_end)
                if sibling is not None:
                    pos = sibling
                    continue
                depth += 1
            pos = child_end
        return pos

    def sibling(self, shape: _Shape, pos: int, start: int, end: int) -> Optional[int]:
        """DW_AT_sibling of the DIE at ``pos`` when it has a usable one (pointing forward)."""
        place = shape.at_start.get(SIBLING) or shape.at_end.get(SIBLING)
        if place is not None:
            sibling = self.read(place, start + place[0] if SIBLING in shape.at_start else end - place[0])
        elif SIBLING in shape.present:
            sibling = self.decode(shape, start).get(SIBLING)
        else:
            return None
        return sibling if isinstance(sibling, int) and pos < sibling <= self.end else None

    def end_of(self, shape: _Shape, pos: int) -> int:
        """The end of a DIE's attributes that start at ``pos``."""
        if shape.fixed_size is not None:
            return pos + shape.fixed_size
        for fixed, form in shape.skips:
            pos += fixed
            if form is not None:
                pos = self.skip(form, pos)
        return pos

    def skip(self, form: int, pos: int) -> int:
        """Step over one value of a variable-size form."""
        r = self.dwarf.info
        if form == 0x08:  # string
            return r.cstring(pos)[1]
        if form in _LEB128_FORMS:
            return r.uleb(pos)[1]
        if form == 0x18 or form == 0x09:  # exprloc, block
            length, pos = r.uleb(pos)
            return pos + length
        if form in (0x0A, 0x03, 0x04):  # block1, block2, block4
            size = {0x0A: 1, 0x03: 2, 0x04: 4}[form]
            return pos + size + r.uint(pos, size)
        if form == 0x16:  # indirect
            actual, pos = r.uleb(pos)
            actual_size = _form_size(actual, (self.offset_size, self.address_size, self.version, r.endian))
            return pos + actual_size if actual_size is not None else self.skip(actual, pos)
        raise DwarfError(f"unsupported attribute form 0x{form:x}")

    def decode(self, shape: _Shape, pos: int) -> dict:
        """Every attribute of a DIE (those bpf-abi reads) whose attributes start at ``pos``."""
        attrs = dict(shape.constants)
        data = self.dwarf.info.data
        for step in shape.plan:
            if step[0]:  # a run of fixed-size values
                _, unpack, size, names, conversions = step
                if names:
                    attrs.update(zip(names, unpack(data, pos)))
                    for name, conversion in conversions:
                        attrs[name] = self.convert(conversion, attrs[name])
                pos += size
            else:
                _, name, form, implicit = step
                value, pos = self.form_value(form, pos, implicit)
                if name is not None:
                    attrs[name] = value
        return attrs

    def read(self, place: _Place, pos: int):
        """The value of the attribute at ``pos`` that ``place`` describes."""
        _, form, implicit, unpack, conversion = place
        if unpack is None:
            return self.form_value(form, pos, implicit)[0]
        value = unpack(self.dwarf.info.data, pos)[0]
        if conversion is None:
            return value
        if conversion == "ref":  # the commonest two, without a call
            return value + self.offset
        if conversion == "strp":
            return self.dwarf.string_at(value)
        return self.convert(conversion, value)

    def convert(self, conversion: str, value):
        """A value unpacked from a fixed-size form, as form_value would have decoded it."""
        if isinstance(value, bytes) and conversion != "block":  # strx3, addrx3: unpacked as 3 bytes
            value = int.from_bytes(value, "little" if self.dwarf.info.endian == "<" else "big")
        if conversion == "ref":
            return value + self.offset
        if conversion == "strp":
            return self.dwarf.string_at(value)
        if conversion == "line_strp":
            return self.dwarf.line_strings.cstring(value)[0]
        if conversion == "flag":
            return bool(value)
        if conversion == "strx":
            return self.indexed_string(value)
        if conversion == "addrx":
            return self.address(value)
        if conversion == "block":
            return list(value)
        if conversion == "foreign":
            return ("foreign", value)
        return value

    def form_value(self, form: int, pos: int, implicit: int, r: Optional[_Reader] = None):
        """Decode one value of ``form`` at ``pos`` of .debug_info (or of ``r``, for line tables)."""
        r = r or self.dwarf.info
        fixed = _FIXED_SIZE_FORMS.get(form)
        if fixed is not None:
            size, unit_relative = fixed
            value = r.uint(pos, size)
            return (value + self.offset if unit_relative else value), pos + size
        if form == 0x19:  # flag_present
            return True, pos
        if form == 0x21:  # implicit_const
            return implicit, pos
        if form in (0x0E, 0x1F):  # strp, line_strp
            offset = r.uint(pos, self.offset_size)
            if form == 0x0E:
                return self.dwarf.string_at(offset), pos + self.offset_size
            return self.dwarf.line_strings.cstring(offset)[0], pos + self.offset_size
        if form == 0x08:  # string
            return r.cstring(pos)
        if form in (0x0F, 0x15):  # udata, ref_udata
            value, pos = r.uleb(pos)
            return (value + self.offset if form == 0x15 else value), pos
        if form == 0x0D:  # sdata
            return r.sleb(pos)
        if form == 0x01:  # addr
            return r.uint(pos, self.address_size), pos + self.address_size
        if form == 0x18 or form == 0x09:  # exprloc, block
            length, pos = r.uleb(pos)
            return list(r.data[pos:pos + length]), pos + length
        if form in (0x0A, 0x03, 0x04):  # block1, block2, block4
            size = {0x0A: 1, 0x03: 2, 0x04: 4}[form]
            length = r.uint(pos, size)
            pos += size
            return list(r.data[pos:pos + length]), pos + length
        if form == 0x0C:  # flag
            return bool(r.uint(pos, 1)), pos + 1
        if form in (0x17, 0x10, 0x1D, 0x1F20, 0x1F21):  # sec_offset, ref_addr, strp_sup, GNU alt refs
            size = self.address_size if form == 0x10 and self.version == 2 else self.offset_size
            return r.uint(pos, size), pos + size
        if form in (0x1A, 0x25, 0x26, 0x27, 0x28, 0x1F02):  # strx, strx1-4, GNU_str_index
            if form in (0x1A, 0x1F02):
                index, pos = r.uleb(pos)
            else:
                size = form - 0x24
                index, pos = r.uint(pos, size), pos + size
            return self.indexed_string(index), pos
        if form in (0x1B, 0x29, 0x2A, 0x2B, 0x2C, 0x1F01):  # addrx, addrx1-4, GNU_addr_index
            if form in (0x1B, 0x1F01):
                index, pos = r.uleb(pos)
            else:
                size = form - 0x28
                index, pos = r.uint(pos, size), pos + size
            return self.address(index), pos
        if form in (0x22, 0x23):  # loclistx, rnglistx: kept as ("index", n)
            index, pos = r.uleb(pos)
            return ("index", index), pos
        if form == 0x1E:  # data16
            return list(r.data[pos:pos + 16]), pos + 16
        if form in (0x20, 0x1C):  # ref_sig8, ref_sup4
            size = 8 if form == 0x20 else 4
            return ("foreign", r.uint(pos, size)), pos + size
        if form == 0x16:  # indirect
            actual, pos = r.uleb(pos)
            return self.form_value(actual, pos, implicit, r)
        raise DwarfError(f"unsupported attribute form 0x{form:x}")

    def indexed_string(self, index: int) -> bytes:
        offset = self.dwarf.str_offsets.uint(self.str_offsets_base + index * self.offset_size, self.offset_size)
        return self.dwarf.string_at(offset)

    def address(self, index: int) -> int:
        return self.dwarf.addresses.uint(self.addr_base + index * self.address_size, self.address_size)

    # -- the line program header's file table -----------------------------------------------------
    def file_table(self) -> List[Optional[str]]:
        """DW_AT_decl_file index -> absolute path when the unit says where it was compiled."""
        if self._files is None:
            top = self.top()
            stmt = top.get("DW_AT_stmt_list") if top is not None else None
            comp_dir = top.get("DW_AT_comp_dir", b"") if top is not None else b""
            comp_dir = comp_dir.decode("utf-8", "replace") if isinstance(comp_dir, bytes) else ""
            self._files = self.dwarf.line_files(stmt, comp_dir, self) if isinstance(stmt, int) else []
        return self._files

    # -- DW_AT_ranges -------------------------------------------------------------------------------------
    def range_starts(self, die: Die) -> List[int]:
        value = die.get("DW_AT_ranges")
        top = self.top()
        base = top.get("DW_AT_low_pc", 0) if top is not None else 0
        base = base if isinstance(base, int) else 0
        if self.version >= 5:
            r = self.dwarf.rnglists
            if isinstance(value, tuple):  # rnglistx: an index into the unit's offset table
                value = self.rnglists_base + r.uint(self.rnglists_base + value[1] * self.offset_size,
                                                    self.offset_size)
            return self._rnglist_starts(value, base) if isinstance(value, int) else []
        r, size, pos = self.dwarf.ranges, self.address_size, value
        starts: List[int] = []
        if not isinstance(pos, int):
            return []
        largest = (1 << (8 * size)) - 1
        while True:
            begin, end = r.uint(pos, size), r.uint(pos + size, size)
            pos += 2 * size
            if begin == 0 and end == 0:
                return starts
            if begin == largest:
                base = end
            else:
                starts.append(base + begin)

    def _rnglist_starts(self, pos: int, base: int) -> List[int]:
        r = self.dwarf.rnglists
        starts: List[int] = []
        while True:
            kind = r.uint(pos, 1)
            pos += 1
            if kind == 0:  # end_of_list
                return starts
            if kind == 1:  # base_addressx
                index, pos = r.uleb(pos)
                base = self.address(index)
            elif kind in (2, 3):  # startx_endx, startx_length
                index, pos = r.uleb(pos)
                _, pos = r.uleb(pos)
                starts.append(self.address(index))
            elif kind == 4:  # offset_pair
                begin, pos = r.uleb(pos)
                _, pos = r.uleb(pos)
                starts.append(base + begin)
            elif kind == 5:  # base_address
                base, pos = r.uint(pos, self.address_size), pos + self.address_size
            elif kind in (6, 7):  # start_end, start_length
                starts.append(r.uint(pos, self.address_size))
                pos += self.address_size
                if kind == 6:
                    pos += self.address_size
                else:
                    _, pos = r.uleb(pos)
            else:
                raise DwarfError(f"unknown range list entry kind {kind}")


class DwarfInfo:
    def __init__(self, sections: Dict[str, bytes], endian: str):
        def reader(name: str) -> _Reader:
            return _Reader(sections.get(name, b""), endian)

        self.info, self.abbrev, self.strings = reader(".debug_info"), reader(".debug_abbrev"), reader(".debug_str")
        self.line, self.line_strings = reader(".debug_line"), reader(".debug_line_str")
        self.str_offsets, self.addresses = reader(".debug_str_offsets"), reader(".debug_addr")
        self.ranges, self.rnglists = reader(".debug_ranges"), reader(".debug_rnglists")
        self.cache: Dict[int, Die] = {}
        self._strings: Dict[int, bytes] = {}
        self._abbrev_tables: Dict[int, Dict[int, Abbreviation]] = {}
        self._abbrev_limits: Dict[int, int] = {}
        self._shapes: Dict[Tuple[int, Layout], Dict[int, _Shape]] = {}
        self._units: List[CompileUnit] = []
        self._unit_starts: List[int] = []

    def units(self) -> Iterator[CompileUnit]:
        if not self._units:
            headers, pos = [], 0
            while pos + 11 <= len(self.info.data):
                header = _unit_header(self.info, pos)
                if header.end <= pos:
                    raise DwarfError(f"unit at {pos} has no length")
                headers.append(header)
                pos = header.end
            # Where each abbreviation table can end at the latest: the next one's start.
            starts = sorted({h.abbrev_offset for h in headers} | {len(self.abbrev.data)})
            self._abbrev_limits = dict(zip(starts, starts[1:]))
            for header in headers:
                self._units.append(CompileUnit(self, header))
                self._unit_starts.append(header.offset)
        return iter(self._units)

    def die_at(self, offset: int) -> Optional[Die]:
        cached = self.cache.get(offset)
        if cached is not None:
            return cached
        if not self._units:
            list(self.units())
        index = bisect.bisect_right(self._unit_starts, offset) - 1
        if index < 0 or offset >= self._units[index].end:
            raise DwarfError(f"reference to offset {offset} outside every unit")
        die = self._units[index].parse(offset)
        if die is not None:
            self.cache[offset] = die
        return die

    def string_at(self, offset: int) -> bytes:
        """A string of .debug_str; the same few names (a member "sz", a type) come up again and again."""
        found = self._strings.get(offset)
        if found is None:
            found = self._strings[offset] = self.strings.cstring(offset)[0]
        return found

    def shapes(self, abbrev_offset: int, layout: Layout) -> Dict[int, _Shape]:
        """The shapes of one abbreviation table for units of one layout, made as they are used."""
        return self._shapes.setdefault((abbrev_offset, layout), {})

    def abbrev_table(self, offset: int) -> Dict[int, Abbreviation]:
        table = self._abbrev_tables.get(offset)
        if table is None:
            table = self._abbrev_tables[offset] = self._shared_abbrev_table(offset)
        return table

    def _shared_abbrev_table(self, offset: int) -> Dict[int, Abbreviation]:
        """The table at ``offset``, reused when a library read before had the same bytes there: the
        next build of a library repeats most of its units' tables (shared read-only, like shapes)."""
        raw = self.abbrev.data[offset:self._abbrev_limits.get(offset, offset)]
        cached = _ABBREV_TABLES.get(raw)
        if cached is not None:
            return cached
        table, end = self._read_abbrev_table(offset)
        if raw and end - offset <= len(raw):  # read from those bytes alone, so equal bytes read the same
            if len(_ABBREV_TABLES) >= _ABBREV_TABLES_KEPT:
                _ABBREV_TABLES.clear()
            _ABBREV_TABLES[raw] = table
        return table

    def _read_abbrev_table(self, pos: int) -> Tuple[Dict[int, Abbreviation], int]:
        """The table at ``pos``, and where it ends."""
        r = self.abbrev
        data, uleb = r.data, r.uleb
        attribute_name, tag_name = ATTRIBUTES.get, TAGS.get
        table: Dict[int, Abbreviation] = {}
        while True:
            code, pos = uleb(pos)
            if code == 0:
                return table, pos
            tag, pos = uleb(pos)
            if pos >= len(data):
                raise DwarfError("abbreviation table runs past the end of .debug_abbrev")
            has_children = data[pos] == 1
            pos += 1
            specs = []
            while True:
                # Attribute names and forms are nearly always one LEB128 byte each.
                if pos + 1 < len(data) and data[pos] < 0x80 and data[pos + 1] < 0x80:
                    name, form = data[pos], data[pos + 1]
                    pos += 2
                else:
                    name, pos = uleb(pos)
                    form, pos = uleb(pos)
                if name == 0 and form == 0:
                    break
                implicit = 0
                if form == 0x21:
                    implicit, pos = r.sleb(pos)
                specs.append((attribute_name(name), form, implicit))
            table[code] = (tag_name(tag) or f"DW_TAG_0x{tag:x}", has_children, tuple(specs))

    def line_files(self, offset: int, comp_dir: str, unit: CompileUnit) -> List[Optional[str]]:
        r = self.line
        length, pos = r.uint(offset, 4), offset + 4
        offset_size = 4
        if length == 0xFFFFFFFF:
            pos, offset_size = pos + 8, 8
        del length
        version = r.uint(pos, 2)
        pos += 2
        if version >= 5:
            pos += 2  # address_size, segment_selector_size
        pos += offset_size  # header_length
        pos += 1 + (1 if version >= 4 else 0) + 3  # min_inst_length, max_ops, default_is_stmt, line_base, range
        opcode_base = r.uint(pos, 1)
        pos += opcode_base  # the opcode_base byte and standard_opcode_lengths
        if version < 5:
            dirs = [comp_dir]
            while True:
                name, pos = r.cstring(pos)
                if not name:
                    break
                dirs.append(name.decode("utf-8", "replace"))
            files: List[Optional[str]] = [None]  # DWARF < 5 counts files from 1
            while True:
                name, pos = r.cstring(pos)
                if not name:
                    break
                directory, pos = r.uleb(pos)
                _, pos = r.uleb(pos)
                _, pos = r.uleb(pos)
                files.append(_join(comp_dir, dirs[directory] if directory < len(dirs) else "", name))
            return files
        dirs_raw, pos = self._entries(pos, unit)
        dirs = [os.path.join(comp_dir, d.get(1, b"").decode("utf-8", "replace")) for d in dirs_raw]
        files_raw, pos = self._entries(pos, unit)
        out: List[Optional[str]] = []
        for entry in files_raw:
            directory = entry.get(2, 0)
            out.append(_join(comp_dir, dirs[directory] if isinstance(directory, int) and directory < len(dirs)
                             else "", entry.get(1, b"")))
        return out

    def _entries(self, pos: int, unit: CompileUnit) -> Tuple[List[dict], int]:
        """A DWARF 5 directory or file name table: its format, then its entries."""
        r = self.line
        format_count = r.uint(pos, 1)
        pos += 1
        formats = []
        for _ in range(format_count):
            content, pos = r.uleb(pos)
            form, pos = r.uleb(pos)
            formats.append((content, form))
        count, pos = r.uleb(pos)
        entries = []
        for _ in range(count):
            entry = {}
            for content, form in formats:
                entry[content], pos = unit.form_value(form, pos, 0, r)
            entries.append(entry)
        return entries, pos


def _join(comp_dir: str, directory: str, name: bytes) -> str:
    text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    return os.path.normpath(os.path.join(comp_dir, directory, text))


def load_dwarf(elf: ElfImage) -> Optional[DwarfInfo]:
    """The file's DWARF, relocated when it is a relocatable object; None without .debug_info."""
    sections = elf.sections()
    by_name = elf.sections_by_name(sections)
    if ".debug_info" not in by_name:
        return None
    data = {name: elf.data(by_name[name][1], name) for name in _DEBUG_SECTIONS if name in by_name}
    if elf.e_type == ET_REL:
        _relocate(elf, sections, by_name, data)
    return DwarfInfo(data, elf.endian)


def _relocate(elf: ElfImage, sections, by_name, data: Dict[str, bytes]) -> None:
    symbols = None
    for name in list(data):
        for prefix, has_addend in ((".rela", True), (".rel", False)):
            found = by_name.get(prefix + name)
            if found is None:
                continue
            section = found[1]
            if symbols is None:
                symtab = next((s for s in sections if s.type == 2), None)
                symbols = [s.value for s in elf.symbols(sections, symtab, ".symtab")] if symtab else []
            target = bytearray(data[name])
            fmt = elf.endian + (("QQq" if has_addend else "QQ") if elf.is64 else ("IIi" if has_addend else "II"))
            entry_size = struct.calcsize(fmt)
            raw = elf.data(section, prefix + name)
            for entry in struct.iter_unpack(fmt, raw[:len(raw) - len(raw) % entry_size]):
                offset, info = entry[0], entry[1]
                symbol, kind = (info >> 32, info & 0xFFFFFFFF) if elf.is64 else (info >> 8, info & 0xFF)
                size = _RELOCATION_SIZES.get((elf.machine, kind))
                if size is None:
                    raise DwarfError(f"unsupported relocation type {kind} in {prefix + name}")
                if offset + size > len(target):
                    raise DwarfError(f"relocation past the end of {name}")
                addend = entry[2] if has_addend else int.from_bytes(target[offset:offset + size],
                                                                    "little" if elf.endian == "<" else "big")
                value = (symbols[symbol] if symbol < len(symbols) else 0) + addend
                target[offset:offset + size] = (value & ((1 << (8 * size)) - 1)).to_bytes(
                    size, "little" if elf.endian == "<" else "big")
            data[name] = bytes(target)


def read_dwarf(path: str, raw: bytes) -> Optional[DwarfInfo]:
    try:
        return load_dwarf(ElfImage(path, raw))
    except (DwarfError, struct.error) as e:
        raise AbiError(path, f"malformed DWARF debug info ({e})") from None
