"""A small DWARF 2-5 reader: just what the type surface needs, and no more of the file than that.

bpf-abi runs on every library a release CI compares, so the reader does as little as it can:

- An abbreviation becomes a ``Shape`` (dwarf_shapes.py) the first time a unit uses it: where each
  attribute sits (at a fixed distance from the DIE's start or end, when the forms around it have
  fixed sizes) and a decoding plan in which each run of fixed-size attributes is one ``struct``
  unpack; one decoded often gets a function of its own doing the plan's work, and a record's members
  and a function's parameters are read in runs by functions made for their abbreviations
  (dwarf_decoders.py, dwarf_children.py).
- Walking a list of DIEs decodes nothing it does not have to: a DIE's end comes from its shape, a
  subtree is skipped through ``DW_AT_sibling``, and only DIEs with a wanted tag become ``Die``
  objects (bpf-abi wants the functions, variables and type definitions at the top of each unit).
- A ``Die`` decodes an attribute when asked: one at a fixed place is read alone; otherwise every
  attribute is decoded once and kept. A DIE reached through a reference is parsed then, and cached.

Attribute values are plain Python values: ints for constants, addresses and offsets (references
already made absolute), bytes for strings, lists of ints for blocks and expressions, True for
flags. Also here: range lists (``DW_AT_ranges``), both DWARF 4 and 5; the file table of a unit's
line program header (for ``DW_AT_decl_file``) is read by dwarf_lines.py.

A file's sections are found and, for relocatable objects, relocated by dwarf_load.py.
"""

from __future__ import annotations

import bisect
from typing import Dict, FrozenSet, Iterator, List, NamedTuple, Optional, Tuple, Union

from .dwarf_forms import DwarfError, Layout, Reader, UnitValues
from .dwarf_lines import FileTable, read_file_table
from .dwarf_decoders import Describer, Walker
from .dwarf_shapes import SIBLING, Abbreviation, Shape, shape_of

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


# Abbreviation tables by the bytes they were read from (see DwarfInfo._shared_abbrev_table).
_ABBREV_TABLES: Dict[bytes, Dict[int, Abbreviation]] = {}
_ABBREV_TABLES_KEPT = 5_000


class Die:
    """One debugging information entry. Its attributes are decoded when asked for: most DIEs are
    only stepped over, and most of the rest are asked for one or two attributes."""

    __slots__ = ("cu", "offset", "shape", "start", "end", "_attrs")

    def __init__(self, cu: "CompileUnit", offset: int, shape: Shape, start: int, end: int):
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
            if name not in shape.present:
                return default
            return self.cu.attribute(shape, self.start, self.end, name, self)
        return self._attrs.get(name, default)

    def ref(self, name: str) -> Optional["Die"]:
        target = self.get(name)
        return self.cu.dwarf.die_at(target) if isinstance(target, int) and name in REFERENCE_ATTRIBUTES else None

    def children(self, tags: Optional[FrozenSet[str]] = None) -> Iterator["Die"]:
        """The children (only those with one of ``tags`` when given), in order."""
        return self.cu.entries(self.end, tags) if self.shape.has_children else iter(())



# Where a DIE is: (its offset, its shape, where its attributes start, where they end).
DiePlace = Tuple[int, Shape, int, int]


class _UnitHeader(NamedTuple):
    offset: int
    end: int
    offset_size: int
    version: int
    address_size: int
    abbrev_offset: int
    first_die: int


def _unit_header(info: Reader, offset: int) -> _UnitHeader:
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


class CompileUnit(UnitValues):
    """One unit of .debug_info: walking its DIEs (stepping over what is not wanted through shapes
    and DW_AT_sibling), its line program's file table and its range lists. Attribute values decode
    in UnitValues (dwarf_forms.py)."""

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
        self._files: Optional[Union[FileTable, List[Optional[str]]]] = None
        # The walkers (dwarf_children.py) of this unit's one-byte abbreviation codes, by the tag they
        # read (None: the code of a DIE that ends that walk).
        self.walkers: Dict[str, Dict[int, Optional[Walker]]] = {}
        self.describers: Dict[int, Describer] = {}  # and of its members' codes that have one

    def top(self) -> Optional[Die]:
        return self._top

    def shape(self, code: int) -> Shape:
        shape = self.shapes.get(code)
        if shape is None:
            abbrev = self.abbrevs.get(code)
            if abbrev is None:
                raise DwarfError(f"a DIE uses undefined abbreviation {code}")
            shape = self.shapes[code] = shape_of(abbrev, (self.offset_size, self.address_size, self.version,
                                                           self.dwarf.info.endian))
        return shape

    def abbreviation_at(self, pos: int) -> Tuple[int, int, Optional[Shape]]:
        """The code of the DIE at ``pos``, where its attributes start, and its shape (None for the
        null entry that closes a list of siblings)."""
        data = self.dwarf.info.data
        if 0 <= pos < len(data) and data[pos] < 0x80:  # most codes are one byte
            code, start = data[pos], pos + 1
        else:
            code, start = self.dwarf.info.uleb(pos)
        return code, start, (self.shapes.get(code) or self.shape(code)) if code else None

    def parse(self, pos: int) -> Optional[Die]:
        """The DIE at ``pos``; None for the null entry that closes a list of siblings."""
        _, start, shape = self.abbreviation_at(pos)
        return self.die(pos, shape, start) if shape is not None else None

    def die(self, pos: int, shape: Shape, start: int) -> Die:
        """The DIE at ``pos`` whose shape and start abbreviation_at found."""
        fixed = shape.fixed_size
        return Die(self, pos, shape, start, start + fixed if fixed is not None else self.end_of(shape, start))

    def entries(self, pos: int, tags: Optional[FrozenSet[str]] = None) -> Iterator[Die]:
        """The list of sibling DIEs starting at ``pos``, up to its null entry; those whose tag is
        not in ``tags`` are stepped over without being decoded."""
        return (Die(self, *place) for place in self.places(pos, tags))

    def places(self, pos: int, tags: Optional[FrozenSet[str]] = None) -> Iterator[DiePlace]:
        """entries, as where each DIE is, for a walk that makes a Die of few of them."""
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
                yield pos, shape, start, die_end
            if not shape.has_children:
                pos = die_end
                continue
            sibling_at = shape.sibling_at  # sibling(), inline: most DIEs with children have one
            if sibling_at is not None:
                from_start, distance, unpack = sibling_at
                sibling = unpack(data, start + distance if from_start else die_end - distance)[0] + self.offset
                if pos < sibling <= end:
                    pos = sibling
                    continue
            pos = self.after_subtree(shape, pos, start, die_end)
        if pos > end:
            raise DwarfError(f"a DIE runs past the end of the unit at {self.offset}")

    def attribute(self, shape: Shape, start: int, end: int, name: str, die: Optional[Die] = None):
        """Attribute ``name`` (one ``shape`` has) of the DIE whose attributes span ``start``..``end``:
        read alone where its place is known, else from all of them decoded (kept in ``die``)."""
        place = shape.at_start.get(name)
        if place is not None:
            return self.read(place, start + place[0])
        place = shape.at_end.get(name)
        if place is not None:
            return self.read(place, end - place[0])
        place = shape.after_first.get(name)
        if place is not None:
            return self.read(place, self.after_first_variable(shape, start) + place[0])
        attrs = self.decode(shape, start)
        if die is not None:
            die._attrs = attrs
        return attrs.get(name)

    def after_subtree(self, shape: Shape, pos: int, start: int, end: int) -> int:
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

    def sibling(self, shape: Shape, pos: int, start: int, end: int) -> Optional[int]:
        """DW_AT_sibling of the DIE at ``pos`` when it has a usable one (pointing forward)."""
        place = shape.at_start.get(SIBLING) or shape.at_end.get(SIBLING)
        if place is not None:
            sibling = self.read(place, start + place[0] if SIBLING in shape.at_start else end - place[0])
        elif SIBLING in shape.present:
            sibling = self.decode(shape, start).get(SIBLING)
        else:
            return None
        return sibling if isinstance(sibling, int) and pos < sibling <= self.end else None

    def after_first_variable(self, shape: Shape, start: int) -> int:
        """Where the attribute after a DIE's first variable-size one starts (``start``: the DIE's)."""
        distance, form = shape.first_variable or (0, 0)
        pos = start + distance
        if form == 0x08:
            end = self.dwarf.info.data.find(b"\0", pos)
            if end < 0:
                raise DwarfError(f"unterminated string at offset {pos}")
            return end + 1
        return self.skip(form, pos)

    def end_of(self, shape: Shape, pos: int) -> int:
        """The end of a DIE's attributes that start at ``pos``."""
        if shape.fixed_size is not None:
            return pos + shape.fixed_size
        data = self.dwarf.info.data
        for fixed, form in shape.skips:
            pos += fixed
            if form == 0x08:  # string, inline here: the commonest variable form (short names)
                end = data.find(b"\0", pos)
                if end < 0:
                    raise DwarfError(f"unterminated string at offset {pos}")
                pos = end + 1
            elif form == 0x18 and pos < len(data) and data[pos] < 0x80:  # exprloc (a frame base): short
                pos += 1 + data[pos]
            elif form is not None:
                pos = self.skip(form, pos)
        return pos

    # -- the line program header's file table -----------------------------------------------------
    def file_table(self) -> Union[FileTable, List[Optional[str]]]:
        """DW_AT_decl_file index -> absolute path when the unit says where it was compiled."""
        if self._files is None:
            top = self.top()
            stmt = top.get("DW_AT_stmt_list") if top is not None else None
            comp_dir = top.get("DW_AT_comp_dir", b"") if top is not None else b""
            comp_dir = comp_dir.decode("utf-8", "replace") if isinstance(comp_dir, bytes) else ""
            self._files = read_file_table(self.dwarf.line, stmt, comp_dir, self) if isinstance(stmt, int) else []
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
        def reader(name: str) -> Reader:
            return Reader(sections.get(name, b""), endian)

        self.info, self.abbrev, self.strings = reader(".debug_info"), reader(".debug_abbrev"), reader(".debug_str")
        self.line, self.line_strings = reader(".debug_line"), reader(".debug_line_str")
        self.str_offsets, self.addresses = reader(".debug_str_offsets"), reader(".debug_addr")
        self.ranges, self.rnglists = reader(".debug_ranges"), reader(".debug_rnglists")
        self.cache: Dict[int, Die] = {}
        self.strings_read: Dict[int, bytes] = {}  # .debug_str by offset, as string_at read them
        self._abbrev_tables: Dict[int, Dict[int, Abbreviation]] = {}
        self._abbrev_limits: Dict[int, int] = {}
        self._shapes: Dict[Tuple[int, Layout], Dict[int, Shape]] = {}
        self._units: List[CompileUnit] = []
        self._unit_starts: List[int] = []
        self.last_unit: Optional[CompileUnit] = None

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

    def release(self) -> None:
        """Break the cycles between this reader, its units and their DIEs (a unit and its top DIE or its
        file table refer to each other; the reader holds its units and caches DIEs): what the caller no longer
        holds is then freed at once, not left to a pass of the cyclic collector over all of it."""
        for unit in self._units:
            unit._top = None
            unit._files = None  # a file table refers to its unit
        self._units.clear()
        self._unit_starts.clear()
        self.last_unit = None
        self.cache.clear()

    def die_at(self, offset: int) -> Optional[Die]:
        cached = self.cache.get(offset)
        if cached is not None:
            return cached
        die = self.unit_at(offset).parse(offset)
        if die is not None:
            self.cache[offset] = die
        return die

    def unit_at(self, offset: int) -> CompileUnit:
        """The unit that holds ``offset`` of .debug_info."""
        unit = self.last_unit  # references mostly stay in the unit of the previous one
        if unit is None or not unit.offset <= offset < unit.end:
            if not self._units:
                list(self.units())
            index = bisect.bisect_right(self._unit_starts, offset) - 1
            if index < 0 or offset >= self._units[index].end:
                raise DwarfError(f"reference to offset {offset} outside every unit")
            unit = self.last_unit = self._units[index]
        return unit

    def string_at(self, offset: int) -> bytes:
        """A string of .debug_str; the same few names (a member "sz", a type) come up again and again."""
        found = self.strings_read.get(offset)
        if found is None:
            found = self.strings_read[offset] = self.strings.cstring(offset)[0]
        return found

    def shapes(self, abbrev_offset: int, layout: Layout) -> Dict[int, Shape]:
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
