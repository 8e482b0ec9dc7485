"""A small DWARF 2-5 reader: just what the type surface needs, several times faster than
pyelftools on the same work (bpf-abi reads every top-level DIE of every compile unit).

It decodes DIEs lazily: a compile unit's top-level children are parsed when iterated, skipping
subtrees through ``DW_AT_sibling``; a DIE referenced by ``DW_AT_type`` is parsed when first
followed, then cached. Attribute values are plain Python values: ints for constants, addresses
and offsets (references already made absolute), bytes for strings, lists of ints for blocks and
expressions, True for flags. Also here: the file table of a unit's line program header (for
``DW_AT_decl_file``) and range lists (``DW_AT_ranges``), both DWARF 4 and 5.

Relocatable objects (.o) carry their DWARF cross-section offsets in relocations; those of the
architectures we build for (x86-64, AArch64, i386) are applied first.
"""

from __future__ import annotations

import bisect
import os
import struct
from typing import Dict, Iterator, List, Optional, Tuple

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
# dataN and refN forms: (size, whether the value is an offset from the unit's start).
_FIXED_SIZE_FORMS = {0x0B: (1, False), 0x05: (2, False), 0x06: (4, False), 0x07: (8, False),
                     0x11: (1, True), 0x12: (2, True), 0x13: (4, True), 0x14: (8, True)}
# Forms whose size does not depend on the unit: data, ref, flag, strx/addrx with fixed widths.
_FORM_SIZES = {0x0B: 1, 0x11: 1, 0x0C: 1, 0x25: 1, 0x29: 1, 0x05: 2, 0x12: 2, 0x26: 2, 0x2A: 2,
               0x27: 3, 0x2B: 3, 0x06: 4, 0x13: 4, 0x1C: 4, 0x28: 4, 0x2C: 4, 0x07: 8, 0x14: 8,
               0x20: 8, 0x1E: 16, 0x19: 0, 0x21: 0}
REFERENCE_ATTRIBUTES = {"DW_AT_sibling", "DW_AT_type", "DW_AT_abstract_origin", "DW_AT_specification"}
# Relocation types that write a symbol's value plus addend into DWARF: (machine, type) -> size.
_RELOCATION_SIZES = {(62, 1): 8, (62, 10): 4, (62, 11): 4, (183, 257): 8, (183, 258): 4, (3, 1): 4}
_DEBUG_SECTIONS = (".debug_info", ".debug_abbrev", ".debug_str", ".debug_line", ".debug_line_str",
                   ".debug_str_offsets", ".debug_addr", ".debug_ranges", ".debug_rnglists")


class DwarfError(Exception):
    """Malformed DWARF; the caller names the file."""


class _Reader:
    __slots__ = ("data", "endian", "_unpackers")

    def __init__(self, data: bytes, endian: str):
        self.data, self.endian = data, endian
        self._unpackers = {size: struct.Struct(endian + code).unpack_from
                           for size, code in ((1, "B"), (2, "H"), (4, "I"), (8, "Q"))}

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
            if pos >= len(data):
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
        end = self.data.find(b"\0", pos)
        if end < 0:
            raise DwarfError(f"unterminated string at offset {pos}")
        return self.data[pos:end], end + 1


class Die:
    """One debugging information entry; its attributes are decoded when first asked for (most
    top-level DIEs are only skipped over, and a DIE of fixed-size attributes needs no decoding
    to find its end)."""

    __slots__ = ("cu", "offset", "tag", "has_children", "end", "_specs", "_start", "_attrs")

    def __init__(self, cu: "CompileUnit", offset: int, tag: str, specs: tuple, start: int,
                 attrs: Optional[dict], has_children: bool, end: int):
        self.cu, self.offset, self.tag, self.has_children, self.end = cu, offset, tag, has_children, end
        self._specs, self._start, self._attrs = specs, start, attrs

    @property
    def attrs(self) -> dict:
        if self._attrs is None:
            self._attrs = self.cu.decode(self._specs, self._start)[0]
        return self._attrs

    def ref(self, name: str) -> Optional["Die"]:
        target = self.attrs.get(name)
        return self.cu.dwarf.die_at(target) if isinstance(target, int) and name in REFERENCE_ATTRIBUTES else None

    def children(self) -> Iterator["Die"]:
        if not self.has_children:
            return
        cu, pos = self.cu, self.end
        while pos < cu.end:
            child = cu.parse(pos)
            if child is None:  # the null entry closing this list
                return
            yield child
            pos = child.next_sibling()

    def next_sibling(self) -> int:
        if not self.has_children:
            return self.end  # without decoding the attributes
        sibling = self.attrs.get("DW_AT_sibling")
        if isinstance(sibling, int) and sibling > self.offset:
            return sibling
        pos = self.end  # no sibling pointer: walk the subtree to its null entry
        while True:
            child = self.cu.parse(pos)
            if child is None:
                return pos + 1
            pos = child.next_sibling()


class CompileUnit:
    def __init__(self, dwarf: "DwarfInfo", offset: int):
        self.dwarf, self.offset = dwarf, offset
        info = dwarf.info
        length = info.uint(offset, 4)
        self.offset_size = 4
        pos = offset + 4
        if length == 0xFFFFFFFF:
            length, self.offset_size, pos = info.uint(pos, 8), 8, pos + 8
        self.end = pos + length
        self.version = info.uint(pos, 2)
        pos += 2
        if not 2 <= self.version <= 5:
            raise DwarfError(f"unsupported DWARF version {self.version} in the unit at {offset}")
        if self.version >= 5:
            unit_type, self.address_size = info.uint(pos, 1), info.uint(pos + 1, 1)
            abbrev_offset = info.uint(pos + 2, self.offset_size)
            pos += 2 + self.offset_size
            if unit_type in (4, 5):  # skeleton / split compile units carry a DWO id
                pos += 8
            elif unit_type in (2, 6):  # type units: signature and type offset
                pos += 8 + self.offset_size
        else:
            abbrev_offset = info.uint(pos, self.offset_size)
            self.address_size = info.uint(pos + self.offset_size, 1)
            pos += self.offset_size + 1
        self.first_die = pos
        self.abbrevs = dwarf.abbrev_table(abbrev_offset)
        self.fixed_sizes: Dict[int, Optional[int]] = {}
        self.str_offsets_base = self.addr_base = 8 if self.version >= 5 else 0  # past the tables' headers
        self.rnglists_base = 0
        top = self.parse(pos)
        if top is not None:  # the bases must be known before strx/addrx values are decoded
            self.str_offsets_base = top.attrs.get("DW_AT_str_offsets_base", 8 if self.version >= 5 else 0)
            self.addr_base = top.attrs.get("DW_AT_addr_base", 8 if self.version >= 5 else 0)
            self.rnglists_base = top.attrs.get("DW_AT_rnglists_base", 0)
            dwarf.cache.pop(pos, None)
        self._files: Optional[List[Optional[str]]] = None

    def top(self) -> Optional[Die]:
        return self.dwarf.die_at(self.first_die)

    def parse(self, pos: int) -> Optional[Die]:
        cached = self.dwarf.cache.get(pos)
        if cached is not None:
            return cached
        info = self.dwarf.info
        code, after = info.uleb(pos)
        if code == 0:
            return None
        abbrev = self.abbrevs.get(code)
        if abbrev is None:
            raise DwarfError(f"DIE at {pos} uses undefined abbreviation {code}")
        tag, has_children, specs = abbrev
        fixed = self.fixed_sizes.get(code, -1)
        if fixed == -1:
            fixed = self.fixed_sizes[code] = self.fixed_size(specs)
        if fixed is not None:
            die = Die(self, pos, tag, specs, after, None, has_children, after + fixed)
        else:
            attrs, end = self.decode(specs, after)
            die = Die(self, pos, tag, specs, after, attrs, has_children, end)
        self.dwarf.cache[pos] = die
        return die

    def decode(self, specs: tuple, pos: int) -> Tuple[dict, int]:
        attrs = {}
        for name, form, implicit in specs:
            value, pos = self.form_value(form, pos, implicit)
            if name is not None:
                attrs[name] = value
        return attrs, pos

    def fixed_size(self, specs: tuple) -> Optional[int]:
        """The size of a DIE's attributes when every form has a fixed size, else None."""
        total = 0
        for _, form, _ in specs:
            size = _FORM_SIZES.get(form)
            if size is None:
                if form in (0x0E, 0x1F, 0x17, 0x1D, 0x1F20, 0x1F21):  # offsets into other sections
                    size = self.offset_size
                elif form == 0x10:  # ref_addr
                    size = self.address_size if self.version == 2 else self.offset_size
                elif form == 0x01:  # addr
                    size = self.address_size
                else:
                    return None
            total += size
        return total

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
            table = self.dwarf.strings if form == 0x0E else self.dwarf.line_strings
            return table.cstring(offset)[0], pos + self.offset_size
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
            offset = self.dwarf.str_offsets.uint(self.str_offsets_base + index * self.offset_size, self.offset_size)
            return self.dwarf.strings.cstring(offset)[0], pos
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

    def address(self, index: int) -> int:
        return self.dwarf.addresses.uint(self.addr_base + index * self.address_size, self.address_size)

    # -- the line program header's file table -----------------------------------------------------
    def file_table(self) -> List[Optional[str]]:
        """DW_AT_decl_file index -> absolute path when the unit says where it was compiled."""
        if self._files is None:
            top = self.top()
            stmt = top.attrs.get("DW_AT_stmt_list") if top is not None else None
            comp_dir = top.attrs.get("DW_AT_comp_dir", b"") if top is not None else b""
            comp_dir = comp_dir.decode("utf-8", "replace") if isinstance(comp_dir, bytes) else ""
            self._files = self.dwarf.line_files(stmt, comp_dir, self) if isinstance(stmt, int) else []
        return self._files

    # -- DW_AT_ranges -------------------------------------------------------------------------------------
    def range_starts(self, die: Die) -> List[int]:
        value = die.attrs.get("DW_AT_ranges")
        top = self.top()
        base = top.attrs.get("DW_AT_low_pc", 0) if top is not None else 0
        base = base if isinstance(base, int) else 0
        if self.version >= 5:
            r = self.dwarf.rnglists
            if isinstance(value, tuple):  # rnglistx: an index into the unit's offset table
                value = self.rnglists_base + r.uint(self.rnglists_base + value[1] * self.offset_size,
                                                    self.offset_size)
            return self._rnglist_starts(value, base) if isinstance(value, int) else []
        r, size, pos, starts = self.dwarf.ranges, self.address_size, value, []
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
        r, starts = self.dwarf.rnglists, []
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
        self._abbrev_tables: Dict[int, dict] = {}
        self._units: List[CompileUnit] = []
        self._unit_starts: List[int] = []

    def units(self) -> Iterator[CompileUnit]:
        if not self._units:
            pos = 0
            while pos + 11 <= len(self.info.data):
                unit = CompileUnit(self, pos)
                self._units.append(unit)
                self._unit_starts.append(pos)
                if unit.end <= pos:
                    raise DwarfError(f"unit at {pos} has no length")
                pos = unit.end
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
        return self._units[index].parse(offset)

    def abbrev_table(self, offset: int) -> dict:
        table = self._abbrev_tables.get(offset)
        if table is not None:
            return table
        r, pos, table = self.abbrev, offset, {}
        while True:
            code, pos = r.uleb(pos)
            if code == 0:
                break
            tag, pos = r.uleb(pos)
            has_children = r.uint(pos, 1) == 1
            pos += 1
            specs = []
            while True:
                name, pos = r.uleb(pos)
                form, pos = r.uleb(pos)
                if name == 0 and form == 0:
                    break
                implicit = 0
                if form == 0x21:
                    implicit, pos = r.sleb(pos)
                specs.append((ATTRIBUTES.get(name), form, implicit))
            table[code] = (TAGS.get(tag, f"DW_TAG_0x{tag:x}"), has_children, tuple(specs))
        self._abbrev_tables[offset] = table
        return table

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
