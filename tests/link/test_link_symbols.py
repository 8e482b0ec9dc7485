"""Symbol resolution in the linked ELF itself: strong beats weak, the first weak wins, externs
resolve to definitions, hidden visibility is contagious, statics of the same name stay apart and
each section keeps one section symbol."""

from __future__ import annotations

from bpf_build.model.elf import (
    SHN_UNDEF,
    STB_GLOBAL,
    STB_LOCAL,
    STB_WEAK,
    STT_FUNC,
    STT_OBJECT,
    STT_SECTION,
    STV_DEFAULT,
    STV_HIDDEN,
)

from link_oracle import read


def _value(obj, name: str) -> int:
    sym = obj.symbol(name)
    sec = obj.sections[sym.shndx]
    return int.from_bytes(sec.data[sym.value:sym.value + sym.size], obj.byteorder, signed=True)


def test_variables(build_case):
    obj = read(build_case("vars").ours)
    weak = obj.symbol("weak_var")
    assert (weak.bind, weak.type, _value(obj, "weak_var")) == (STB_GLOBAL, STT_OBJECT, 20)
    first = obj.symbol("first_weak_var")
    assert (first.bind, _value(obj, "first_weak_var")) == (STB_WEAK, 100)
    assert _value(obj, "b_only") == 7 and obj.symbol("b_only").shndx != SHN_UNDEF
    assert obj.symbol("shared").bind == STB_GLOBAL and _value(obj, "shared") == 5
    assert obj.symbol("hidden_counter").visibility == STV_HIDDEN      # defined hidden
    assert obj.symbol("made_hidden").visibility == STV_HIDDEN         # hidden only in an extern
    assert obj.symbol("b_only").visibility == STV_DEFAULT
    names = [s.name for s in obj.symbols if s.bind != STB_LOCAL]
    assert len(names) == len(set(names))  # every global once


def test_functions(build_case):
    obj = read(build_case("funcs").ours)
    pick = obj.symbol("pick")
    assert (pick.bind, pick.type) == (STB_GLOBAL, STT_FUNC)
    assert obj.symbol("first_weak").bind == STB_WEAK
    twice = [s for s in obj.symbols if s.name == "twice"]
    assert len(twice) == 2 and all(s.bind == STB_LOCAL for s in twice)
    assert twice[0].value != twice[1].value
    sections = [s.shndx for s in obj.symbols if s.type == STT_SECTION]
    assert len(sections) == len(set(sections))  # one section symbol per section


def test_maps_and_externs(build_case):
    obj = read(build_case("maps_extern_first").ours)
    maps = obj.section_index(".maps")
    for name in ("counters", "weak_map", "outer"):
        sym = obj.symbol(name)
        assert sym.shndx == maps and sym.type == STT_OBJECT, name
    assert obj.symbol("weak_map").bind == STB_WEAK
    assert obj.symbol("bump").type == STT_FUNC
    kconfig = read(build_case("ksyms").ours)
    assert kconfig.symbol("LINUX_KERNEL_VERSION").shndx == SHN_UNDEF  # left to the loader
    assert kconfig.symbol("bpf_prog_put").shndx == SHN_UNDEF
    assert kconfig.symbol("bpf_rcu_read_lock").shndx == SHN_UNDEF


def test_input_objects_are_left_unchanged(build_case):
    """link() on Objects copies what it takes; the callers' Objects encode as before."""
    from bpf_build.model.elf import Object
    from bpf_build.link import link

    objs = [Object.read(p) for p in build_case("maps_extern_first").inputs]
    before = [o.to_bytes() for o in objs]
    linked = link(objs).to_bytes()
    assert [o.to_bytes() for o in objs] == before
    assert linked == build_case("maps_extern_first").ours  # same as linking the paths
