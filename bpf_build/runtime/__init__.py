"""bpf_build.runtime: load and drive BPF objects from Python with nothing but the standard library.

Talks to the kernel through the ``bpf()`` and ``perf_event_open()`` syscalls via ctypes. Imports
nothing from the build side of bpf_build, so a generated Python skeleton needs only this package.

    from x_skel import x_bpf                      # bpf-build skel --lang python x.bpf.o -o x_skel.py
    with x_bpf.open() as skel:
        skel.rodata.target_pid = os.getpid()      # before load: plain memory
        skel.maps.stacks.value_size = 1024        # before load: libbpf's knobs as attributes
        skel.progs.optional.autoload = False      #   (settings.py lists them)
        skel.load(log_level=1)                    # runs the object's loader program
        skel.attach()                             # by section name, every failure reported; or
                                                  # skel.progs.p.attach_xdp("eth0") (owned by skel)
        skel.bss.counter                          # after load: the map's memory, through mmap
        skel.maps.counts[key]                     # typed map access, batches, per-CPU lists
        for event in RingBuffer(skel.maps.events).read(timeout=1): ...   # typed when unambiguous
        async for event in RingBuffer(skel.maps.events): ...             # on asyncio

``load(log_level=N)`` hands N (1: verifier log, 2: every instruction, 4: statistics) to every BTF
and program load the loader makes; a refused load raises LoaderError carrying the failing step's
log in any case. ``set_print(hook)`` receives the runtime's messages as libbpf's print callback
does: ``hook(level, message)`` with level "warn", "info" or "debug" (the last log of a successful
logged load arrives at "debug"); ``set_print(None)`` silences them.

Modules: ``uapi`` (the kernel's numbers: commands, map/program/attach types, flags; the build side
reads them from here too), ``syscall`` (bpf() and attr layouts), ``fd`` (ownership), ``maps`` (with
``map_kinds``: which map types behave alike), ``program``,
``attach`` and ``links`` (every attach kind; ``tc`` for classic cls_bpf), ``ringbuf``/``perfbuf``
(``aio`` for asyncio), ``loader`` (runs a loader program) and ``kconfig``, ``skeleton`` (the
generated classes' base) with ``settings`` (open-phase knobs) and ``records`` (ctypes structs that
refuse truncation, char[] helpers), ``log`` (the print hook), ``elfsym`` (uprobe symbol offsets)
and ``kernel_btf`` (BTF ids of attach targets).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Dict, List, Tuple

# Public names by module, imported when first used: ``import bpf_build.runtime.uapi`` (the build
# side reads the kernel's numbers there) then loads uapi alone, not ctypes, mmap and asyncio.
_PUBLIC: Dict[str, Tuple[str, ...]] = {
    "cpus": ("num_possible_cpus", "online_cpus", "possible_cpus"),
    "errors": ("AttachError", "BpfRuntimeError", "BpfSyscallError", "ClosedError", "KconfigError", "LoaderError",
               "SymbolError", "VerifierError"),
    "fd": ("Fd", "FdGroup"),
    "kobject": ("unpin",),
    "links": ("BpfLink", "IterLink", "Link", "LinkGroup", "PerfEventLink", "SocketFilterLink"),
    "log": ("set_print",),
    "maps": ("Map",),
    "perfbuf": ("PerfBuffer",),
    "program": ("Program", "TestRun"),
    "ringbuf": ("RingBuffer",),
    "uapi": ("BPF_ANY", "BPF_EXIST", "BPF_F_MMAPABLE", "BPF_F_NO_PREALLOC", "BPF_F_RDONLY_PROG", "BPF_F_SLEEPABLE",
             "BPF_NOEXIST", "AttachType", "MapType", "ProgType"),
}
_MODULE_OF = {name: module for module, names in _PUBLIC.items() for name in names}

__all__ = [
    "AttachError", "AttachType", "BPF_ANY", "BPF_EXIST", "BPF_F_MMAPABLE", "BPF_F_NO_PREALLOC",
    "BPF_F_RDONLY_PROG", "BPF_F_SLEEPABLE", "BPF_NOEXIST", "BpfLink", "BpfRuntimeError", "BpfSyscallError",
    "ClosedError", "Fd", "FdGroup", "IterLink", "KconfigError", "Link", "LinkGroup", "LoaderError", "Map",
    "MapType", "PerfBuffer", "PerfEventLink", "ProgType", "Program", "RingBuffer", "SocketFilterLink",
    "SymbolError", "TestRun", "VerifierError", "num_possible_cpus", "online_cpus", "possible_cpus", "set_print",
    "unpin",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use; or a submodule not imported yet
    (``bpf_build.runtime.maps`` was always reachable as an attribute)."""
    module = _MODULE_OF.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_MODULE_OF))


# The same names for type checkers and linters; tests/skel_python/test_runtime_exports.py checks that
# __all__, _PUBLIC and these imports agree.
if TYPE_CHECKING:
    from .cpus import num_possible_cpus, online_cpus, possible_cpus
    from .errors import (AttachError, BpfRuntimeError, BpfSyscallError, ClosedError, KconfigError, LoaderError,
                         SymbolError, VerifierError)
    from .fd import Fd, FdGroup
    from .kobject import unpin
    from .links import BpfLink, IterLink, Link, LinkGroup, PerfEventLink, SocketFilterLink
    from .log import set_print
    from .maps import Map
    from .perfbuf import PerfBuffer
    from .program import Program, TestRun
    from .ringbuf import RingBuffer
    from .uapi import (BPF_ANY, BPF_EXIST, BPF_F_MMAPABLE, BPF_F_NO_PREALLOC, BPF_F_RDONLY_PROG,
                       BPF_F_SLEEPABLE, BPF_NOEXIST, AttachType, MapType, ProgType)
