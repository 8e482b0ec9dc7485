"""Emission: the loader's instructions, one phase per kind of operation, over a ``LoaderPlan``.

generate_loader (gen/__init__.py) calls these in the loader's order: prologue, BTF, each map (its
inner map, creation, initial value, freeze), map-in-map slots, each program (attach target and
externs resolved in kernel BTF, then the load), PROG_ARRAY slots, epilogue. The epilogue hands
every fd to the context on success; "cleanup" closes every fd the loader owns on failure.

A map pinned by name (``__uint(pinning, LIBBPF_PIN_BY_NAME)``) may come from the runner: a
non-zero fd in its context descriptor is a compatible pinned map the runner opened, and the loader
takes it instead of creating (and filling) one and never closes it. Only pinned maps get this
code, so other loaders are unchanged.
"""

from __future__ import annotations

from ...model import btf as B
from ...model.insn import (DW, JEQ, JNE, JSET, R0, R1, R2, R3, R6, R7, R8, RSH, W, alu64_imm, call_helper,
    exit_insn, ldx_mem, mov64_imm, mov64_reg, stx_mem)
from ...runtime.loader_contract import (
    BTF_LOAD_ATTR,
    CTX_FLAG_NO_BTF_LOG,
    CTX_FLAGS,
    CTX_LOG_BUF,
    CTX_LOG_LEVEL,
    CTX_LOG_SIZE,
    MAP_CREATE_ATTR,
    MAP_DESC_FD,
    MAP_DESC_INITIAL_VALUE,
    MAP_DESC_MAX_ENTRIES,
    MAP_ELEM_ATTR,
    MAP_FREEZE_ATTR_SIZE,
    PROG_DESC_FD,
    PROG_DESC_LOAD,
    PROG_LOAD_ATTR,
    PROG_LOAD_NO,
    PROG_LOAD_YES,
    map_desc_offset,
    prog_desc_offset,
)
from ...runtime.uapi import Cmd, Helper, MapType
from ..open import OpenedMap
from ..explain import arena_shape, kernel_name, reuse_text, struct_ops_shape
from .blob import FdTable
from .code import LoaderCode, ld_blob
from .externs import emit_find_btf, emit_ksym
from .plan import BtfPlan, LoaderPlan, MapPlan, ProgPlan, SlotPlan
from .program import LoaderOp

fd_off = FdTable.offset


def map_shape(m: OpenedMap) -> str:
    if m.struct_ops is not None:
        return struct_ops_shape(m.key_size, m.max_entries, m.map_flags)
    if m.type == MapType.ARENA:
        return arena_shape(m.max_entries, m.map_flags, m.map_extra)
    return f"{m.type_name} {m.key_size}/{m.value_size} x{m.max_entries}" + \
        (f" flags {m.map_flags:#x}" if m.map_flags else "")


def emit_prologue(code: LoaderCode) -> None:
    code.asm.emit(mov64_reg(R6, R1), ld_blob(R8, 0))


def emit_load_btf(code: LoaderCode, plan: LoaderPlan, btf: BtfPlan) -> None:
    a = code.asm
    attr = code.attr(btf.attr, BTF_LOAD_ATTR)
    code.set_pointer(attr["btf"], btf.data)
    # a runner retrying for a program's verifier log keeps BTF's dump out of the buffer
    a.emit(ldx_mem(W, R0, R6, CTX_FLAGS))
    a.jmp_imm(JSET, R0, CTX_FLAG_NO_BTF_LOG, "no_btf_log")
    code.copy_ctx_to_blob(DW, attr["btf_log_buf"], CTX_LOG_BUF)
    code.copy_ctx_to_blob(W, attr["btf_log_size"], CTX_LOG_SIZE)
    code.copy_ctx_to_blob(W, attr["btf_log_level"], CTX_LOG_LEVEL)
    a.label("no_btf_log")
    code.step("load_btf", -1, f"load BTF ({btf.size} bytes)")
    code.sys_bpf(Cmd.BTF_LOAD, btf.attr, BTF_LOAD_ATTR.size)
    code.check()
    code.store_blob(W, fd_off(plan.fds.btf_slot), R7)


def _jump_if_reused(code: LoaderCode, i: int, reg: int, target: str) -> None:
    """if (ctx map i's map_fd != 0) goto target: the runner supplied a pinned map."""
    code.asm.emit(ldx_mem(W, reg, R6, map_desc_offset(i) + MAP_DESC_FD))
    code.asm.jmp_imm(JNE, reg, 0, target)


def emit_create_map(code: LoaderCode, plan: LoaderPlan, mp: MapPlan) -> None:
    if not mp.map.pinning:
        _emit_create_map(code, plan, mp)
        return
    # Not a call, so never attempted or failed: numbered, not recorded in ctx.error_step.
    code.ops.append(LoaderOp(len(code.ops) + 1, "reuse_map", mp.index, reuse_text(mp.map.name)))
    _jump_if_reused(code, mp.index, R0, f"reuse_{mp.index}")
    _emit_create_map(code, plan, mp)
    code.asm.ja(f"reused_{mp.index}")
    code.asm.label(f"reuse_{mp.index}")
    code.store_blob(W, fd_off(mp.index), R0)  # what programs reference; the epilogue hands it back
    code.asm.label(f"reused_{mp.index}")


def _emit_create_map(code: LoaderCode, plan: LoaderPlan, mp: MapPlan) -> None:
    a, m, i, fds = code.asm, mp.map, mp.index, plan.fds
    if mp.inner_attr is not None and m.inner is not None:
        inner = m.inner
        if mp.inner_uses_btf:
            code.copy_blob(W, code.attr(mp.inner_attr, MAP_CREATE_ATTR)["btf_fd"], fd_off(fds.btf_slot))
        code.step("create_map", i, f"create map \"{kernel_name(inner.name)}\" {map_shape(inner)} "
                                   f"(inner map of \"{m.name}\")")
        code.sys_bpf(Cmd.MAP_CREATE, mp.inner_attr, MAP_CREATE_ATTR.size)
        code.check()
        code.store_blob(W, fd_off(fds.inner_slot), R7)
    attr = code.attr(mp.attr, MAP_CREATE_ATTR)
    if mp.uses_btf:
        code.copy_blob(W, attr["btf_fd"], fd_off(fds.btf_slot))
    if mp.inner_attr is not None:
        code.copy_blob(W, attr["inner_map_fd"], fd_off(fds.inner_slot))
    # ctx max_entries overrides the object's unless it is 0
    a.emit(ldx_mem(W, R0, R6, map_desc_offset(i) + MAP_DESC_MAX_ENTRIES))
    skip = f"max_entries_{i}"
    a.jmp_imm(JEQ, R0, 0, skip)
    code.store_blob(W, attr["max_entries"], R0)
    a.label(skip)
    code.step("create_map", i, f"create map \"{kernel_name(m.name)}\" {map_shape(m)}")
    code.sys_bpf(Cmd.MAP_CREATE, mp.attr, MAP_CREATE_ATTR.size)
    code.check()
    code.store_blob(W, fd_off(i), R7)
    if mp.inner_attr is not None:
        code.close_fd_at(fd_off(fds.inner_slot), f"inner_closed_{i}")
        code.store_blob_imm(W, fd_off(fds.inner_slot), 0)
    _emit_initial_value(code, mp)


def _emit_initial_value(code: LoaderCode, mp: MapPlan) -> None:
    """Global data: write the value (the runner's, if it gave one), then freeze if read-only."""
    if mp.update_attr is None or mp.value is None or mp.key is None:
        return
    a, m, i = code.asm, mp.map, mp.index
    # a runner-supplied initial value (mmapped skeleton data, kconfig resolved at load)
    # replaces the blob's copy: bpf_copy_from_user(blob value, size, ctx initial_value)
    a.emit(ldx_mem(DW, R3, R6, map_desc_offset(i) + MAP_DESC_INITIAL_VALUE))
    skip = f"no_initial_value_{i}"
    a.jmp_imm(JEQ, R3, 0, skip)
    a.emit(ld_blob(R1, code.off(mp.value)), mov64_imm(R2, m.value_size),
           call_helper(Helper.COPY_FROM_USER), mov64_reg(R7, R0))
    code.step("update_map", i, f"copy initial value of \"{kernel_name(m.name)}\" from the runner")  # numbered after the call
    code.check()
    a.label(skip)
    attr = code.attr(mp.update_attr, MAP_ELEM_ATTR)
    code.copy_blob(W, attr["map_fd"], fd_off(i))
    code.set_pointer(attr["key"], mp.key)
    code.set_pointer(attr["value"], mp.value)
    code.step("update_map", i, f"update map \"{kernel_name(m.name)}\" [0] = {m.value_size} bytes")
    code.sys_bpf(Cmd.MAP_UPDATE_ELEM, mp.update_attr, MAP_ELEM_ATTR.size)
    code.check()
    if mp.freeze_attr is not None:
        code.copy_blob(W, code.attr(mp.freeze_attr, MAP_ELEM_ATTR)["map_fd"], fd_off(i))
        code.step("freeze_map", i, f"freeze map \"{kernel_name(m.name)}\"")
        code.sys_bpf(Cmd.MAP_FREEZE, mp.freeze_attr, MAP_FREEZE_ATTR_SIZE)
        code.check()


def emit_set_slot(code: LoaderCode, plan: LoaderPlan, sp: SlotPlan) -> None:
    """map[slot] = fd of the target map or program (skipped for a program that was not loaded)."""
    a, i = code.asm, sp.map_index
    attr = code.attr(sp.attr, MAP_ELEM_ATTR)
    value_slot = plan.fds.prog_slot(sp.target) if sp.target_is_prog else sp.target
    skip = f"slot_{i}_{sp.slot}"
    if sp.target_is_prog:
        code.load_blob(W, R0, fd_off(value_slot))
        a.jmp_imm(JEQ, R0, 0, skip)
    elif plan.opened.maps[i].pinning:  # a reused map-in-map keeps its slots (libbpf fills created ones)
        _jump_if_reused(code, i, R0, skip)
    code.copy_blob(W, attr["map_fd"], fd_off(i))
    code.set_pointer(attr["key"], sp.key)
    a.emit(ld_blob(R0, fd_off(value_slot)))
    code.store_blob(DW, attr["value"], R0)
    opened = plan.opened
    what = f"prog \"{opened.programs[sp.target].name}\"" if sp.target_is_prog \
        else f"map \"{opened.maps[sp.target].name}\""
    code.step("set_slot", i, f"update map \"{kernel_name(opened.maps[i].name)}\" [{sp.slot}] = {what}")
    code.sys_bpf(Cmd.MAP_UPDATE_ELEM, sp.attr, MAP_ELEM_ATTR.size)
    code.check()
    if sp.target_is_prog or plan.opened.maps[i].pinning:
        a.label(skip)


def emit_load_prog(code: LoaderCode, plan: LoaderPlan, pp: ProgPlan) -> None:
    a, p, j, fds = code.asm, pp.prog, pp.index, plan.fds
    skip = f"prog_skipped_{j}"
    a.emit(ldx_mem(W, R0, R6, prog_desc_offset(fds.nr_maps, j) + PROG_DESC_LOAD))
    if p.autoload:
        a.jmp_imm(JEQ, R0, PROG_LOAD_NO, skip)
    else:
        a.jmp_imm(JNE, R0, PROG_LOAD_YES, skip)
    attr = code.attr(pp.attr, PROG_LOAD_ATTR)
    insns_off = code.off(pp.insns)
    code.set_pointer(attr["insns"], pp.insns)
    code.set_pointer(attr["license"], pp.license)
    code.copy_ctx_to_blob(W, attr["log_level"], CTX_LOG_LEVEL)
    code.copy_ctx_to_blob(W, attr["log_size"], CTX_LOG_SIZE)
    code.copy_ctx_to_blob(DW, attr["log_buf"], CTX_LOG_BUF)
    if plan.btf is not None:
        code.copy_blob(W, attr["prog_btf_fd"], fd_off(fds.btf_slot))
    if pp.func_info is not None:
        code.set_pointer(attr["func_info"], pp.func_info)
    if pp.line_info is not None:
        code.set_pointer(attr["line_info"], pp.line_info)
    if pp.core_relos is not None:
        code.set_pointer(attr["core_relos"], pp.core_relos)
    a.emit(ld_blob(R0, fd_off(0)))  # fd_array: the fd table, map fds first
    code.store_blob(DW, attr["fd_array"], R0)
    if pp.attach_name is not None and p.attach_btf is not None:
        target = p.attach_btf[0]
        emit_find_btf(code, pp.attach_name, len(target) + 1, pp.attach_kind,
                      f"find kernel BTF id of {B.KIND_NAMES[pp.attach_kind]} \"{target}\" (attach target of "
                      f"\"{p.name}\")", j)
        code.check()
        code.store_blob(W, attr["attach_btf_id"], R7)   # low half: the type id
        a.emit(alu64_imm(RSH, R7, 32))
        code.store_blob(W, attr["attach_btf_obj_fd"], R7)  # high half: module BTF fd (0: vmlinux)
    for use in pp.ksyms:
        emit_ksym(code, plan, use, insns_off, j)
    code.step("load_prog", j, f"load prog \"{p.name}\" {p.type_name} {len(p.insns)} insns")
    code.sys_bpf(Cmd.PROG_LOAD, pp.attr, PROG_LOAD_ATTR.size)
    # module BTF fds the kernel no longer needs, whether the load worked or not
    if pp.attach_name is not None:
        code.close_fd_at(attr["attach_btf_obj_fd"], f"attach_fd_closed_{j}")
    for n, use in enumerate(pp.ksyms):
        if use.kind == "ksym":  # the fd sits in the imm of the ld_imm64's second half
            code.close_fd_at(insns_off + 8 * use.insn_idx[0] + 12, f"ksym_fd_closed_{j}_{n}")
        elif use.kind == "kfunc":
            code.close_fd_at(fd_off(use.fd_slot), f"kfunc_fd_closed_{j}_{n}")
    code.check()
    code.store_blob(W, fd_off(fds.prog_slot(j)), R7)
    a.label(skip)


def emit_epilogue(code: LoaderCode, plan: LoaderPlan) -> None:
    a, fds = code.asm, plan.fds
    for i in range(fds.nr_maps):
        code.load_blob(W, R0, fd_off(i))
        a.emit(stx_mem(W, R6, R0, map_desc_offset(i) + MAP_DESC_FD))
    for j in range(fds.nr_progs):
        code.load_blob(W, R0, fd_off(fds.prog_slot(j)))
        a.emit(stx_mem(W, R6, R0, prog_desc_offset(fds.nr_maps, j) + PROG_DESC_FD))
    if plan.btf is not None:
        code.close_fd_at(fd_off(fds.btf_slot), "btf_closed")
    a.emit(mov64_imm(R0, 0), exit_insn())
    a.label("cleanup")
    for s in range(fds.owned_slots):
        if s < fds.nr_maps and plan.opened.maps[s].pinning:
            _jump_if_reused(code, s, R1, f"cleanup_{s}")  # the runner's pinned map: it closes that fd
        code.close_fd_at(fd_off(s), f"cleanup_{s}")
    a.emit(mov64_reg(R0, R7), exit_insn())
