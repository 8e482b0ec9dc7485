"""Big-endian objects (clang -target bpfeb) link exactly like their little-endian twins: the same
sections, symbols, relocations, BTF and BTF.ext, instructions that decode the same, and the
output stays big-endian. bpftool 7.1 only links host-endian objects, so the little-endian link of
the same sources is the reference here."""

from __future__ import annotations

import pytest

from bpf_build.model.btf import dump_raw
from bpf_build.model.elf import SHT_PROGBITS
from bpf_build.errors import LinkError
from bpf_build.model.insn import decode
from bpf_build.link import link

from link_compare import btf_ext_records, relocations, symbols
from link_oracle import read

BE_CASES = ["funcs", "vars", "maps", "core", "chain"]


def _layout(obj):
    return [(s.name, s.type, s.flags, s.addralign, s.entsize, s.size) for s in obj.sections[1:]]


@pytest.mark.parametrize("name", BE_CASES)
def test_big_endian_link_matches_little_endian_link(build_case, name):
    big = read(build_case(name, target="bpfeb").ours)
    little = read(build_case(name).ours)
    assert big.byteorder == "big" and big.btf.byteorder == "big"
    assert _layout(big) == _layout(little)
    assert symbols(big) == symbols(little)
    assert relocations(big) == relocations(little)
    assert dump_raw(big.btf) == dump_raw(little.btf)
    assert btf_ext_records(big) == btf_ext_records(little)
    def as_tuples(insns):
        return [(i.code, i.dst, i.src, i.off, i.imm) for i in insns]

    for b, le in zip(big.sections, little.sections):
        if b.type == SHT_PROGBITS and b.is_code:
            assert as_tuples(decode(b.data, "big")) == as_tuples(decode(le.data, "little")), b.name


@pytest.mark.parametrize("name", ["funcs", "vars"])
def test_big_endian_relinking_is_stable(build_case, name):
    built = build_case(name, target="bpfeb")
    linked2 = link([read(built.ours)]).to_bytes()
    assert link([read(linked2)]).to_bytes() == linked2
    assert linked2[5] == 2  # EI_DATA: ELFDATA2MSB


def test_static_call_through_section_symbol_is_shifted_in_big_endian(build_case):
    """funcs_b calls its static twice() through the .text section symbol; after linking the
    call's imm must count a's .text too, also when imm is stored big-endian."""
    big, little = (read(build_case("funcs", target=t).ours) for t in ("bpfeb", "bpfel"))
    for obj in (big, little):
        text = obj.section(".text")
        calls = [i.imm for i in decode(text.data, obj.byteorder) if i.is_pseudo_call]
        assert calls
    assert [i.imm for i in decode(big.section("socket").data, "big")] == \
           [i.imm for i in decode(little.section("socket").data, "little")]


def test_mixed_byte_orders_are_refused(build_case):
    be = build_case("funcs", target="bpfeb").inputs[0]
    le = build_case("funcs").inputs[1]
    with pytest.raises(LinkError, match=r"big-endian object cannot be linked with .*little-endian"):
        link([le, be])
