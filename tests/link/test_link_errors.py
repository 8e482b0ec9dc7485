"""Every conflict class libbpf's linker reports, reported by bpf-link in one line naming the
symbol or section, both files and what differs; bpftool refuses the same inputs."""

from __future__ import annotations

import re

import pytest

from bpf_build.model.btf_ext import FuncInfo
from bpf_build.model.elf import STV_PROTECTED, SHT_REL, Object, Section
from bpf_build.errors import LinkError
from bpf_build.link import link

from link_conflicts import CONFLICTS, LICENSE
from link_oracle import bpftool_link

IDS = [c.id for c in CONFLICTS]
BY_ID = {c.id: c for c in CONFLICTS}


def _units(link_pair, c):
    return link_pair(c.first, c.second, names=["u0", "u1"],
                     cflags={"u0": c.cflags[0], "u1": c.cflags[1]})


@pytest.mark.parametrize("cid", IDS)
def test_conflict_is_reported_with_symbol_files_and_difference(link_pair, cid):
    c = BY_ID[cid]
    first, second = _units(link_pair, c)
    with pytest.raises(LinkError) as info:
        link([first, second])
    err = info.value
    assert err.path == second
    assert "\n" not in err.one_line()
    assert re.search(c.message, err.one_line()), err.one_line()


@pytest.mark.oracle
@pytest.mark.parametrize("cid", IDS)
def test_bpftool_refuses_the_same_inputs(link_pair, tmp_path, cid):
    c = BY_ID[cid]
    rc, stderr, _ = bpftool_link(_units(link_pair, c), str(tmp_path / "out.o"))
    assert rc != 0
    assert re.search(c.bpftool_message, stderr), stderr


def test_weak_definitions_in_the_same_section_do_not_conflict(link_pair):
    """The counterpart of weak-variable-sections: two weak definitions in .data link, and the
    first one wins."""
    first, second = link_pair("__weak int placed = 1;\n" + LICENSE,
                              "__weak int placed = 2;\n" + LICENSE, names=["w0", "w1"])
    out = link([first, second])
    sym = out.symbol("placed")
    data = out.section(".data")
    assert int.from_bytes(data.data[sym.value:sym.value + 4], "little") == 1


# -- inputs no compiler writes: corrupted copies of a real object -----------------------------

@pytest.fixture(scope="module")
def simple_pair(link_pair):
    return link_pair("__noinline int helper(int x) { return x + 1; }\n" + LICENSE,
                     "extern int helper(int x);\n__noinline int other(int x) { return x; }\n"
                     'SEC("socket") int p(struct __sk_buff *s) { return helper(other(1)); }\n'
                     + LICENSE, names=["s0", "s1"])


def test_btf_ext_record_size_mismatch(simple_pair):
    first, second = (Object.read(p) for p in simple_pair)
    info = second.btf_ext.func_info
    info.rec_size = 12
    for sec in info.sections:
        for r in sec.records:
            r.tail = bytes(4)
    with pytest.raises(LinkError, match=r"s1-bigger-records.o: \.BTF\.ext record size 12 for "
                                        r"section '\.text' differs from 8 in \S*s0\.bpf\.o"):
        link([first, Object.read(second.to_bytes(), path="s1-bigger-records.o")])
    # records in different sections only: caught when the .BTF.ext sections are combined
    info.sections = [sec for sec in info.sections if sec.name != ".text"]
    with pytest.raises(LinkError, match=r"\.BTF\.ext func_info records are 12 bytes in section "
                                        r"'socket' but 8 bytes in section '\.text' of \S*s0\.bpf\.o"):
        link([first, Object.read(second.to_bytes(), path="s1-socket-only.o")])


def test_protected_visibility_is_refused(simple_pair):
    obj = Object.read(simple_pair[0])
    obj.symbol("helper").visibility = STV_PROTECTED
    with pytest.raises(LinkError, match=r"symbol #\d+ 'helper' has unsupported visibility 3"):
        link([Object.read(obj.to_bytes(), path="protected.o")])


def test_unsupported_relocation_type_is_refused(simple_pair):
    obj = Object.read(simple_pair[1])
    rel = next(s for s in obj.sections if s.type == SHT_REL and s.name == ".relsocket")
    rel.relocs[0].type = 4  # R_BPF_64_NODYLD32: only valid in DWARF/BTF relocations
    with pytest.raises(LinkError, match=r"relocation #0 in '\.relsocket' has unsupported type 4"):
        link([Object.read(obj.to_bytes(), path="nodyld.o")])


def test_unsupported_section_type_is_refused(simple_pair):
    obj = Object.read(simple_pair[0])
    obj.add_section(Section(".note.x", 7, data=b"\0" * 8))  # SHT_NOTE
    with pytest.raises(LinkError, match=r"section #\d+ '\.note\.x' has unsupported type 0x7"):
        link([Object.read(obj.to_bytes(), path="note.o")])


def test_func_info_type_out_of_range_is_refused(simple_pair):
    obj = Object.read(simple_pair[1])
    obj.btf_ext.func_info.sections[0].records[0] = FuncInfo(0, 9999)
    with pytest.raises(LinkError, match=r"refers to BTF type 9999"):
        link([Object.read(obj.to_bytes(), path="bad-func-info.o")])


def test_no_inputs():
    with pytest.raises(LinkError, match="no input objects"):
        link([])
