"""What an abbreviation is, as the units of one layout use it (a ``Shape``): where each attribute
sits, how to step over a DIE, how to decode all its attributes; and the process-wide table of
shapes, shared by every library read (dwarf.py walks DIEs through them).
"""

from __future__ import annotations

import struct
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

from .dwarf_decoders import (Decoder, Describer, Walker, make_decoder, make_member_describer, make_member_walker,
                             make_parameter_walker)
from .dwarf_forms import CONVERSIONS, STRUCT_CODES, Layout, Place, form_size

SIBLING = "DW_AT_sibling"
Spec = Tuple[Optional[str], int, int]  # (attribute name, or None when not read; form; implicit constant)
Abbreviation = Tuple[str, bool, Tuple[Spec, ...]]  # (tag, has children, attributes)


def _place(distance: int, form: int, implicit: int, size: Optional[int], endian: str) -> Place:
    code = STRUCT_CODES.get(size) if size else None
    unpack = struct.Struct(endian + code).unpack_from if code is not None else None
    return distance, form, implicit, unpack, CONVERSIONS.get(form)


class Shape:
    """One abbreviation as the units of one layout use it: the tag, whether children follow, which
    attributes are present, where they sit, and how to decode them all at once.

    ``at_start``/``at_end``: attribute -> a Place, at a distance from the DIE's start, or back from
    its end, for attributes that only fixed-size forms separate from that edge.
    ``plan``: steps, each a run of fixed-size attributes (one unpack; attributes bpf-abi does not
    read are padding) or one variable-size attribute. ``skips``: to find the end of a DIE whose
    size varies, (fixed bytes, variable form or None) pairs."""

    __slots__ = ("tag", "has_children", "present", "fixed_size", "at_start", "at_end", "constants",
                 "plan", "skips", "first_variable", "after_first", "specs", "layout", "decodes", "decoder",
                 "sibling_at", "type_at", "walks", "walker",
                 "describer", "describer_made")

    def __init__(self, tag: str, has_children: bool, specs: Tuple[Spec, ...], layout: Layout):
        self.tag, self.has_children = tag, has_children
        self.specs, self.layout = specs, layout
        # Decoded this many times through the plan; past DECODER_AFTER, through a decoder made for it.
        self.decodes = 0
        self.decoder: Optional[Decoder] = None
        # A member's or parameter's: walked this many times without a walker; past WALKER_AFTER,
        # by a walker made for it (dwarf_children.py).
        self.walks = 0
        self.walker: Optional[Walker] = None
        # A member's describer (made with its walker: dwarf_decoders.make_member_describer), if it can have one.
        self.describer: Optional[Describer] = None
        self.describer_made = False
        self.present: FrozenSet[str] = frozenset(name for name, _, _ in specs if name is not None)
        sizes = [form_size(form, layout) for _, form, _ in specs]
        endian = layout[3]
        self.at_start: Dict[str, Place] = {}
        self.at_end: Dict[str, Place] = {}
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
        # DW_AT_sibling as walks read it inline: (from the start?, distance, unpack) when a
        # fixed-size unit-relative reference a fixed distance from an edge, else None.
        self.sibling_at: Optional[Tuple[bool, int, Callable]] = None
        for from_start, places in ((True, self.at_start), (False, self.at_end)):
            place = places.get(SIBLING)
            if place is not None:
                if place[3] is not None and place[4] == "ref":
                    self.sibling_at = (from_start, place[0], place[3])
                break
        # DW_AT_type as spelling reads it inline: (distance from the start, unpack) when a fixed-size
        # unit-relative reference a fixed distance from the start (a pointer's or qualifier's), else None.
        type_place = self.at_start.get("DW_AT_type")
        self.type_at: Optional[Tuple[int, Callable]] = None
        if type_place is not None and type_place[3] is not None and type_place[4] == "ref":
            self.type_at = (type_place[0], type_place[3])
        # Attributes a fixed distance past the first variable-size one (a parameter's DW_AT_type
        # after its inline name): found by stepping over that one value, not by decoding the DIE.
        self.first_variable: Optional[Tuple[int, int]] = None  # (distance from the start, form)
        self.after_first: Dict[str, Place] = {}
        if self.fixed_size is None:
            index = sizes.index(None)
            self.first_variable = (sum(s for s in sizes[:index] if s is not None), specs[index][1])
            distance = 0
            for (name, form, implicit), size in zip(specs[index + 1:], sizes[index + 1:]):
                if name is not None and name not in self.at_start and name not in self.at_end:
                    self.after_first.setdefault(name, _place(distance, form, implicit, size, endian))
                if size is None:
                    break
                distance += size
        self.constants: Dict[str, object] = {}
        self.plan: List[tuple] = []
        self.skips: List[Tuple[int, Optional[int]]] = []
        self._make_plan(specs, sizes, endian)

    def make_decoder(self) -> Decoder:
        """The decoder made for this shape (dwarf_decoders.py): the plan's work in straight-line code."""
        self.decoder = make_decoder(self.specs, [form_size(form, self.layout) for _, form, _ in self.specs],
                                    self.layout[3])
        return self.decoder

    def make_walker(self) -> Walker:
        """The walker made for this shape, a DW_TAG_member's or a DW_TAG_formal_parameter's without
        children (dwarf_decoders.py)."""
        sizes = [form_size(form, self.layout) for _, form, _ in self.specs]
        if self.tag == "DW_TAG_member":
            self.walker = make_member_walker(self.specs, sizes, self.layout[3])
            self.describer = make_member_describer(self.specs, sizes, self.layout[3])
            self.describer_made = True
        else:
            self.walker = make_parameter_walker(self.specs, sizes, self.layout[3])
        return self.walker

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
            codes.append(STRUCT_CODES.get(size, f"{size}s"))
            names.append(name)
            conversion = CONVERSIONS.get(form)
            if conversion is not None:
                conversions.append((name, conversion))
        close_run()
        self.skips.append((skipped, None))


# Shapes by what they are made of. Each unit of a gcc library has its own abbreviation table, but
# most entries repeat from table to table and from one build of a library to the next, so a shape
# is made once per process (there are a few thousand different ones in practice; see shape_of).
_SHAPES: Dict[Tuple[Abbreviation, Layout], Shape] = {}
_SHAPES_KEPT = 50_000


def shape_of(abbrev: Abbreviation, layout: Layout) -> Shape:
    shape = _SHAPES.get((abbrev, layout))
    if shape is None:
        if len(_SHAPES) >= _SHAPES_KEPT:  # only a pathological input has this many: start again
            _SHAPES.clear()
        shape = _SHAPES[(abbrev, layout)] = Shape(*abbrev, layout)
    return shape
