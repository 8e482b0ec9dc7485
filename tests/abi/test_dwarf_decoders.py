"""The decoders made per abbreviation (dwarf_decoders.py) decode every DIE exactly as the plan does:
same attributes, values and order, on gcc and clang output of several DWARF versions; the walkers
made for members and parameters read every record's and function's children as the plan does."""

from __future__ import annotations

import subprocess

import pytest

from bpf_build.abi.dwarf_load import read_dwarf
from bpf_build.abi.dwarf_children import VARIADIC, describe_members, member_fields, parameter_types
from bpf_build.abi.dwarf_decoders import MEMBER_FIELDS
from bpf_build.abi.dwarftypes import _Surface
from bpf_build.abi.inputs import map_input
from bpf_build.project.compile import find_clang

API = '#define API __attribute__((visibility("default")))\n'
SOURCE = """
#include <stdarg.h>
#include <stddef.h>
enum mode { MODE_A = -1, MODE_B = 7, MODE_C = 1 << 20 };
struct flags { unsigned int a : 3, b : 5; int c : 1; unsigned long long wide : 40; };
struct opts {
    size_t sz;
    union { int x; float y; struct { char lo, hi; }; };
    const char *names[4];
    int (*callback)(void *ctx, ...);
    volatile _Atomic long counter;
    struct flags f;
    enum mode mode;
};
typedef struct opts opts_t;
static int counter;
API int t_run(const opts_t *o, unsigned char n, ...) {
    va_list ap;
    va_start(ap, n);
    int extra = va_arg(ap, int);
    va_end(ap);
    return o ? o->f.b + o->mode + extra + counter++ : n;
}
API long t_sum(const long *values, size_t count) {
    long total = 0;
    for (size_t i = 0; i < count; i++)
        total += values[i];
    return total;
}
API struct opts t_global;
"""


def _all_dies(unit, pos):
    for die in unit.entries(pos):
        yield die
        if die.has_children:
            yield from _all_dies(unit, die.end)


def _assert_same_decoding(path):
    dwarf = read_dwarf(path, map_input(path))
    shapes, compared = set(), 0
    for unit in dwarf.units():
        for die in _all_dies(unit, unit.first_die):
            by_plan = unit.decode_by_plan(die.shape, die.start)
            decoded = die.shape.make_decoder()(unit, dwarf.info.data, die.start)
            assert list(decoded.items()) == list(by_plan.items()), (die.tag, die.offset)
            shapes.add(id(die.shape))
            compared += 1
    assert compared > 100 and len(shapes) > 15 and len(list(dwarf.units())) == 2
    _assert_same_children(dwarf)
    _assert_same_descriptions(dwarf)


def _assert_same_children(dwarf):
    """member_fields and parameter_types read each DIE's children as the plan decodes them, both with
    a walker made for every member and parameter shape and with none."""
    walked = {"DW_TAG_member": 0, "DW_TAG_formal_parameter": 0}
    for unit in dwarf.units():
        expected = {}
        for die in (die for die in _all_dies(unit, unit.first_die) if die.has_children):
            members, types, leading = [], [], True
            for child in die.children():
                attrs = unit.decode_by_plan(child.shape, child.start)
                if child.tag == "DW_TAG_member":
                    members.append(tuple(attrs.get(name) for name in MEMBER_FIELDS))
                if leading and child.tag == "DW_TAG_formal_parameter":
                    target = attrs.get("DW_AT_type")
                    types.append(target if isinstance(target, int) else None)
                elif leading and child.tag == "DW_TAG_unspecified_parameters":
                    types.append(VARIADIC)
                else:
                    leading = False  # parameters are the leading children
            shapes = [child.shape for child in die.children() if child.tag in walked and not child.has_children]
            for shape in shapes:
                shape.walker, shape.walks = None, -1_000_000
            unit.walkers.clear()  # the unit's walkers by code, kept from the DIEs before
            assert (member_fields(unit, die), parameter_types(unit, die)) == (members, types), die.offset
            for shape in shapes:
                shape.make_walker()
                shape.walks = 0
                walked[shape.tag] += 1
            assert (member_fields(unit, die), parameter_types(unit, die)) == (members, types), die.offset
            expected[die.offset] = (die, (members, types))
        for die, read in expected.values():  # again, with the unit's walkers by code (and ends) known
            assert (member_fields(unit, die), parameter_types(unit, die)) == read, die.offset
    assert all(walked.values()), walked


def _assert_same_descriptions(dwarf):
    """A record whose members the describers describe gets the fields the general way gives; those
    with a bit-field or an anonymous struct or union member are left to the general way."""
    surface, outcomes = _Surface(), []
    for unit in dwarf.units():
        for die in _all_dies(unit, unit.first_die):
            if die.tag not in ("DW_TAG_structure_type", "DW_TAG_union_type") or not die.has_children:
                continue
            general = []
            surface.add_members(dwarf, member_fields(unit, die), 0, general)  # spells the members' types
            for child in die.children():
                if child.tag == "DW_TAG_member" and not child.has_children:
                    child.shape.make_walker()  # and the describer
            fields = []
            described = describe_members(unit, die, fields, surface.spelled, surface.anonymous)
            assert not described or fields == general, die.offset
            outcomes.append(described)
    # DWARF 2 places members by a location expression, which no describer reads
    old_style = any(unit.version < 3 for unit in dwarf.units())
    assert outcomes.count(True) >= (0 if old_style else 4) and outcomes.count(False) >= 4, outcomes


def _library(directory, compiler, flags):
    """A library of two units (the second's references are relative to a unit not at offset 0)."""
    (directory / "first.c").write_text(API + SOURCE)
    (directory / "second.c").write_text(API + SOURCE.replace("t_", "u_"))
    lib = directory / "libt.so"
    subprocess.run([compiler, "-g", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", *flags, "-o", str(lib),
                    str(directory / "first.c"), str(directory / "second.c")], check=True)
    return str(lib)


@pytest.mark.parametrize("flags", [("-gdwarf-5",), ("-gdwarf-4",), ("-gdwarf-2", "-gstrict-dwarf"),
                                   ("-gdwarf-5", "-O0")])
def test_decoders_decode_as_the_plan_does_gcc(tmp_path, flags):
    _assert_same_decoding(_library(tmp_path, "gcc", flags))


@pytest.mark.parametrize("flags", [("-gdwarf-5",), ("-gdwarf-4",)])
def test_decoders_decode_as_the_plan_does_clang(tmp_path, flags):
    # clang's DWARF 5 names strings and addresses by index (strx1, addrx): conversions gcc's output lacks
    _assert_same_decoding(_library(tmp_path, find_clang().path, flags))
