"""The open phase: what libbpf's ``bpf_object__open`` makes of a BPF object, as plain values.

``open_object(obj, name=None) -> OpenedObject`` turns an ``elf.Object`` into the maps, programs
and externs libbpf would load, without touching the kernel. It is the one model the loader
generator, the skeleton renderers and ``bpf-build inspect`` read; none of them re-parse ELF.

The phases run in libbpf's order (``open_object`` below lists them), each a function over one
``OpenState`` (state.py) in a module of its own: sections.py (what each ELF section is),
externs.py (kconfig and ksym externs), btf_fixup.py (DATASEC layout, hidden globals),
maps.py (BTF-defined maps through ``model.mapdef``, global data, .kconfig, struct_ops),
arena.py (the ARENA map and its ``__arena`` globals),
programs.py (types from section names), relocs.py (what each relocation refers to) and
subprogs.py (subprogram appending). The result's dataclasses, with a doc for each field, are in
model.py; libbpf's naming rules in names.py.

Public API (stable; other modules depend on it)::

    opened = open_object(obj, name="x_bpf")   # name: object name used to name global-data maps
    opened.name, opened.path, opened.license, opened.kern_version
    opened.btf            # Btf as the kernel should receive it (DATASEC sizes/offsets fixed,
                          #   extern VARs/FUNCs rewritten, hidden globals made static)
    opened.maps           # [OpenedMap] in libbpf order: .maps vars by offset, then .data*/.rodata*/
                          #   .bss* by section index, then .kconfig, then .struct_ops vars
    opened.programs       # [OpenedProgram] entry programs (not .text subprograms), by section
                          #   index then offset — libbpf's order, `?` programs included
    opened.subprograms    # [OpenedProgram] the .text functions (kind "subprog"), raw
    opened.externs        # [Extern] kconfig externs by (align desc, size, name), then ksyms by name
    opened.kconfig_map    # index into maps of the .kconfig map, or None
    opened.map(name) / opened.program(name)

``OpenedMap``, a ``model.mapdef.MapDef`` with where the map comes from: ``name`` (as libbpf
names it: BTF maps by variable, global data as ``<obj>.bss``-style names truncated the way libbpf
truncates them), ``ident`` (skeleton field name, bpftool's rule: ``bss``, ``rodata_str1_1``,
``counts``), ``real_name`` (variable or ELF section name), ``section``, ``kind`` (one of
MAP_KINDS), ``type``/``type_name``, ``key_size``, ``value_size``, ``max_entries``, ``map_flags``,
``numa_node``, ``pinning``, ``map_extra``, ``key_type_id``, ``value_type_id`` (in the object's
BTF), ``inner`` (an OpenedMap for map-in-map ``values``),
``init_slots`` ([None | name]: map names for map-in-map, program names for PROG_ARRAY),
``initial_value`` (bytes for global-data maps, zeros for .bss/.kconfig; the ARENA map's
``__arena`` globals; None for other BTF maps),
``mmapable``, ``is_internal``.

``OpenedProgram``: ``name``, ``section`` (without ``?``), ``type``/``type_name``,
``expected_attach_type``, ``prog_flags`` (sleepable, XDP frags), ``attach_target`` (what follows
the first ``/`` of the section, e.g. ``syscalls/sys_enter_getpid``), ``attach_btf`` (a
``(name, btf_kind)`` pair to resolve in kernel BTF for fentry/tp_btf/lsm/iter, or None),
``autoload`` (False for ``SEC("?...")``), ``insns`` (own code plus every subprogram it calls,
appended the way libbpf appends them, call immediates fixed; data references still as in the
ELF), ``relocations`` ([Relocation] against ``insns``: map, data, extern ld_imm64, kfunc call),
``func_info`` ([(insn_idx, type_id)]), ``line_info`` ([LineInfo] with ``insn_off`` in
instructions), ``core_relos`` ([CoreRelo] with ``insn_off`` in bytes, as the kernel wants them),
``subprograms`` (names appended, in order), ``sec_insn_off``/``sec_insn_cnt`` (own code).

``Relocation.kind`` is one of ``"map"`` (ld_imm64 of a map: ``map_index``), ``"data"`` (ld_imm64
of a global-data or .kconfig value: ``map_index``, ``offset`` = final byte offset in the map
value), ``"ksym"`` (ld_imm64 of a ksym extern: ``extern_index``), ``"kfunc"`` (call of a kfunc
extern: ``extern_index``).

``Extern``: ``name``, ``kind`` ("kconfig" or "ksym"), ``weak``, ``btf_id`` (the VAR/FUNC in the
object's BTF); kconfig: ``kcfg_type`` (one of KCFG_TYPES), ``size``, ``align``, ``signed``,
``offset`` (in the .kconfig map value); ksym: ``ksym_type_id`` (0 when typeless), ``is_func``.

Errors: ``OpenError(path, reason)`` for objects libbpf would refuse to open, naming the program,
map or symbol at fault; ``NotSupportedError`` for features recognised but not modelled.
"""

from __future__ import annotations

from typing import Optional

from ...errors import BpfBuildError, OpenError
from ...model.elf import Object
from ...model.mapdef import PIN_BY_NAME, PIN_NONE
from .arena import init_arena
from .btf_fixup import fixup_datasecs, mark_hidden_subprograms_static
from .externs import collect_externs
from .maps import MAX_GLOBAL_DATA, init_maps
from .model import (
    BPF_F_MMAPABLE,
    BPF_F_RDONLY_PROG,
    KCFG_TYPES,
    MAP_KINDS,
    Extern,
    OpenedMap,
    OpenedObject,
    OpenedProgram,
    Relocation,
)
from .names import (
    ARENA_SEC,
    BPF_OBJ_NAME_LEN,
    JUMPTABLES_SEC,
    KCONFIG_SEC,
    KSYMS_SEC,
    MAPS_SEC,
    STRUCT_OPS_SECS,
    default_object_name,
    internal_map_name,
    skeleton_ident,
)
from .programs import init_programs
from .relocs import collect_core_relos, collect_relocations
from .sections import collect_sections
from .state import OpenState
from .struct_ops import collect_struct_ops
from .subprogs import append_subprograms

__all__ = [
    "ARENA_SEC", "BPF_F_MMAPABLE", "BPF_F_RDONLY_PROG", "BPF_OBJ_NAME_LEN", "JUMPTABLES_SEC",
    "KCFG_TYPES", "KCONFIG_SEC", "KSYMS_SEC", "MAPS_SEC", "MAP_KINDS", "MAX_GLOBAL_DATA",
    "PIN_BY_NAME", "PIN_NONE", "STRUCT_OPS_SECS", "Extern", "OpenedMap", "OpenedObject",
    "OpenedProgram", "Relocation", "default_object_name", "internal_map_name", "open_object",
    "skeleton_ident",
]


def open_object(obj: Object, name: Optional[str] = None) -> OpenedObject:
    """Model ``obj`` the way libbpf's open phase would; see the module docstring."""
    try:
        return _run_phases(obj, name)
    except BpfBuildError:
        raise
    except (KeyError, IndexError, ValueError) as e:  # malformed cross-references in BTF/ELF
        raise OpenError(obj.path, f"malformed object: {e.__class__.__name__}: {e}") from None


def _run_phases(obj: Object, name: Optional[str]) -> OpenedObject:
    btf = obj.btf.copy() if obj.btf is not None else None
    out = OpenedObject((name or default_object_name(obj.path))[:BPF_OBJ_NAME_LEN - 1], obj.path,
                       btf=btf, byteorder=obj.byteorder)
    st = OpenState(obj, out, btf)
    collect_sections(st)                # what each section is; the functions of code sections
    collect_externs(st)                 # kconfig/ksym externs; .ksyms and .kconfig laid out
    fixup_datasecs(st)                  # DATASEC sizes and offsets from the ELF
    init_maps(st)                       # .maps, global data, .kconfig, struct_ops
    init_arena(st)                      # the ARENA map and its __arena globals
    init_programs(st)                   # program types from section names
    collect_relocations(st)             # what each code and .maps relocation refers to
    collect_struct_ops(st)              # struct_ops variables: members, bytes, programs
    collect_core_relos(st)              # CO-RE records to their functions
    append_subprograms(st)              # each entry program made self-contained
    mark_hidden_subprograms_static(st)  # hidden global subprograms verified as static
    return out
