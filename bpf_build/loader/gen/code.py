"""The loader's instruction idioms: blob and context access, bpf() calls, numbered steps.

Register use, throughout the loader: r6 holds the context, r8 the blob's address, r7 the result
of the last call (negative: -errno); r0-r5 and r9 are scratch. Every fallible operation is a
*step*: its number goes to ctx.error_step before it runs, and a failure jumps to "cleanup".
"""

from __future__ import annotations

from typing import List, Tuple

from ...model.insn import (DW, JSLE, JSLT, PSEUDO_MAP_IDX_VALUE, R0, R1, R2, R3, R6, R7, R8, W, Assembler,
    Insn, call_helper, ldx_mem, mov64_imm, mov64_reg, st_mem, stx_mem)
from ...runtime.loader_contract import BLOB_FD_ARRAY_INDEX, CTX_ERROR_STEP, Layout
from ...runtime.uapi import Helper
from .blob import Blob, BlobRef
from .program import LoaderOp

_S16_MAX = 32767


def ld_blob(reg: int, off: int) -> Tuple[Insn, Insn]:
    """reg = address of blob + off (ld_imm64 of the blob map's value, fd_array index 0)."""
    return (Insn(0x18, reg, PSEUDO_MAP_IDX_VALUE, 0, BLOB_FD_ARRAY_INDEX), Insn(0, 0, 0, 0, off))


class AttrAt:
    """A bpf_attr record in the blob: ``attr["insns"]`` is the blob offset of its field."""

    def __init__(self, blob_off: int, layout: Layout) -> None:
        self.base, self.layout = blob_off, layout

    def __getitem__(self, field: str) -> int:
        return self.base + self.layout.offset(field)


class LoaderCode:
    def __init__(self, blob: Blob) -> None:
        self.blob = blob
        self.asm = Assembler()
        self.ops: List[LoaderOp] = []

    def off(self, ref: BlobRef) -> int:
        return self.blob.off(ref)

    def attr(self, ref: BlobRef, layout: Layout) -> AttrAt:
        return AttrAt(self.off(ref), layout)

    # -- steps ---------------------------------------------------------------------------------
    def step(self, kind: str, index: int, text: str) -> None:
        """Number the next fallible operation and record it in ctx.error_step."""
        self.ops.append(LoaderOp(len(self.ops) + 1, kind, index, text))
        self.record_step()

    def record_step(self) -> None:
        """ctx.error_step = the last op's number. Through a register: verifiers before 6.3 refuse
        BPF_ST (store-immediate) into the ctx. R1 is free: every op sets it up right after."""
        self.asm.emit(mov64_imm(R1, len(self.ops)), stx_mem(W, R6, R1, CTX_ERROR_STEP))

    def check(self) -> None:
        """On to the clean-up if the last call failed."""
        self.asm.jmp_imm(JSLT, R7, 0, "cleanup")

    # -- the blob ------------------------------------------------------------------------------
    def load_blob(self, size: int, dst: int, off: int, scratch: int = R1) -> None:
        if off <= _S16_MAX - 8:
            self.asm.emit(ldx_mem(size, dst, R8, off))
        else:
            self.asm.emit(ld_blob(scratch, off), ldx_mem(size, dst, scratch, 0))

    def store_blob(self, size: int, off: int, src: int, scratch: int = R1) -> None:
        if off <= _S16_MAX - 8:
            self.asm.emit(stx_mem(size, R8, src, off))
        else:
            self.asm.emit(ld_blob(scratch, off), stx_mem(size, scratch, src, 0))

    def store_blob_imm(self, size: int, off: int, imm: int, scratch: int = R1) -> None:
        if off <= _S16_MAX - 8:
            self.asm.emit(st_mem(size, R8, off, imm))
        else:
            self.asm.emit(ld_blob(scratch, off), st_mem(size, scratch, 0, imm))

    def set_pointer(self, field_off: int, target: BlobRef) -> None:
        """attr field at blob offset ``field_off`` = kernel address of ``target``."""
        self.asm.emit(ld_blob(R0, self.off(target)))
        self.store_blob(DW, field_off, R0)

    def copy_blob(self, size: int, dst_off: int, src_off: int) -> None:
        self.load_blob(size, R0, src_off)
        self.store_blob(size, dst_off, R0)

    def copy_ctx_to_blob(self, size: int, dst_off: int, ctx_off: int) -> None:
        self.asm.emit(ldx_mem(size, R0, R6, ctx_off))
        self.store_blob(size, dst_off, R0)

    # -- calls ---------------------------------------------------------------------------------
    def sys_bpf(self, cmd: int, attr: BlobRef, size: int) -> None:
        """r7 = bpf(cmd, the attr at ``attr``, size)."""
        self.asm.emit(mov64_imm(R1, cmd), ld_blob(R2, self.off(attr)), mov64_imm(R3, size),
                      call_helper(Helper.SYS_BPF), mov64_reg(R7, R0))

    def close_fd_at(self, off: int, label: str) -> None:
        """close(blob fd at ``off``) if it is > 0."""
        self.load_blob(W, R1, off)
        self.asm.jmp_imm(JSLE, R1, 0, label)
        self.asm.emit(call_helper(Helper.SYS_CLOSE))
        self.asm.label(label)
