"""The model's enums: readable members whose numbers are the kernel's, printed as numbers, and
the module-level names other modules import (``B.STRUCT``, ``I.ALU64``) unchanged."""

import pytest

from bpf_build.model import btf as B
from bpf_build.model import insn as I
from bpf_build.model.ints import s32


def test_btf_kind_names_are_the_uapi_numbers():
    assert [int(k) for k in B.Kind] == list(range(1, 20))
    assert (B.INT, B.STRUCT, B.FUNC_PROTO, B.ENUM64) == (1, 4, 13, 19)
    assert type(B.STRUCT) is int  # compared in every hot loop: exact ints compare fastest
    assert repr(B.Kind(B.STRUCT)) == "<Kind.STRUCT: 4>"
    assert B.KIND_NAMES[B.DECL_TAG] == "DECL_TAG" and B.MAX_KIND == B.ENUM64


def test_parsed_records_hold_plain_int_kinds():
    btf = B.Btf()
    btf.add(B.BtfType(B.Kind.INT, "int", size=4, int_encoding=B.INT_SIGNED, int_bits=32))
    btf.add(B.BtfType(B.PTR, type=1))
    parsed = B.Btf.parse(btf.encode())
    assert [type(t.kind) for t in parsed.types] == [int, int]
    assert [t.kind_name for t in parsed.types] == ["INT", "PTR"]
    assert B.dump_raw(parsed) == B.dump_raw(btf)


@pytest.mark.parametrize("member, number", [(B.INT_SIGNED, 1), (B.INT_BOOL, 4), (B.FUNC_GLOBAL, 1),
                                            (B.VAR_GLOBAL_EXTERN, 2), (I.ALU64, 7), (I.DW, 0x18),
                                            (I.MEMSX, 0x80), (I.JSLE, 0xD0), (I.CMPXCHG, 0xF1),
                                            (I.PSEUDO_MAP_IDX_VALUE, 6), (I.PSEUDO_KFUNC_CALL, 2)])
def test_enum_members_print_as_their_numbers(member, number):
    assert member == number
    assert (str(member), f"{member}", f"{member:#x}") == (str(number), str(number), hex(number))
    assert repr(member).startswith("<") and member.name in repr(member)


def test_opcodes_combine_into_plain_codes():
    code = I.ALU64 | I.MOV | I.K
    assert type(code) is int and code == 0xB7
    insn = I.mov64_imm(I.R1, 5)
    assert insn.cls is I.InsnClass.ALU64 and insn.code == code
    assert str(insn) == "r1 = 5"


@pytest.mark.parametrize("value, signed", [(0, 0), (0x7FFFFFFF, 0x7FFFFFFF), (0x80000000, -(1 << 31)),
                                           (0xFFFFFFFF, -1), (-1, -1), (0x1_0000_0005, 5)])
def test_s32_reads_the_low_32_bits_signed(value, signed):
    assert s32(value) == signed


def test_ld_imm64_splits_a_64_bit_value_into_signed_halves():
    lo, hi = I.ld_imm64(I.R2, 0xFFFFFFFF_80000000)
    assert (lo.imm, hi.imm) == (-(1 << 31), -1)
    assert I.decode(I.encode([lo, hi])) == [lo, hi]  # imm fields are signed 32-bit
