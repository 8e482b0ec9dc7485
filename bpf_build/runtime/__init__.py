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

__all__ = [
    "AttachError", "AttachType", "BPF_ANY", "BPF_EXIST", "BPF_F_MMAPABLE", "BPF_F_NO_PREALLOC",
    "BPF_F_RDONLY_PROG", "BPF_F_SLEEPABLE", "BPF_NOEXIST", "BpfLink", "BpfRuntimeError", "BpfSyscallError",
    "ClosedError", "Fd", "FdGroup", "IterLink", "KconfigError", "Link", "LinkGroup", "LoaderError", "Map", "MapType", "PerfBuffer",
    "PerfEventLink", "RingBuffer",
    "ProgType", "Program", "SocketFilterLink", "SymbolError", "TestRun", "VerifierError",
    "num_possible_cpus", "online_cpus", "possible_cpus", "set_print", "unpin",
]
