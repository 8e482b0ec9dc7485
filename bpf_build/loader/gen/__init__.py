"""Loader programs: libbpf's load phase recorded as one BPF_PROG_TYPE_SYSCALL program plus data.

``generate_loader(opened) -> LoaderProgram`` records what libbpf's ``bpf_object__load`` would do
with an ``OpenedObject`` (load BTF, create maps, fill and freeze global data, populate map-in-map
and PROG_ARRAY slots, resolve ksyms/kfuncs and attach targets in kernel BTF, load programs with
their func/line info and CO-RE relocations) as instructions that replay those ``bpf()`` calls in
the kernel through ``bpf_sys_bpf()``, the way libbpf's gen_loader.c does. Running the loader with
BPF_PROG_TEST_RUN creates the maps and programs; their fds come back in the context.

How a runner runs it — the blob map, the loader's own load, the context, kconfig, error steps —
is the loader contract: docs/loader-contract.md, with its numbers in
``bpf_build.runtime.loader_contract`` (the runtime ships alone, so they live there).

Inside: ``plan.py`` lays out the blob in the loader's order (``blob.py``: the blob and its fd
table; ``attrs.py``: the bpf_attr records), ``emit.py`` and ``externs.py`` write the instructions
(``code.py``: the idioms they share), ``struct_ops.py`` records struct_ops maps' programs for the runner,
``program.py`` is the result and its BPFBLDR1 container.
Compared with libbpf's gen_loader there is no 64-map / 32-program limit (no fds on the stack),
PROG_ARRAY slots are filled, SEC("?...") programs are kept, kconfig is not frozen, and
struct_ops maps load (their kernel layout resolved by the runner, as kconfig is; their value
written at attach).
"""

from __future__ import annotations

from typing import Optional

from ...model.elf import Object
from ...runtime.loader_contract import (
    CTX_ERROR_STEP,
    CTX_FLAG_NO_BTF_LOG,
    CTX_FLAGS,
    CTX_HEADER_SIZE,
    CTX_LOG_BUF,
    CTX_LOG_LEVEL,
    CTX_LOG_SIZE,
    CTX_MAP_SIZE,
    CTX_PROG_SIZE,
    LOADER_LICENSE,
    PROG_LOAD_DEFAULT,
    PROG_LOAD_NO,
    PROG_LOAD_YES,
    SERIAL_MAGIC,
    map_desc_offset,
    prog_desc_offset,
)
from ..explain import describe_loader, find_embedded_loader, read_loader
from ..open import OpenedObject, open_object
from .code import LoaderCode
from .emit import emit_create_map, emit_epilogue, emit_load_btf, emit_load_prog, emit_prologue, emit_set_slot
from .plan import check_supported, plan_loader
from .program import OP_KINDS, KconfigVar, LoaderMap, LoaderOp, LoaderProg, LoaderProgram, LoaderStructOps

__all__ = [
    "generate_loader", "loader_for_object", "LoaderProgram", "LoaderMap", "LoaderProg", "KconfigVar",
    "LoaderOp", "LoaderStructOps", "OP_KINDS", "map_desc_offset", "prog_desc_offset", "CTX_HEADER_SIZE", "CTX_MAP_SIZE",
    "CTX_PROG_SIZE", "CTX_FLAGS", "CTX_LOG_LEVEL", "CTX_LOG_SIZE", "CTX_LOG_BUF", "CTX_ERROR_STEP",
    "CTX_FLAG_NO_BTF_LOG", "PROG_LOAD_DEFAULT", "PROG_LOAD_YES", "PROG_LOAD_NO", "SERIAL_MAGIC",
    "LOADER_LICENSE",
    # the reader behind `loader explain` lives in loader/explain.py; importable here as before
    "describe_loader", "read_loader", "find_embedded_loader",
]


def generate_loader(opened: OpenedObject) -> LoaderProgram:
    """The loader program for an opened object: plan the blob, then emit the operations in the
    order the loader performs them."""
    check_supported(opened)
    plan = plan_loader(opened)
    code = LoaderCode(plan.blob)
    emit_prologue(code)
    if plan.btf is not None:
        emit_load_btf(code, plan, plan.btf)
    for map_plan in plan.maps:
        emit_create_map(code, plan, map_plan)
    for slot_plan in plan.map_slots:
        emit_set_slot(code, plan, slot_plan)
    for prog_plan in plan.progs:
        emit_load_prog(code, plan, prog_plan)
    for slot_plan in plan.prog_array_slots:
        emit_set_slot(code, plan, slot_plan)
    emit_epilogue(code, plan)

    loader = LoaderProgram(code.asm.finish(), plan.data, opened.byteorder,
                           [LoaderMap.of(m) for m in opened.maps], [LoaderProg.of(p) for p in opened.programs],
                           opened.kconfig_map, [KconfigVar.of(e) for e in opened.externs if e.kind == "kconfig"],
                           code.ops)
    loader.map_attr_offsets = [code.off(m.attr) for m in plan.maps]
    loader.prog_attr_offsets = [code.off(p.attr) for p in plan.progs]
    loader.struct_ops = [LoaderStructOps.of(sp) for sp in plan.struct_ops]
    return loader


def loader_for_object(obj: Object, name: Optional[str] = None) -> LoaderProgram:
    return generate_loader(open_object(obj, name))
