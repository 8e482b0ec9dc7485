"""DWARF attribute forms: reading a section's bytes, the size of each form, and decoding a value
of any form into a plain Python value (dwarf.py describes the values), as a unit does it.

dwarf.CompileUnit walks a unit's DIEs and builds on UnitValues here for their attribute values.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Callable, Optional, Tuple

if TYPE_CHECKING:
    from .dwarf import DwarfInfo
    from .dwarf_shapes import Shape

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
CONVERSIONS = {0x11: "ref", 0x12: "ref", 0x13: "ref", 0x14: "ref", 0x0E: "strp", 0x1F: "line_strp",
               0x0C: "flag", 0x25: "strx", 0x26: "strx", 0x27: "strx", 0x28: "strx", 0x29: "addrx",
               0x2A: "addrx", 0x2B: "addrx", 0x2C: "addrx", 0x1E: "block", 0x20: "foreign", 0x1C: "foreign"}
STRUCT_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}  # other sizes (3, 16) unpack as bytes

# Decodes through a shape's plan before a decoder is made for it (see UnitValues.decode).
DECODER_AFTER = 8

Layout = Tuple[int, int, int, str]  # a unit's (offset size, address size, version, byte order)

# Where one attribute sits: (distance, form, implicit constant, and for a fixed-size form that
# unpacks as an integer: its unpack function and the conversion of the unpacked value).
Place = Tuple[int, int, int, Optional[Callable], Optional[str]]


def as_text(value) -> Optional[str]:
    """A string attribute's value as text (None when the value is not a string)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def as_int(value) -> Optional[int]:
    """A constant attribute's value (None when the value is not an integer)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class DwarfError(Exception):
    """Malformed DWARF; the caller names the file."""


class Reader:
    __slots__ = ("data", "endian", "_unpackers")

    def __init__(self, data: bytes, endian: str):
        self.data, self.endian = data, endian
        self._unpackers = {size: struct.Struct(endian + code).unpack_from for size, code in STRUCT_CODES.items()}

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


def form_size(form: int, layout: Layout) -> Optional[int]:
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


class UnitValues:
    """How one unit's attribute values decode: its layout and bases, and the section readers of the
    DwarfInfo it belongs to (dwarf.CompileUnit sets them all)."""

    dwarf: "DwarfInfo"
    offset: int
    offset_size: int
    address_size: int
    version: int
    str_offsets_base: int
    addr_base: int

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
            actual_size = form_size(actual, (self.offset_size, self.address_size, self.version, r.endian))
            return pos + actual_size if actual_size is not None else self.skip(actual, pos)
        raise DwarfError(f"unsupported attribute form 0x{form:x}")

    def decode(self, shape: "Shape", pos: int) -> dict:
        """Every attribute of a DIE (those bpf-abi reads) whose attributes start at ``pos``: through
        the shape's plan, or the decoder made for it once it has been decoded DECODER_AFTER times
        (making one costs about as much as decoding a few dozen DIEs through the plan)."""
        data = self.dwarf.info.data
        decoder = shape.decoder
        if decoder is not None:
            return decoder(self, data, pos)
        shape.decodes += 1
        if shape.decodes > DECODER_AFTER:
            return shape.make_decoder()(self, data, pos)
        return self.decode_by_plan(shape, pos)

    def decode_by_plan(self, shape: "Shape", pos: int) -> dict:
        """decode, step by step through the shape's plan."""
        attrs: dict = dict(shape.constants)
        data = self.dwarf.info.data
        for step in shape.plan:
            if step[0]:  # a run of fixed-size values
                _, unpack, size, names, conversions = step
                if names:
                    attrs.update(zip(names, unpack(data, pos)))
                    for name, conversion in conversions:
                        if conversion == "ref":  # the commonest two, without a call
                            attrs[name] += self.offset
                        elif conversion == "strp":
                            attrs[name] = self.dwarf.string_at(attrs[name])
                        else:
                            attrs[name] = self.convert(conversion, attrs[name])
                pos += size
            else:
                _, name, form, implicit = step
                if form == 0x08:  # string: short names are inline (gcc), the commonest variable form
                    end = data.find(b"\0", pos)
                    if end < 0:
                        raise DwarfError(f"unterminated string at offset {pos}")
                    value, pos = data[pos:end], end + 1
                else:
                    value, pos = self.form_value(form, pos, implicit)
                if name is not None:
                    attrs[name] = value
        return attrs

    def read(self, place: Place, pos: int):
        """The value of the attribute at ``pos`` that ``place`` describes."""
        _, form, implicit, unpack, conversion = place
        if unpack is None:
            if form == 0x21:  # implicit_const (gcc's DW_AT_decl_file, often): the abbreviation holds it
                return implicit
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

    def form_value(self, form: int, pos: int, implicit: int, r: Optional[Reader] = None):
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
