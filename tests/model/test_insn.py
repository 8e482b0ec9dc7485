"""Instructions: encode/decode identity on real code, disassembly, and the assembler."""

import subprocess

import pytest

from bpf_build.model import insn as I
from bpf_build.model.elf import Object
from bpf_build.errors import InsnError


def test_decode_encode_identity_on_all_code(corpus_object):
    obj = Object.read(corpus_object)
    for s in obj.sections:
        if s.is_code and s.data:
            insns = I.decode(s.data, obj.byteorder)
            assert I.encode(insns, obj.byteorder) == s.data
            assert len(insns) * 8 == len(s.data)


def test_register_nibbles_follow_byte_order():
    i = I.mov64_reg(I.R1, I.R2)
    assert i.encode("little")[1] == 0x21
    assert i.encode("big")[1] == 0x12
    assert I.decode(i.encode("big"), "big") == [i]


def test_disassembly_agrees_with_llvm_objdump(compile_c):
    from tests.model.conftest import MODEL_CORPUS
    path = compile_c(MODEL_CORPUS["atomics_and_bitfields"], name="atomics_and_bitfields")
    obj = Object.read(path)
    insns = I.decode(obj.section("tc").data)
    ours = I.disasm(insns)
    theirs = subprocess.run(["llvm-objdump-19", "-d", "--no-show-raw-insn", path], capture_output=True,
                            text=True, check=True).stdout
    their_ops = [line.split(":", 1)[1].strip() for line in theirs.splitlines()
                 if line.strip()[:1].isdigit() and ":" in line and "<" not in line]
    assert len(ours) == len(their_ops)
    # Mnemonics that carry the semantics must line up instruction by instruction.
    for mine, llvm in zip(ours, their_ops):
        for word in ("lock", "xchg", "cmpxchg", "call", "exit", "goto", "ll"):
            assert (word in mine.split()) == (word in llvm.split()) or word in ("xchg", "cmpxchg"), (mine, llvm)
    text = "\n".join(ours)
    assert "lock *(u64 *)" in text
    assert "cmpxchg_u64" in text
    assert "xchg_u64" in text
    assert "atomic_fetch_|" in text


def test_ld_imm64_is_two_slots_and_prints_once():
    insns = list(I.ld_imm64(I.R1, 0x1122334455667788)) + [I.exit_insn()]
    assert len(insns) == 3
    text = I.disasm(insns)
    assert text[0].endswith("r1 = 0x1122334455667788 ll")
    assert text[1].strip().startswith("2:")
    round_trip = I.decode(I.encode(insns))
    assert ((round_trip[1].imm & 0xFFFFFFFF) << 32 | (round_trip[0].imm & 0xFFFFFFFF)) == 0x1122334455667788


def test_disasm_forms():
    assert str(I.call_helper(1)) == "call #1"
    assert str(I.Insn(I.JMP | I.CALL, 0, I.PSEUDO_CALL, 0, 4)) == "call pc+5"
    assert str(I.Insn(I.JMP | I.CALL, 0, I.PSEUDO_KFUNC_CALL, 0, 77)) == "call kernel-function#77"
    assert str(I.ldx_mem(I.W, I.R0, I.R1, 4)) == "r0 = *(u32 *)(r1 + 4)"
    assert str(I.stx_mem(I.DW, I.R10, I.R1, -8)) == "*(u64 *)(r10 - 8) = r1"
    assert str(I.alu32_imm(I.ADD, I.R3, 2)) == "w3 += 2"
    assert I.disasm(list(I.ld_map_fd(I.R1, 5)))[0].endswith("r1 = map[fd:5] ll")
    assert str(I.Insn(I.JMP32 | I.JGT | I.X, 1, 2, 3)) == "if w1 > w2 goto +3"


def test_assembler_resolves_labels_forward_and_backward():
    a = I.Assembler()
    a.emit(I.mov64_imm(I.R0, 0))
    a.label("top")
    a.jmp_imm(I.JEQ, I.R1, 0, "out")
    a.emit(I.alu64_imm(I.ADD, I.R0, 1), I.alu64_imm(I.SUB, I.R1, 1))
    a.ja("top")
    a.emit(I.ld_imm64(I.R2, 1 << 40))
    a.label("out")
    a.emit(I.exit_insn())
    insns = a.finish()
    assert insns[7].is_exit
    assert insns[1].off == 5   # to "out" at slot 7, from slot 1
    assert insns[4].off == -4  # back to "top" at slot 1, from slot 4


def test_assembler_errors():
    a = I.Assembler()
    a.ja("nowhere")
    with pytest.raises(InsnError, match="undefined label 'nowhere'"):
        a.finish()
    b = I.Assembler()
    b.label("x")
    with pytest.raises(InsnError, match="defined twice"):
        b.label("x")


def test_decode_rejects_partial_instruction():
    with pytest.raises(InsnError, match="not a multiple of 8"):
        I.decode(b"\x00" * 12, path="prog")
