"""Running a loader program: one BPF_PROG_TYPE_SYSCALL program plus a data blob that together
create an object's maps and programs inside the kernel, as the loader contract (version 1:
docs/loader-contract.md, its numbers in loader_contract.py) asks of a runner.

The runner owns three things: the blob map, the loader program and the context buffer. It creates
them, runs the loader once with BPF_PROG_TEST_RUN, reads the fds the loader wrote into the context,
and always closes the blob map and the loader. On failure the loader has already closed what it
created, so nothing is left in the kernel; the error names the failing step and carries the
verifier log of a second, logged run.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional, Sequence

from . import features as _features
from . import kconfig as _kconfig
from . import log as _log
from .cpus import num_possible_cpus
from .errors import BpfSyscallError, LoaderError, VerifierError
from .fd import Fd, FdGroup
from .loader_contract import (
    BLOB_MAP_KEY_SIZE,
    BLOB_MAP_MAX_ENTRIES,
    BLOB_MAP_NAME,
    BLOB_MAP_TYPE,
    CTX_ERROR_STEP,
    CTX_FLAG_NO_BTF_LOG,
    CTX_HEADER,
    LOADER_LICENSE,
    LOADER_PROG_FLAGS,
    LOADER_PROG_NAME,
    LOADER_PROG_TYPE,
    LOGGING_STEP_KINDS,
    MAP_DESC,
    PROG_DESC,
    PROG_LOAD_DEFAULT,
    PROG_LOAD_NO,
    PROG_LOAD_YES,
    ctx_size,
    map_desc_offset,
    prog_desc_offset,
)
from .maps import Map
from .pinning import Pins, default_pin_path, open_pins, pinned_map_indices
from .struct_ops import StructOpsSpec, StructOpsValue, resolve_struct_ops, struct_ops_autoload
from .program import Program, load_hint
from .uapi import MapType, ProgType

LOADER_LOG_SIZE = 8 << 20  # one buffer reused by every load the loader makes; the failing one's log remains


class MapSpec(NamedTuple):
    """What the runtime must know about one map of the object (``LoaderMap`` on the build side)."""
    name: str
    ident: str
    kind: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int
    initial_value: Optional[bytes]
    frozen: bool
    attr_offset: int = -1  # where its BPF_MAP_CREATE attr sits in the blob (-1: settings cannot be patched)


class ProgSpec(NamedTuple):
    name: str
    section: str
    type: int
    expected_attach_type: int
    attach_target: str
    autoload: bool
    attr_offset: int = -1  # where its BPF_PROG_LOAD attr sits in the blob


class KconfigSpec(NamedTuple):
    name: str
    kcfg_type: str
    size: int
    offset: int
    signed: bool
    weak: bool


@dataclass(frozen=True)
class StepSpec:
    """One fallible step of the loader: what it does to which map or program (index, -1: none)."""
    kind: str
    index: int
    text: str


class LoaderSpec(NamedTuple):
    """A loader program as a skeleton embeds it: code, blob, and the layout of its context."""
    insns: bytes
    blob: bytes
    maps: Sequence[MapSpec]
    progs: Sequence[ProgSpec]
    kconfig_map: Optional[int]
    kconfig: Sequence[KconfigSpec]
    steps: Sequence[StepSpec]  # error_step N in the context names steps[N - 1]
    struct_ops: Sequence[StructOpsSpec] = ()  # laid out for this kernel before the run, written at attach

    @property
    def ctx_size(self) -> int:
        return ctx_size(len(self.maps), len(self.progs))


class LoadedFds(NamedTuple):
    maps: List[Fd]
    progs: List[Optional[Fd]]  # None: not loaded (autoload off)
    struct_ops: Sequence[StructOpsValue] = ()  # per spec.struct_ops: the value attach writes


def _build_ctx(spec: LoaderSpec, initial_values: Dict[int, int], max_entries: Dict[int, int],
               autoload: Dict[int, bool], log_level: int, log: Optional["ctypes.Array[ctypes.c_char]"],
               flags: int = 0, reused: Optional[Mapping[int, int]] = None) -> "ctypes.Array[ctypes.c_char]":
    """The contract's context: header, one descriptor per map, one per program; fds zero but
    those of ``reused`` pinned maps (map index -> fd), which the loader takes instead of creating."""
    ctx = ctypes.create_string_buffer(spec.ctx_size)
    CTX_HEADER.struct.pack_into(ctx, 0, spec.ctx_size, flags, log_level if log is not None else 0,
                                len(log) if log is not None else 0, ctypes.addressof(log) if log is not None else 0,
                                0, 0)
    for i, m in enumerate(spec.maps):
        entries = max_entries.get(i, 0)
        if not entries and m.type == MapType.PERF_EVENT_ARRAY and m.max_entries == 0:
            entries = num_possible_cpus()  # the contract leaves this to the runner
        MAP_DESC.struct.pack_into(ctx, map_desc_offset(i), (reused or {}).get(i, 0), entries, initial_values.get(i, 0))
    for j, _ in enumerate(spec.progs):
        load = PROG_LOAD_DEFAULT if j not in autoload else (PROG_LOAD_YES if autoload[j] else PROG_LOAD_NO)
        PROG_DESC.struct.pack_into(ctx, prog_desc_offset(len(spec.maps), j), 0, load)
    return ctx


def _read_fds(spec: LoaderSpec, ctx: "ctypes.Array[ctypes.c_char]") -> LoadedFds:
    """Take ownership of every fd the loader returned; a zero program fd means 'not loaded'."""
    with FdGroup() as group:
        maps = []
        for i in range(len(spec.maps)):
            fd, _, _ = MAP_DESC.struct.unpack_from(ctx, map_desc_offset(i))
            maps.append(group.add(Fd(fd)))
        progs: List[Optional[Fd]] = []
        for j in range(len(spec.progs)):
            fd, _ = PROG_DESC.struct.unpack_from(ctx, prog_desc_offset(len(spec.maps), j))
            progs.append(group.add(Fd(fd)) if fd > 0 else None)
        group.keep()
    return LoadedFds(maps, progs)


def _run_once(spec: LoaderSpec, ctx: "ctypes.Array[ctypes.c_char]") -> int:
    """One run: blob map, loader program, test run; both closed whatever happens. Returns retval."""
    with Map.create(BLOB_MAP_TYPE, BLOB_MAP_KEY_SIZE, len(spec.blob), BLOB_MAP_MAX_ENTRIES,
                    name=BLOB_MAP_NAME) as blob_map:
        blob_map.update(0, spec.blob)
        blob_map.freeze()
        loader = Program.load(LOADER_PROG_TYPE, spec.insns, name=LOADER_PROG_NAME, license=LOADER_LICENSE,
                              flags=LOADER_PROG_FLAGS, fd_array=[blob_map.fileno()])
        with loader:
            result = loader.test_run(ctx=ctx)
    return ctypes.c_int32(result.retval).value


LOAD_MODES = ("auto", "kernel", "user")


def choose_mode(mode: str = "auto") -> str:
    """"kernel" runs the loader program in the kernel; "user" performs its operations from user
    space (user_loader.py: CO-RE and BTF sanitizing done here), for kernels that cannot run it
    (SYSCALL programs calling bpf_sys_bpf: 5.14; CO-RE in BPF_PROG_LOAD: 5.17; BTF kinds an object
    may use: up to 6.0). "auto" picks "kernel" when this kernel has all of that."""
    if mode not in LOAD_MODES:
        raise ValueError(f"load mode {mode!r}: expected one of {', '.join(LOAD_MODES)}")
    if mode != "auto":
        return mode
    capable = (_features.has_loader_programs() and _features.has_kernel_core()
               and all(_features.has_btf_kind(k) for k in ("FLOAT", "DECL_TAG", "TYPE_TAG", "ENUM64")))
    return "kernel" if capable else "user"


def _run_in_user_space(spec: LoaderSpec, ctx: "ctypes.Array[ctypes.c_char]") -> int:
    from .user_loader import run_in_user_space
    return run_in_user_space(spec.insns, spec.blob, ctx)


def run_loader(spec: LoaderSpec, *, initial_values: Optional[Dict[int, int]] = None,
               max_entries: Optional[Dict[int, int]] = None, autoload: Optional[Dict[int, bool]] = None,
               kconfig: Optional[Dict[str, str]] = None, log_level: int = 0, mode: str = "auto",
               struct_ops_data: Optional[Sequence[Optional[bytes]]] = None,
               pin_root_path: Optional[str] = None,
               pin_paths: Optional[Mapping[int, Optional[str]]] = None) -> LoadedFds:
    """Create the object's maps and programs; returns their fds (owned by the caller).

    ``initial_values`` maps a map index to the *address* of its value_size bytes (global data the
    caller edited before load); ``max_entries`` overrides sizes; ``autoload`` switches programs on
    or off; ``kconfig`` overrides config values (tests), otherwise this machine's are read;
    ``mode`` is "auto", "kernel" or "user" (see ``choose_mode``); ``struct_ops_data`` replaces the
    object's bytes of each struct_ops map (in ``spec.struct_ops`` order; None keeps them).

    Maps pinned by name (pinning.py) are reused from, or pinned at, ``<pin_root_path>/<name>``
    (default /sys/fs/bpf) unless ``pin_paths`` gives a map index another path, or None: not
    pinned this load."""
    pins = _open_pins(spec, max_entries or {}, pin_root_path, pin_paths or {})
    try:
        fds = _run_loader(spec, initial_values, max_entries, autoload, kconfig, log_level, mode, struct_ops_data,
                          pins.ctx_fds())
    except BaseException:
        pins.close_reused()
        raise
    pins.hand_over()
    try:
        pins.pin_created(fds.maps)
    except BaseException:
        for fd in fds.maps + [p for p in fds.progs if p is not None]:
            fd.close()
        raise
    return fds


def _open_pins(spec: LoaderSpec, max_entries: Mapping[int, int], root: Optional[str],
               paths: Mapping[int, Optional[str]]) -> Pins:
    pinned = pinned_map_indices([(s.kind, s.index) for s in spec.steps])
    if not pinned:
        return Pins([])
    wanted = {i: paths.get(i, default_pin_path(spec.maps[i].name, root)) for i in pinned}
    return open_pins(spec.blob, [m.name for m in spec.maps], [m.attr_offset for m in spec.maps],
                     [m.type for m in spec.maps], wanted, max_entries)


def _run_loader(spec: LoaderSpec, initial_values: Optional[Dict[int, int]], max_entries: Optional[Dict[int, int]],
                autoload: Optional[Dict[int, bool]], kconfig: Optional[Dict[str, str]], log_level: int, mode: str,
                struct_ops_data: Optional[Sequence[Optional[bytes]]], reused: Mapping[int, int]) -> LoadedFds:
    mode = choose_mode(mode)
    run_once: Callable[[LoaderSpec, "ctypes.Array[ctypes.c_char]"], int] = \
        _run_once if mode == "kernel" else _run_in_user_space
    if mode == "kernel" and not _features.has_loader_programs():
        raise LoaderError(f"this kernel ({os.uname().release}) cannot run loader programs: they need "
                          "BPF_PROG_TYPE_SYSCALL programs calling bpf_sys_bpf (Linux 5.14+)", "", errno.EINVAL)
    struct_ops: Sequence[StructOpsValue] = ()
    if spec.struct_ops:
        blob, struct_ops = resolve_struct_ops(spec.blob, spec.struct_ops, [m.attr_offset for m in spec.maps],
                                              [p.attr_offset for p in spec.progs], [m.name for m in spec.maps],
                                              struct_ops_data)
        autoload = struct_ops_autoload(blob, spec.struct_ops, [m.attr_offset for m in spec.maps], autoload or {})
        spec = spec._replace(blob=blob)
    initial_values = dict(initial_values or {})
    keep_alive = []
    if spec.kconfig_map is not None:
        m = spec.maps[spec.kconfig_map]
        data = _kconfig.build_kconfig_data(spec.kconfig, m.value_size, m.initial_value, kconfig)
        buf = ctypes.create_string_buffer(data, len(data))
        keep_alive.append(buf)
        initial_values[spec.kconfig_map] = ctypes.addressof(buf)
    log = ctypes.create_string_buffer(LOADER_LOG_SIZE) if log_level else None
    ctx = _build_ctx(spec, initial_values, max_entries or {}, autoload or {}, log_level, log, reused=reused)
    try:
        ret = run_once(spec, ctx)
    except VerifierError as e:
        raise LoaderError(f"the loader program itself was refused: {e}", e.log, e.errno) from None
    if ret >= 0:
        if log is not None and log.value:
            _log.debug(f"log of the last load the loader made (log_level {log_level}):\n"
                       + log.value.decode("utf-8", "replace"))
        return _read_fds(spec, ctx)._replace(struct_ops=struct_ops)
    failed = _failed_step(spec, ctx)
    if log is None and failed.kind in LOGGING_STEP_KINDS:
        # Run again with a log, for the message; this run fails the same way and cleans up too.
        log = ctypes.create_string_buffer(LOADER_LOG_SIZE)
        flags = CTX_FLAG_NO_BTF_LOG if failed.kind == "load_prog" else 0
        ctx = _build_ctx(spec, initial_values, max_entries or {}, autoload or {}, 1, log, flags, reused)
        ret = run_once(spec, ctx)
        if ret >= 0:  # the failure did not repeat: the fds are ours, do not drop them
            return _read_fds(spec, ctx)._replace(struct_ops=struct_ops)
    step = _failed_step(spec, ctx)
    # The log buffer is shared by every load the loader makes: after a failed map creation it
    # still holds the BTF load's log, which says nothing about this failure.
    text = log.value.decode("utf-8", "replace") if log is not None and step.kind in LOGGING_STEP_KINDS else ""
    raise _failure(spec, ctx, -ret, text)


def _error_step(ctx: "ctypes.Array[ctypes.c_char]") -> int:
    return int(struct.unpack_from("=I", ctx, CTX_ERROR_STEP)[0])


def _failed_step(spec: LoaderSpec, ctx: "ctypes.Array[ctypes.c_char]") -> StepSpec:
    number = _error_step(ctx)
    return spec.steps[number - 1] if 0 < number <= len(spec.steps) else StepSpec("", -1, "")


def _failure(spec: LoaderSpec, ctx: "ctypes.Array[ctypes.c_char]", err: int, log: str) -> LoaderError:
    number = _error_step(ctx)
    if 0 < number <= len(spec.steps):
        step = spec.steps[number - 1]
        what = f"step {number} ({step.text})"
        if step.kind == "load_prog" and 0 <= step.index < len(spec.progs):
            prog = spec.progs[step.index]  # the step text has the kernel's 15-byte name
            what = f"program '{prog.name}' (SEC(\"{prog.section}\")), step {number}: {step.text}"
            hint = load_hint(err, prog.expected_attach_type, prog.type)
            if err == errno.EINVAL and prog.type == ProgType.SYSCALL and not _features.has_loader_programs():
                hint = "this kernel has no BPF_PROG_TYPE_SYSCALL programs (Linux 5.14+)"  # user-space path
            if hint and not log.strip():  # a verifier log explains itself
                what += f" [{hint}]"
    else:
        what = f"step {number}"
    detail = BpfSyscallError(what, err)
    if log.strip():
        detail = VerifierError(what, err, log)
    return LoaderError(f"loading failed at {detail}", log, err)
