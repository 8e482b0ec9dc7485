"""bpf_build.runtime: load and drive BPF objects from Python with nothing but the standard library.

Talks to the kernel through the ``bpf()`` and ``perf_event_open()`` syscalls via ctypes. Imports
nothing from the build side of bpf_build, so a generated Python skeleton needs only this package.
"""

from .constants import (BPF_ANY, BPF_EXIST, BPF_F_MMAPABLE, BPF_F_NO_PREALLOC, BPF_F_RDONLY_PROG,
                        BPF_F_SLEEPABLE, BPF_NOEXIST, AttachType, MapType, ProgType)
from .cpus import num_possible_cpus, online_cpus, possible_cpus
from .errors import (AttachError, BpfRuntimeError, BpfSyscallError, KconfigError, LoaderError, SymbolError,
                     VerifierError)
from .fd import Fd, FdGroup
from .kobject import unpin
from .links import BpfLink, Link, LinkGroup, PerfEventLink, SocketFilterLink
from .maps import Map
from .perfbuf import PerfBuffer
from .program import Program, TestRun
from .ringbuf import RingBuffer

__all__ = [
    "AttachError", "AttachType", "BPF_ANY", "BPF_EXIST", "BPF_F_MMAPABLE", "BPF_F_NO_PREALLOC",
    "BPF_F_RDONLY_PROG", "BPF_F_SLEEPABLE", "BPF_NOEXIST", "BpfLink", "BpfRuntimeError", "BpfSyscallError",
    "Fd", "FdGroup", "KconfigError", "Link", "LinkGroup", "LoaderError", "Map", "MapType", "PerfBuffer",
    "PerfEventLink", "RingBuffer",
    "ProgType", "Program", "SocketFilterLink", "SymbolError", "TestRun", "VerifierError",
    "num_possible_cpus", "online_cpus", "possible_cpus", "unpin",
]
