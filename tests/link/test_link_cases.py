"""Each case of link_cases.py, linked by bpf-link: it loads in the kernel and its programs return
what only a correct link can produce; it matches `bpftool gen object`; relinking is stable."""

from __future__ import annotations

import re

import pytest

from bpf_build.errors import BtfError
from bpf_build.link import link

from link_oracle import bpftool_link, read
from link_cases import CASES, CASES_BY_NAME
from link_compare import differences, first_byte_difference, relocations, symbols
from link_kernel import LoadError, load_and_run, require_bpf

CASE_NAMES = [c.name for c in CASES]
IDENTICAL = [c.name for c in CASES if c.vs_bpftool == "identical"]


def _expected(case):
    return {prog: (v() if callable(v) else v) for prog, v in case.expect.items()}


@pytest.mark.kernel
@pytest.mark.parametrize("name", CASE_NAMES)
def test_linked_object_loads_and_runs(build_case, name):
    require_bpf()
    case = CASES_BY_NAME[name]
    built = build_case(name)
    runs = {prog: case.run_args.get(prog, {}) for prog in case.expect}
    assert load_and_run(built.path, runs) == _expected(case)


@pytest.mark.oracle
@pytest.mark.parametrize("name", IDENTICAL)
def test_output_is_byte_identical_to_bpftool(build_case, name):
    built = build_case(name)
    rc, err, theirs = built.bpftool()
    assert rc == 0, err
    assert differences(read(built.ours), read(theirs)) == []
    if built.ours != theirs:
        pytest.fail(f"same content, different bytes: {first_byte_difference(built.ours, theirs)[1]}")


@pytest.mark.oracle
def test_bpftool_refuses_ksyms_declared_in_two_objects(build_case):
    """libbpf 1.1 tries to size the types of kfuncs and typeless ksyms seen twice and fails;
    bpf-link keeps one .ksyms entry for each (the kernel test above runs the result)."""
    built = build_case("ksyms_twice")
    rc, err, _ = built.bpftool()
    assert rc != 0 and "failed to resolve size of underlying type" in err
    btf = read(built.ours).btf
    datasec = btf.get(btf.find(".ksyms"))
    names = sorted(btf.type(v.type).name for v in datasec.secinfo)
    assert names == ["bpf_prog_put", "bpf_rcu_read_lock", "bpf_rcu_read_unlock"]


UNLOADABLE = {  # case -> maps whose .maps DATASEC entry libbpf 1.1 gets wrong
    # declared extern in the first object ('counters' too, but its definition lands at 0)
    "maps_extern_first": {"outer"},
    "maps_initialised": {"outer"},                # resized to its type by a later extern
}


@pytest.mark.kernel
@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(UNLOADABLE))
def test_map_datasec_entries_follow_the_definitions(build_case, name):
    """Every map's .maps DATASEC entry is where its symbol says, with its size; libbpf 1.1's
    are not for the maps listed, and bpftool's output then fails to load (ours loads: see
    test_linked_object_loads_and_runs)."""
    require_bpf()
    assert CASES_BY_NAME[name].vs_bpftool == "unloadable"
    built = build_case(name)
    rc, err, theirs = built.bpftool()
    assert rc == 0, err
    ours = read(built.ours)

    def maps_layout(obj):
        datasec = obj.btf.get(obj.btf.find(".maps"))
        return {obj.btf.type(v.type).name: (v.offset, v.size) for v in datasec.secinfo}

    symbols = {s.name: (s.value, s.size) for s in ours.symbols if s.name in maps_layout(ours)}
    assert maps_layout(ours) == symbols
    # libbpf 1.1 misplaces the entries of the maps in UNLOADABLE; where that puts one on top of
    # another, our reader refuses the BTF as the kernel does.
    try:
        theirs_layout = maps_layout(read(theirs))
    except BtfError as e:
        assert re.search(r"DATASEC '\.maps': entry \[\d+\] at offset \d+ overlaps another", str(e))
    else:
        assert {k for k in symbols if theirs_layout[k] != symbols[k]} == UNLOADABLE[name]
    with pytest.raises(LoadError, match="find map"):
        load_and_run(built.workdir + "/bpftool.o", {})


@pytest.mark.parametrize("name", CASE_NAMES)
def test_relinking_is_stable(build_case, name):
    """As the kernel selftests require of libbpf: linking the linked object again, twice, gives
    the same bytes the second and third time. The first relink may reorder sections (all data
    before all relocations) and, like libbpf, recomputes DATASEC offsets from the symbols."""
    built = build_case(name)
    linked2 = link([read(built.ours)]).to_bytes()
    linked3 = link([read(linked2)]).to_bytes()
    assert linked2 == linked3
    first, second = read(built.ours), read(linked2)
    assert sorted(symbols(first)) == sorted(symbols(second))
    assert relocations(first) == relocations(second)


@pytest.mark.oracle
@pytest.mark.parametrize("name", CASE_NAMES)
def test_relinking_matches_bpftool(build_case, name):
    built = build_case(name)
    rc, err, theirs = bpftool_link([built.path], built.workdir + "/relinked.bpftool.o")
    assert rc == 0, err
    assert link([read(built.ours)]).to_bytes() == theirs
