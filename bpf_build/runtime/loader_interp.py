"""The instruction interpreter that runs a loader program from user space (user_loader.py).

A loader is straight-line code with forward jumps. The interpreter gives it eleven 64-bit
registers, three regions of memory (its blob, its context and a stack), the ALU and jump
operations, loads and stores, and ld_imm64 (a constant, or the address of the blob map's value);
each helper call goes to ``_helper``, which user_loader.UserSpaceLoader provides. Anything else,
which a loader never does, is a LoaderFault.
"""

from __future__ import annotations

import ctypes
import struct
import sys
from typing import List, Tuple

from .errors import BpfRuntimeError, LoaderError
from .loader_contract import BLOB_FD_ARRAY_INDEX
from .uapi import PseudoLoad

STACK_SIZE = 512
MAX_STEPS = 1 << 22   # a loader is straight-line code with forward jumps; this is a runaway guard
_MASK = (1 << 64) - 1

INSN = struct.Struct("=BBhi")  # struct bpf_insn: code, dst_reg/src_reg, off, imm
_SIZES = {0x00: "I", 0x08: "H", 0x10: "B", 0x18: "Q"}


class LoaderFault(BpfRuntimeError):
    """The loader did something a loader never does: a bug in it, not a kernel answer."""


class LoaderInterpreter:
    """A loader program's instructions, run over a fresh copy of its blob, its context and a stack."""

    def __init__(self, insns: bytes, blob: bytes, ctx: "ctypes.Array[ctypes.c_char]"):
        self.blob = ctypes.create_string_buffer(bytes(blob), max(len(blob), 1))
        self.stack = ctypes.create_string_buffer(STACK_SIZE)
        self.ctx = ctx
        self.regions = [(ctypes.addressof(b), len(b), b) for b in (self.blob, self.stack, ctx)]
        self.program = self._decode(insns)

    @staticmethod
    def _decode(insns: bytes) -> List[Tuple[int, int, int, int, int]]:
        if len(insns) % 8:
            raise LoaderError(f"loader instructions are {len(insns)} bytes, not a multiple of 8")
        out = []
        little = sys.byteorder == "little"
        for code, regs, off, imm in INSN.iter_unpack(insns):
            dst, src = (regs & 0xF, regs >> 4) if little else (regs >> 4, regs & 0xF)
            out.append((code, dst, src, off, imm))
        return out

    # -- memory --------------------------------------------------------------------------------
    def _where(self, addr: int, size: int) -> Tuple["ctypes.Array[ctypes.c_char]", int]:
        for base, length, buf in self.regions:
            if base <= addr and addr + size <= base + length:
                return buf, addr - base
        raise LoaderFault(f"loader accesses {size} bytes at {addr:#x}, outside its blob, context and stack")

    def load(self, addr: int, fmt: str) -> int:
        buf, off = self._where(addr, struct.calcsize(fmt))
        return int(struct.unpack_from("=" + fmt, buf, off)[0])

    def store(self, addr: int, fmt: str, value: int) -> None:
        size = struct.calcsize(fmt)
        buf, off = self._where(addr, size)
        struct.pack_into("=" + fmt, buf, off, value & ((1 << (8 * size)) - 1))

    def read_bytes(self, addr: int, size: int) -> bytes:
        self._where(addr, size)
        return ctypes.string_at(addr, size)

    def _c_string(self, addr: int, size: int) -> str:
        raw = self.read_bytes(addr, size)
        return raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")

    # -- the instructions ---------------------------------------------------------------------
    def _interpret(self) -> int:
        prog = self.program
        r = [0] * 11
        r[1] = ctypes.addressof(self.ctx)
        r[10] = ctypes.addressof(self.stack) + STACK_SIZE
        blob_addr = ctypes.addressof(self.blob)
        pc, steps = 0, 0
        while True:
            if not 0 <= pc < len(prog):
                raise LoaderFault(f"loader jumps to instruction {pc}, outside its {len(prog)}")
            steps += 1
            if steps > MAX_STEPS:
                raise LoaderFault(f"loader ran {MAX_STEPS} instructions without exiting")
            code, dst, src, off, imm = prog[pc]
            cls = code & 0x07
            if code == 0x18:  # ld_imm64
                if pc + 1 >= len(prog):
                    raise LoaderFault("loader ends inside an ld_imm64")
                hi = prog[pc + 1][4] & 0xFFFFFFFF
                if src == PseudoLoad.MAP_IDX_VALUE and imm == BLOB_FD_ARRAY_INDEX:   # the blob map's value
                    r[dst] = (blob_addr + hi) & _MASK
                elif src == 0:
                    r[dst] = (hi << 32) | (imm & 0xFFFFFFFF)
                else:
                    raise LoaderFault(f"loader instruction {pc}: ld_imm64 with source {src}")
                pc += 2
                continue
            if cls in (0x07, 0x04):  # ALU64, ALU
                r[dst] = _alu(code, r[dst], r[src] if code & 0x08 else imm & _MASK, cls == 0x04, pc)
            elif cls == 0x01:  # ldx
                if code & 0xE0 != 0x60:
                    raise LoaderFault(f"loader instruction {pc}: load mode {code & 0xE0:#x}")
                r[dst] = self.load((r[src] + off) & _MASK, _SIZES[code & 0x18])
            elif cls in (0x02, 0x03):  # st, stx
                if code & 0xE0 != 0x60:
                    raise LoaderFault(f"loader instruction {pc}: store mode {code & 0xE0:#x}")
                self.store((r[dst] + off) & _MASK, _SIZES[code & 0x18], imm if cls == 0x02 else r[src])
            elif cls in (0x05, 0x06):  # jmp, jmp32
                op = code & 0xF0
                if op == 0x80:
                    if cls != 0x05 or src != 0:
                        raise LoaderFault(f"loader instruction {pc}: call other than a helper")
                    r[0] = self._helper(imm, r[1], r[2], r[3], r[4], r[5]) & _MASK
                    r[1] = r[2] = r[3] = r[4] = r[5] = 0
                elif op == 0x90:
                    return r[0]
                elif op == 0x00:
                    pc += off
                elif _taken(op, r[dst], r[src] if code & 0x08 else imm & _MASK, cls == 0x06, pc):
                    pc += off
            else:
                raise LoaderFault(f"loader instruction {pc}: class {cls:#x}")
            pc += 1

    def _helper(self, helper: int, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        """Run helper ``helper`` with arguments r1-r5 and return its r0 (user_loader provides them)."""
        raise LoaderFault(f"loader calls helper {helper}, which the user-space runner does not provide")


def _alu(code: int, a: int, b: int, is32: bool, pc: int) -> int:
    op = code & 0xF0
    bits = 32 if is32 else 64
    mask = (1 << bits) - 1
    a, b = a & mask, b & mask
    if op == 0x00:
        v = a + b
    elif op == 0x10:
        v = a - b
    elif op == 0x20:
        v = a * b
    elif op == 0x30:
        v = a // b if b else 0
    elif op == 0x40:
        v = a | b
    elif op == 0x50:
        v = a & b
    elif op == 0x60:
        v = a << (b & (bits - 1))
    elif op == 0x70:
        v = a >> (b & (bits - 1))
    elif op == 0x80:
        v = -a
    elif op == 0x90:
        v = a % b if b else a
    elif op == 0xA0:
        v = a ^ b
    elif op == 0xB0:
        v = b
    elif op == 0xC0:
        signed = a - (1 << bits) if a >> (bits - 1) else a
        v = signed >> (b & (bits - 1))
    else:
        raise LoaderFault(f"loader instruction {pc}: ALU operation {op:#x}")
    return v & mask


def _taken(op: int, a: int, b: int, is32: bool, pc: int) -> bool:
    bits = 32 if is32 else 64
    mask = (1 << bits) - 1
    a, b = a & mask, b & mask
    sa = a - (1 << bits) if a >> (bits - 1) else a
    sb = b - (1 << bits) if b >> (bits - 1) else b
    tests = {0x10: a == b, 0x20: a > b, 0x30: a >= b, 0x40: bool(a & b), 0x50: a != b,
             0x60: sa > sb, 0x70: sa >= sb, 0xA0: a < b, 0xB0: a <= b, 0xC0: sa < sb, 0xD0: sa <= sb}
    if op not in tests:
        raise LoaderFault(f"loader instruction {pc}: jump operation {op:#x}")
    return tests[op]
