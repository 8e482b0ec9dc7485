"""One abbreviation's attributes decoded by a Python function made for that abbreviation.

UnitValues.decode walks a shape's plan step by step: per step it tests what kind of step it is, and
per value which conversion it needs, and it fills the dict one update at a time. For the few
abbreviations decoded again and again (a struct member's: a 2000-function library decodes 8000
members through three of them) that bookkeeping costs more than the decoding. The function made
here does the same work in straight-line code: each run of fixed-size values is one unpack, each
value is converted as its form says, right after its run (the order the plan has), and the dict is
one display, constants first, then the attributes in the abbreviation's order (as the plan fills it).

The source only ever holds attribute names from dwarf.ATTRIBUTES, form numbers, conversion names and
integer constants, each written with repr(); the unpack functions are passed in, not written out.
"""

from __future__ import annotations

import struct
from typing import Callable, Dict, List, Optional, Tuple

from .dwarf_forms import CONVERSIONS, STRUCT_CODES, DwarfError

# (unit, .debug_info bytes, where the DIE's attributes start) -> {attribute: value}
Decoder = Callable[[object, bytes, int], dict]
Spec = Tuple[Optional[str], int, int]  # as dwarf.Spec: (attribute name or None, form, implicit constant)


def make_decoder(specs: Tuple[Spec, ...], sizes: List[Optional[int]], endian: str) -> Decoder:
    """The decoder of an abbreviation with these attributes (``sizes``: dwarf_forms.form_size of
    each form in the unit's layout, None when it varies)."""
    namespace: Dict[str, object] = {"DwarfError": DwarfError}
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
                if conversion == "ref":
                    body.append(f"{variable} += unit.offset")
                elif conversion == "strp":
                    body.append(f"{variable} = unit.dwarf.string_at({variable})")
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
                body += ["end = data.find(b'\\0', pos)",
                         "if end < 0:",
                         "    raise DwarfError(f'unterminated string at offset {pos}')",
                         f"{variable} = data[pos:end]",
                         "pos = end + 1"]
            else:
                body.append(f"{variable}, pos = unit.form_value({form!r}, pos, {implicit!r})")
            if name is not None:
                values[name] = variable
        elif size == 0:  # flag_present, implicit_const: the abbreviation holds the value
            if name is not None:
                constants[name] = "True" if form == 0x19 else repr(implicit)
        else:
            run.append((name, form, size))
    close_run()
    display = {**constants}
    for name, variable in values.items():  # a name given twice keeps its first place, its last value
        display[name] = variable
    items = ", ".join(f"{name!r}: {expression}" for name, expression in display.items())
    source = "def decode(unit, data, pos):\n" + "".join(f"    {line}\n" for line in body) + f"    return {{{items}}}\n"
    exec(compile(source, "<bpf-abi DWARF decoder>", "exec"), namespace)  # what the source may hold: see above
    return namespace["decode"]  # type: ignore[return-value]
