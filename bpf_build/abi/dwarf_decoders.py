"""Functions made for one abbreviation that decode its DIEs: all its attributes as a dict (a
decoder), or the few attributes bpf-abi reads of each DIE in a run of siblings that use it (a walker).

UnitValues.decode walks a shape's plan step by step: per step it tests what kind of step it is, and
per value which conversion it needs, and it fills the dict one update at a time. For the few
abbreviations decoded again and again (a struct member's: a 2000-function library decodes 8000
members through three of them) that bookkeeping costs more than the decoding. The function made
here does the same work in straight-line code: each run of fixed-size values is one unpack, each
value is converted as its form says, right after its run (the order the plan has), and the dict is
one display, constants first, then the attributes in the abbreviation's order (as the plan fills it).

A walker goes further for a record's members and a function's parameters: it decodes one DIE, appends
the attributes it is made for as one item, and when the next sibling uses the same abbreviation (its
code, read inline) goes on with it in the same loop, so a run of members costs one call, and values
nobody reads (a member's declaration line, a parameter's name and location) are stepped over.

The source only ever holds attribute names from dwarf.ATTRIBUTES, form numbers, conversion names and
integer constants, each written with repr(); the unpack functions are passed in, not written out.
"""

from __future__ import annotations

import struct
from typing import Callable, Dict, List, Optional, Tuple

from .dwarf_forms import CONVERSIONS, STRUCT_CODES, DwarfError

# (unit, .debug_info bytes, where the DIE's attributes start) -> {attribute: value}
Decoder = Callable[[object, bytes, int], dict]
# (unit, .debug_info bytes, where the first DIE's attributes start, the abbreviation's code (-1 when
# it takes more than one byte), the unit's end, the list to append to) -> where the run ends
Walker = Callable[[object, bytes, int, int, int, list], int]
# A walker that describes members (make_member_describer): (..., the list of fields to append to, the
# type surface's spellings and anonymous records by offset) -> where the run ends, -1 when it stopped
Describer = Callable[[object, bytes, int, int, int, list, dict, dict], int]
Spec = Tuple[Optional[str], int, int]  # as dwarf.Spec: (attribute name or None, form, implicit constant)

# What a record member's walker appends: these attributes' values, None for those it lacks.
MEMBER_FIELDS = ("DW_AT_name", "DW_AT_type", "DW_AT_data_member_location", "DW_AT_bit_size",
                 "DW_AT_data_bit_offset", "DW_AT_bit_offset", "DW_AT_byte_size")
# Forms whose value is an integer as decoded: data1-8 (not converted), sdata, udata, implicit_const.
_INTEGER_FORMS = (0x0B, 0x05, 0x06, 0x07, 0x0D, 0x0F, 0x21)
# How the generated source converts a value: the decoder's, and the walker's (which hoists what it
# reads of the unit, and looks a string up in the reader's memo before calling string_at).
_DECODER_CONVERSIONS = {"ref": "{0} += unit.offset", "strp": "{0} = unit.dwarf.string_at({0})"}
_WALKER_CONVERSIONS = {"ref": "{0} += base", "strp": "{0} = strings.get({0}) or string_at({0})"}


def _decoding(specs: Tuple[Spec, ...], sizes: List[Optional[int]], endian: str, namespace: Dict[str, object],
              conversions: Dict[str, str]) -> Tuple[List[str], Dict[str, str], Dict[str, str]]:
    """Lines that decode one DIE's named attributes from ``pos`` and leave ``pos`` past its last one;
    and for each name, the expression of a value the abbreviation holds, or the variable set."""
    body: List[str] = []
    constants: Dict[str, str] = {}
    values: Dict[str, str] = {}
    run: List[Tuple[Optional[str], int, int]] = []  # (name, form, size) of the open run of fixed-size values

    def close_run() -> None:
        if not run:
            return
        size = sum(s for _, _, s in run)
        named: List[Tuple[str, int]] = []
        for name, form, _ in run:
            if name is not None:
                named.append((name, form))
        if named:
            unpack = f"unpack{len(namespace)}"
            namespace[unpack] = struct.Struct(endian + "".join(
                STRUCT_CODES.get(s, f"{s}s") if name is not None else f"{s}x" for name, _, s in run)).unpack_from
            variables = [f"v{len(body)}_{i}" for i in range(len(named))]
            body.append(f"{', '.join(variables)}, = {unpack}(data, pos)")
            for variable, (name, form) in zip(variables, named):
                conversion = CONVERSIONS.get(form)
                if conversion in conversions:  # the commonest two, without a call
                    body.append(conversions[conversion].format(variable))
                elif conversion is not None:
                    body.append(f"{variable} = unit.convert({conversion!r}, {variable})")
                values[name] = variable
        body.append(f"pos += {size}")
        run.clear()

    for (name, form, implicit), size in zip(specs, sizes):
        if size is None:
            close_run()
            variable = f"v{len(body)}"
            if form == 0x08:  # string: inline, as UnitValues.decode reads it
                body += ["nul = data.find(b'\\0', pos)",
                         "if nul < 0:",
                         "    raise DwarfError(f'unterminated string at offset {pos}')"]
                body += [f"{variable} = data[pos:nul]", "pos = nul + 1"] if name is not None else ["pos = nul + 1"]
            elif name is not None:
                body.append(f"{variable}, pos = unit.form_value({form!r}, pos, {implicit!r})")
            elif form == 0x18:  # exprloc nobody reads (a parameter's location): mostly a short one
                body += ["if data[pos] < 0x80:",
                         "    pos += 1 + data[pos]",
                         "else:",
                         f"    pos = unit.skip({form!r}, pos)"]
            else:  # a value nobody reads is stepped over
                body.append(f"pos = unit.skip({form!r}, pos)")
            if name is not None:
                values[name] = variable
        elif size == 0:  # flag_present, implicit_const: the abbreviation holds the value
            if name is not None:
                constants[name] = "True" if form == 0x19 else repr(implicit)
        else:
            run.append((name, form, size))
    close_run()
    return body, constants, values


def _compile(source: str, namespace: Dict[str, object], name: str) -> Callable:
    exec(compile(source, "<bpf-abi DWARF decoder>", "exec"), namespace)  # what the source may hold: see above
    return namespace[name]  # type: ignore[return-value]


def make_decoder(specs: Tuple[Spec, ...], sizes: List[Optional[int]], endian: str) -> Decoder:
    """The decoder of an abbreviation with these attributes (``sizes``: dwarf_forms.form_size of
    each form in the unit's layout, None when it varies)."""
    namespace: Dict[str, object] = {"DwarfError": DwarfError}
    body, constants, values = _decoding(specs, sizes, endian, namespace, _DECODER_CONVERSIONS)
    display = {**constants}
    for name, variable in values.items():  # a name given twice keeps its first place, its last value
        display[name] = variable
    items = ", ".join(f"{name!r}: {expression}" for name, expression in display.items())
    source = "def decode(unit, data, pos):\n" + "".join(f"    {line}\n" for line in body) + f"    return {{{items}}}\n"
    return _compile(source, namespace, "decode")


def _make_walker(specs: Tuple[Spec, ...], sizes: List[Optional[int]], endian: str, fields: Tuple[str, ...],
                 step: List[str], arguments: str = "") -> Callable:
    """A walker running ``step`` (lines over the fields' values: {0}, {1}, ...) for each DIE."""
    namespace: Dict[str, object] = {"DwarfError": DwarfError}
    read = [(name if name in fields else None, form, implicit) for name, form, implicit in specs]
    body, constants, values = _decoding(tuple(read), sizes, endian, namespace, _WALKER_CONVERSIONS)
    expressions = [values.get(name) or constants.get(name, "None") for name in fields]
    text = "\n".join(body)
    hoisted = [line for used, line in (("base" in text, "base = unit.offset"),
                                       ("string_at" in text, "strings, string_at = unit.dwarf.strings_read, "
                                                             "unit.dwarf.string_at")) if used]
    source = (f"def walk(unit, data, pos, code, end, out{arguments}):\n" +
              "".join(f"    {line}\n" for line in hoisted) +
              "    while True:\n" + "".join(f"        {line}\n" for line in body) +
              "".join(f"        {line.format(*expressions)}\n" for line in step) +
              "        if pos >= end or data[pos] != code:\n"
              "            return pos\n"
              "        pos += 1\n")
    return _compile(source, namespace, "walk")


def make_member_walker(specs: Tuple[Spec, ...], sizes: List[Optional[int]], endian: str) -> Walker:
    """A walker of DW_TAG_member DIEs: appends a tuple of their MEMBER_FIELDS."""
    return _make_walker(specs, sizes, endian, MEMBER_FIELDS, ["out.append((" + ", ".join(
        f"{{{i}}}" for i in range(len(MEMBER_FIELDS))) + "))"])


def make_parameter_walker(specs: Tuple[Spec, ...], sizes: List[Optional[int]], endian: str) -> Walker:
    """A walker of DW_TAG_formal_parameter DIEs: appends the offset DW_AT_type refers to, None when
    it has none (or refers outside .debug_info)."""
    forms = [form for name, form, _ in specs if name == "DW_AT_type"]
    is_offset = len(forms) == 1 and CONVERSIONS.get(forms[0]) == "ref"  # ref1-8: always an offset
    return _make_walker(specs, sizes, endian, ("DW_AT_type",), ["out.append({0})" if is_offset else
                                                                "out.append({0} if isinstance({0}, int) else None)"])


def make_member_describer(specs: Tuple[Spec, ...], sizes: List[Optional[int]], endian: str) -> Optional[Describer]:
    """A describer of DW_TAG_member DIEs that say no more about where and what a member is than a name,
    a reference to its type (ref1-8) and a whole byte offset as an integer (no bit-field attributes);
    None for other abbreviations. It appends each member's field of a record's description,
    [name, byte offset, spelling of its type], when its type is spelled already and known not to be
    an anonymous struct or union (``spelled`` and ``anonymous``: the type surface's memos by offset),
    and returns -1 at the first member that is not (dwarftypes then describes the record its general way)."""
    forms: Dict[str, Tuple[int, Optional[int]]] = {name: (form, size) for (name, form, _), size in zip(specs, sizes)
                                                  if name is not None}
    type_form, type_size = forms.get("DW_AT_type", (0, None))
    if "DW_AT_name" not in forms or CONVERSIONS.get(type_form) != "ref" or type_size is None or \
            forms.get("DW_AT_data_member_location", (0, None))[0] not in _INTEGER_FORMS or \
            any(name in forms for name in MEMBER_FIELDS[3:6]):
        return None
    return _make_walker(specs, sizes, endian, MEMBER_FIELDS[:3], [
        "spelling = spelled.get({1})",
        "if spelling is None or anonymous.get({1}) is not False or {0}.__class__ is not bytes:",
        "    return -1",
        "out.append([{0}.decode('utf-8', 'replace'), {2}, spelling])"], ", spelled, anonymous")
