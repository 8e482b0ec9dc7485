"""BPF instructions: a value type, encode/decode for both byte orders, a verifier-style
disassembly, and a small assembler with labels for code that emits programs.

An ``Insn`` is one 8-byte slot. ``ld_imm64`` occupies two slots; the second is an ``Insn`` with
code 0 whose ``imm`` carries the upper 32 bits, so slot indices (what jumps and BTF.ext count)
stay equal to list indices.
"""

from __future__ import annotations

import struct
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ..errors import InsnError, PathLike
from ..runtime.uapi import PseudoCall, PseudoLoad
from .ints import IntText, s32

INSN_SIZE = 8


# An opcode byte is a class (low 3 bits) combined with fields whose meaning depends on it: a
# size, a mode and, for ALU/JMP, an operation and a source. Each field is an IntEnum (readable
# reprs); combining them (``ALU64 | MOV | K``) gives a plain int, which is what ``Insn.code``
# holds.
class InsnClass(IntText):
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


class Size(IntText):
    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18


class Mode(IntText):
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


class Source(IntText):
    K = 0x00
    X = 0x08


class AluOp(IntText):
    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0
    MOV = 0xB0
    ARSH = 0xC0
    END = 0xD0


class JmpOp(IntText):
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0


class AtomicOp(IntText):
    """An atomic instruction's ``imm``: an ALU operation (ADD, OR, AND, XOR), optionally with
    FETCH, or one of the exchanges."""

    FETCH = 0x01
    XCHG = 0xE0 | 0x01
    CMPXCHG = 0xF0 | 0x01


LD, LDX, ST, STX, ALU, JMP, JMP32, ALU64 = InsnClass
W, H, B, DW = Size
SIZE_BYTES: Dict[int, int] = {W: 4, H: 2, B: 1, DW: 8}
SIZE_NAMES: Dict[int, str] = {W: "u32", H: "u16", B: "u8", DW: "u64"}
IMM, ABS, IND, MEM, MEMSX, ATOMIC = Mode
K, X = Source
ADD, SUB, MUL, DIV, OR, AND, LSH, RSH, NEG, MOD, XOR, MOV, ARSH, END = AluOp
JA, JEQ, JGT, JGE, JSET, JNE, JSGT, JSGE, CALL, EXIT, JLT, JLE, JSLT, JSLE = JmpOp
FETCH, XCHG, CMPXCHG = AtomicOp
PSEUDO_MAP_FD, PSEUDO_MAP_VALUE, PSEUDO_BTF_ID, PSEUDO_FUNC, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE = PseudoLoad
PSEUDO_CALL, PSEUDO_KFUNC_CALL = PseudoCall
# The class of an opcode byte, by its low 3 bits.
_CLASS_OF_CODE: Tuple[InsnClass, ...] = tuple(InsnClass)

R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

_ALU_SYM: Dict[int, str] = {ADD: "+=", SUB: "-=", MUL: "*=", DIV: "/=", OR: "|=", AND: "&=", LSH: "<<=",
            RSH: ">>=", MOD: "%=", XOR: "^=", MOV: "=", ARSH: "s>>="}
_JMP_SYM: Dict[int, str] = {JEQ: "==", JGT: ">", JGE: ">=", JSET: "&", JNE: "!=", JSGT: "s>", JSGE: "s>=",
            JLT: "<", JLE: "<=", JSLT: "s<", JSLE: "s<="}
_ATOMIC_SYM: Dict[int, str] = {ADD: "+=", OR: "|=", AND: "&=", XOR: "^="}


class Insn:
    __slots__ = ("code", "dst", "src", "off", "imm")

    def __init__(self, code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0):
        self.code, self.dst, self.src, self.off, self.imm = code, dst, src, off, imm

    @property
    def cls(self) -> InsnClass:
        return _CLASS_OF_CODE[self.code & 0x07]

    @property
    def op(self) -> int:
        return self.code & 0xF0

    @property
    def is_ld_imm64(self) -> bool:
        return self.code == (LD | DW | IMM)

    @property
    def is_call(self) -> bool:
        return self.code == (JMP | CALL)

    @property
    def is_pseudo_call(self) -> bool:
        """A call to a BPF subprogram (imm is the slot offset to the callee minus one)."""
        return self.is_call and self.src == PSEUDO_CALL

    @property
    def is_kfunc_call(self) -> bool:
        return self.is_call and self.src == PSEUDO_KFUNC_CALL

    @property
    def is_helper_call(self) -> bool:
        return self.is_call and self.src == 0

    @property
    def is_exit(self) -> bool:
        return self.code == (JMP | EXIT)

    @property
    def is_jump(self) -> bool:
        return self.cls in (JMP, JMP32) and self.op not in (CALL, EXIT)

    def encode(self, byteorder: str = "little") -> bytes:
        return encode([self], byteorder)

    def copy(self) -> "Insn":
        return Insn(self.code, self.dst, self.src, self.off, self.imm)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Insn) and self.code == other.code and self.dst == other.dst
                and self.src == other.src and self.off == other.off and self.imm == other.imm)

    def __hash__(self) -> int:
        return hash((self.code, self.dst, self.src, self.off, self.imm))

    def __repr__(self) -> str:
        return f"Insn(0x{self.code:02x}, dst={self.dst}, src={self.src}, off={self.off}, imm={self.imm})"

    def __str__(self) -> str:
        return disasm_one(self, None)


_LE = struct.Struct("<BBhi")
_BE = struct.Struct(">BBhi")


def decode(data: bytes, byteorder: str = "little", path: PathLike = None) -> List[Insn]:
    if len(data) % INSN_SIZE:
        raise InsnError(path, f"instruction bytes ({len(data)}) are not a multiple of 8")
    st = _LE if byteorder == "little" else _BE
    out: List[Insn] = []
    little = byteorder == "little"
    for code, regs, off, imm in st.iter_unpack(data):
        if little:
            out.append(Insn(code, regs & 0xF, regs >> 4, off, imm))
        else:
            out.append(Insn(code, regs >> 4, regs & 0xF, off, imm))
    return out


def encode(insns: Iterable[Insn], byteorder: str = "little") -> bytes:
    st = _LE if byteorder == "little" else _BE
    little = byteorder == "little"
    parts: List[bytes] = []
    for i in insns:
        regs = (i.src << 4 | i.dst) if little else (i.dst << 4 | i.src)
        imm = i.imm
        if imm >= 1 << 31:  # accept unsigned 32-bit immediates
            imm -= 1 << 32
        try:
            parts.append(st.pack(i.code, regs, i.off, imm))
        except struct.error:
            raise InsnError(None, f"instruction {i!r} has a field out of range") from None
    return b"".join(parts)


def _reg(r: int) -> str:
    return f"r{r}"


def disasm_one(i: Insn, nxt: Optional[Insn]) -> str:
    """One instruction in the verifier's notation; ``nxt`` is the following slot (for ld_imm64)."""
    cls, op = i.cls, i.op
    if i.is_ld_imm64:
        hi = (nxt.imm & 0xFFFFFFFF) if nxt is not None else 0
        value = (hi << 32) | (i.imm & 0xFFFFFFFF)
        kinds: Dict[int, str] = {PSEUDO_MAP_FD: "map[fd:{}]", PSEUDO_MAP_VALUE: "map_value[fd:{}]+" + str(hi),
                 PSEUDO_BTF_ID: "btf_id[{}]", PSEUDO_FUNC: "func[{}]", PSEUDO_MAP_IDX: "map[idx:{}]",
                 PSEUDO_MAP_IDX_VALUE: "map_value[idx:{}]+" + str(hi)}
        if i.src in kinds:
            return f"{_reg(i.dst)} = {kinds[i.src].format(i.imm)} ll"
        return f"{_reg(i.dst)} = 0x{value:x} ll"
    if cls in (ALU, ALU64):
        w = "w" if cls == ALU else "r"
        d = f"{w}{i.dst}"
        if op == NEG:
            return f"{d} = -{d}"
        if op == END:
            kind = "bswap" if cls == ALU64 else ("be" if i.code & X else "le")
            return f"{d} = {kind}{i.imm} {d}"
        sym = _ALU_SYM.get(op, f"alu?{op:#x}")
        if op in (DIV, MOD) and i.off == 1:
            sym = "s" + sym
        if op == MOV and i.off in (8, 16, 32) and i.code & X:
            return f"{d} = (s{i.off}){w}{i.src}"
        rhs = f"{w}{i.src}" if i.code & X else (f"{i.imm}" if -4096 < i.imm < 4096 else f"0x{i.imm & 0xFFFFFFFF:x}")
        return f"{d} {sym} {rhs}"
    if cls == LDX:
        mode = i.code & 0xE0
        size = SIZE_NAMES.get(i.code & 0x18, "?")
        sign = "s" if mode == MEMSX else "u"
        return f"{_reg(i.dst)} = *({sign}{size[1:]} *)({_reg(i.src)} {'+' if i.off >= 0 else '-'} {abs(i.off)})"
    if cls in (ST, STX):
        mode = i.code & 0xE0
        size = SIZE_NAMES.get(i.code & 0x18, "?")
        addr = f"*({size} *)({_reg(i.dst)} {'+' if i.off >= 0 else '-'} {abs(i.off)})"
        if mode == ATOMIC and cls == STX:
            a = i.imm
            base = a & ~FETCH
            if a == XCHG:
                return f"{_reg(i.src)} = xchg_{size}({addr}, {_reg(i.src)})"
            if a == CMPXCHG:
                return f"r0 = cmpxchg_{size}({addr}, r0, {_reg(i.src)})"
            sym = _ATOMIC_SYM.get(base, f"atomic?{a:#x}")
            if a & FETCH:
                return f"{_reg(i.src)} = atomic_fetch_{sym[0]}({addr}, {_reg(i.src)})"
            return f"lock {addr} {sym} {_reg(i.src)}"
        if cls == ST:
            return f"{addr} = {i.imm}"
        return f"{addr} = {_reg(i.src)}"
    if cls == LD:
        mode = i.code & 0xE0
        size = SIZE_NAMES.get(i.code & 0x18, "?")
        if mode == ABS:
            return f"r0 = *({size} *)skb[{i.imm}]"
        if mode == IND:
            return f"r0 = *({size} *)skb[{_reg(i.src)} + {i.imm}]"
    if cls in (JMP, JMP32):
        if op == EXIT:
            return "exit"
        if op == CALL:
            if i.src == PSEUDO_CALL:
                return f"call pc{i.imm + 1:+d}"
            if i.src == PSEUDO_KFUNC_CALL:
                return f"call kernel-function#{i.imm}"
            return f"call #{i.imm}"
        if op == JA:
            target = i.imm if cls == JMP32 else i.off
            return f"goto {target:+d}"
        w = "w" if cls == JMP32 else "r"
        rhs = f"{w}{i.src}" if i.code & X else f"{i.imm}"
        return f"if {w}{i.dst} {_JMP_SYM.get(op, '?')} {rhs} goto {i.off:+d}"
    return f"(bad 0x{i.code:02x})"


def disasm(insns: Sequence[Insn]) -> List[str]:
    """One line per slot: index and text; the second ld_imm64 slot is skipped."""
    lines: List[str] = []
    skip = False
    for idx, i in enumerate(insns):
        if skip:
            skip = False
            continue
        nxt = insns[idx + 1] if idx + 1 < len(insns) else None
        lines.append(f"{idx:5d}: {disasm_one(i, nxt)}")
        skip = i.is_ld_imm64
    return lines


# ----------------------------------------------------------------------------------------------
# Constructors

def alu64_imm(op: int, dst: int, imm: int) -> Insn:
    return Insn(ALU64 | op | K, dst, 0, 0, imm)


def alu64_reg(op: int, dst: int, src: int) -> Insn:
    return Insn(ALU64 | op | X, dst, src, 0, 0)


def alu32_imm(op: int, dst: int, imm: int) -> Insn:
    return Insn(ALU | op | K, dst, 0, 0, imm)


def alu32_reg(op: int, dst: int, src: int) -> Insn:
    return Insn(ALU | op | X, dst, src, 0, 0)


def mov64_imm(dst: int, imm: int) -> Insn:
    return alu64_imm(MOV, dst, imm)


def mov64_reg(dst: int, src: int) -> Insn:
    return alu64_reg(MOV, dst, src)


def mov32_imm(dst: int, imm: int) -> Insn:
    return alu32_imm(MOV, dst, imm)


def ldx_mem(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(LDX | size | MEM, dst, src, off, 0)


def stx_mem(size: int, dst: int, src: int, off: int) -> Insn:
    return Insn(STX | size | MEM, dst, src, off, 0)


def st_mem(size: int, dst: int, off: int, imm: int) -> Insn:
    return Insn(ST | size | MEM, dst, 0, off, imm)


def atomic_op(size: int, op: int, dst: int, src: int, off: int) -> Insn:
    return Insn(STX | size | ATOMIC, dst, src, off, op)


def ld_imm64(dst: int, value: int, src: int = 0) -> Tuple[Insn, Insn]:
    value &= 0xFFFFFFFFFFFFFFFF
    return (Insn(LD | DW | IMM, dst, src, 0, s32(value & 0xFFFFFFFF)), Insn(0, 0, 0, 0, s32(value >> 32)))


def ld_map_fd(dst: int, fd: int) -> Tuple[Insn, Insn]:
    return (Insn(LD | DW | IMM, dst, PSEUDO_MAP_FD, 0, fd), Insn(0))


def ld_map_value(dst: int, fd: int, offset: int = 0, src: int = PSEUDO_MAP_VALUE) -> Tuple[Insn, Insn]:
    return (Insn(LD | DW | IMM, dst, src, 0, fd), Insn(0, 0, 0, 0, offset))


def call_helper(helper_id: int) -> Insn:
    return Insn(JMP | CALL, 0, 0, 0, helper_id)


def exit_insn() -> Insn:
    return Insn(JMP | EXIT)


# ----------------------------------------------------------------------------------------------
# Assembler

class Assembler:
    """Collects instructions; jumps name labels, resolved by ``finish()``.

    >>> a = Assembler()
    >>> a.emit(mov64_imm(R0, 0)); a.jmp_imm(JEQ, R1, 0, "out"); a.emit(mov64_imm(R0, 1))
    >>> a.label("out"); a.emit(exit_insn())
    """

    def __init__(self) -> None:
        self.insns: List[Insn] = []
        self._labels: Dict[str, int] = {}
        self._fixups: List[Tuple[int, str, str]] = []  # (slot, label, field)

    def __len__(self) -> int:
        return len(self.insns)

    @property
    def pc(self) -> int:
        return len(self.insns)

    def emit(self, *insns: Union[Insn, Tuple[Insn, ...]]) -> int:
        """Append instructions (ld_imm64 pairs may be passed as tuples); returns the first slot."""
        start = len(self.insns)
        for i in insns:
            if isinstance(i, tuple):
                self.insns.extend(i)
            else:
                self.insns.append(i)
        return start

    def label(self, name: str) -> None:
        if name in self._labels:
            raise InsnError(None, f"assembler: label '{name}' defined twice")
        self._labels[name] = len(self.insns)

    def jmp_imm(self, op: int, dst: int, imm: int, target: str, jmp32: bool = False) -> None:
        self._fixups.append((len(self.insns), target, "off"))
        self.insns.append(Insn((JMP32 if jmp32 else JMP) | op | K, dst, 0, 0, imm))

    def jmp_reg(self, op: int, dst: int, src: int, target: str, jmp32: bool = False) -> None:
        self._fixups.append((len(self.insns), target, "off"))
        self.insns.append(Insn((JMP32 if jmp32 else JMP) | op | X, dst, src, 0, 0))

    def ja(self, target: str) -> None:
        self._fixups.append((len(self.insns), target, "off"))
        self.insns.append(Insn(JMP | JA))

    def call_local(self, target: str) -> None:
        """A BPF-to-BPF call to a label in this program."""
        self._fixups.append((len(self.insns), target, "imm"))
        self.insns.append(Insn(JMP | CALL, 0, PSEUDO_CALL, 0, 0))

    def finish(self) -> List[Insn]:
        for slot, name, field in self._fixups:
            if name not in self._labels:
                raise InsnError(None, f"assembler: undefined label '{name}'")
            delta = self._labels[name] - slot - 1
            if field == "off":
                if not -32768 <= delta <= 32767:
                    raise InsnError(None, f"assembler: jump to '{name}' is too far ({delta} slots)")
                self.insns[slot].off = delta
            else:
                self.insns[slot].imm = delta
        self._fixups.clear()
        return self.insns
