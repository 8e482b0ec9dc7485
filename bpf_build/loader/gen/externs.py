"""Emission of the look-ups that resolve externs at load time, on the loading machine's kernel.

A typeless ksym gets its address from kallsyms; a typed ksym or a kfunc gets its BTF id (and the
fd of the module BTF that has it) from bpf_btf_find_by_name_kind; each result is patched into
every instruction of the program that uses the extern, in the blob, before the program loads.
Weak externs the kernel lacks stay 0 (a kfunc call to 0 is dead code the verifier drops).
"""

from __future__ import annotations

from ...model import btf as B
from ...model.insn import (DW, H, JEQ, JSLT, R0, R1, R2, R3, R4, R7, R9, RSH, W, B as SZ_B, alu64_imm,
    call_helper, mov64_imm, mov64_reg, st_mem, stx_mem)
from ...runtime.uapi import Helper
from .blob import BlobRef, FdTable
from .code import LoaderCode, ld_blob
from .plan import KsymUse, LoaderPlan

ENOENT = 2


def emit_find_btf(code: LoaderCode, name_ref: BlobRef, name_len: int, kind: int, text: str, index: int) -> None:
    """r7 = bpf_btf_find_by_name_kind(name, kind): the BTF id, module BTF fd in the high half."""
    code.step("find_btf_id", index, text)
    code.asm.emit(ld_blob(R1, code.off(name_ref)), mov64_imm(R2, name_len), mov64_imm(R3, kind),
                  mov64_imm(R4, 0), call_helper(Helper.BTF_FIND_BY_NAME_KIND), mov64_reg(R7, R0))


def emit_ksym(code: LoaderCode, plan: LoaderPlan, use: KsymUse, insns_off: int, j: int) -> None:
    """Resolve one extern for program ``j`` and patch every instruction using it."""
    a = code.asm
    name_len = len(use.name) + 1
    done = f"ksym_done_{j}_{use.kind}_{use.name}"
    at = [insns_off + 8 * k for k in use.insn_idx]
    if use.kind == "kallsyms":
        code.step("find_ksym_addr", j, f"find address of ksym \"{use.name}\" (kallsyms)")
        a.emit(ld_blob(R1, code.off(use.name_ref)), mov64_imm(R2, name_len), mov64_imm(R3, 0),
               ld_blob(R4, code.off(plan.scratch)), call_helper(Helper.KALLSYMS_LOOKUP_NAME),
               mov64_reg(R7, R0))
        if use.weak:
            a.jmp_imm(JEQ, R7, -ENOENT, done)  # a missing weak ksym stays 0
        code.check()
        code.load_blob(DW, R0, code.off(plan.scratch))
        a.emit(mov64_reg(R9, R0), alu64_imm(RSH, R9, 32))
        for off in at:  # the address into the imms of the ld_imm64's two halves
            a.emit(ld_blob(R1, off), stx_mem(W, R1, R0, 4), stx_mem(W, R1, R9, 12))
        a.label(done)
        return
    emit_find_btf(code, use.name_ref, name_len, use.btf_kind,
                  f"find kernel BTF id of {B.KIND_NAMES[use.btf_kind]} \"{use.name}\" ({use.kind})", j)
    missing = f"ksym_missing_{j}_{use.kind}_{use.name}"
    if use.weak:
        a.jmp_imm(JSLT, R7, 0, missing)
    else:
        code.check()
    a.emit(mov64_reg(R9, R7), alu64_imm(RSH, R9, 32))  # BTF object fd: 0 for vmlinux
    if use.kind == "kfunc":
        code.store_blob(W, FdTable.offset(use.fd_slot), R9)
        for off in at:
            a.emit(ld_blob(R1, off), stx_mem(W, R1, R7, 4))
            a.jmp_imm(JEQ, R9, 0, f"{done}_{off}")
            a.emit(st_mem(H, R1, 2, use.fd_slot))  # module BTF: fd_array index in off
            a.label(f"{done}_{off}")
        a.label(missing)  # weak and missing: imm = off = 0, the verifier drops the dead call
    else:
        for off in at:
            a.emit(ld_blob(R1, off), stx_mem(W, R1, R7, 4), stx_mem(W, R1, R9, 12))
        if use.weak:
            a.ja(done)
            a.label(missing)
            # unresolved weak typed ksym: turn the ld_imm64 into a plain load of 0
            for off, dst in zip(at, use.dst_regs):
                a.emit(ld_blob(R1, off), st_mem(SZ_B, R1, 1, _regs_byte(dst, 0, plan.byte_order)))
    a.label(done)


def _regs_byte(dst: int, src: int, byte_order: str) -> int:
    return (src << 4 | dst) if byte_order == "<" else (dst << 4 | src)
