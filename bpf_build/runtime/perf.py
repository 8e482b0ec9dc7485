"""perf_event_open() and its ioctls: tracepoints, kprobes and uprobes are perf events that a BPF
program is attached to; perf buffers and sampling programs are perf events too."""

from __future__ import annotations

import ctypes
import fcntl
from ctypes import c_int32, c_uint16, c_uint32, c_uint64

from . import syscall
from .errors import BpfSyscallError
from .fd import Fd

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_TYPE_TRACEPOINT = 2

PERF_COUNT_SW_CPU_CLOCK = 0
PERF_COUNT_SW_TASK_CLOCK = 1
PERF_COUNT_SW_BPF_OUTPUT = 10

PERF_SAMPLE_RAW = 1 << 10

PERF_FLAG_FD_CLOEXEC = 1 << 3

# perf_event_attr bit flags (the bitfield word after read_format).
ATTR_DISABLED = 1 << 0
ATTR_FREQ = 1 << 10

# _IO('$', n) / _IOW('$', n, u32)
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_SET_BPF = 0x40042408

# perf_event_mmap_page: data_head and data_tail sit at fixed offsets in the first page.
MMAP_PAGE_DATA_HEAD = 1024
MMAP_PAGE_DATA_TAIL = 1032

PERF_RECORD_LOST = 2
PERF_RECORD_SAMPLE = 9


class PerfEventAttr(ctypes.Structure):
    """struct perf_event_attr up to sig_data (PERF_ATTR_SIZE_VER7, 128 bytes)."""
    _fields_ = [("type", c_uint32), ("size", c_uint32), ("config", c_uint64),
                ("sample_period", c_uint64),  # or sample_freq with ATTR_FREQ
                ("sample_type", c_uint64), ("read_format", c_uint64), ("flags", c_uint64),
                ("wakeup_events", c_uint32),  # or wakeup_watermark
                ("bp_type", c_uint32),
                ("config1", c_uint64),  # uprobe/kprobe: path or function name pointer
                ("config2", c_uint64),  # uprobe/kprobe: offset
                ("branch_sample_type", c_uint64), ("sample_regs_user", c_uint64),
                ("sample_stack_user", c_uint32), ("clockid", c_int32), ("sample_regs_intr", c_uint64),
                ("aux_watermark", c_uint32), ("sample_max_stack", c_uint16), ("_reserved2", c_uint16),
                ("aux_sample_size", c_uint32), ("_reserved3", c_uint32), ("sig_data", c_uint64)]


def perf_event_open(attr: PerfEventAttr, pid: int, cpu: int, what: str, group_fd: int = -1,
                    flags: int = PERF_FLAG_FD_CLOEXEC, hint: str = "") -> Fd:
    attr.size = ctypes.sizeof(attr)
    ret, err = syscall.syscall(syscall.NR_PERF_EVENT_OPEN, ctypes.byref(attr), ctypes.c_int(pid),
                               ctypes.c_int(cpu), ctypes.c_int(group_fd), ctypes.c_ulong(flags))
    if ret < 0:
        raise BpfSyscallError(what, err, hint)
    return Fd(ret)


def ioctl(fd: Fd, request: int, arg: int, what: str) -> None:
    try:
        fcntl.ioctl(fd.fileno(), request, arg)
    except OSError as e:
        raise BpfSyscallError(what, e.errno or 0) from None
