"""The kernel's BPF UAPI numbers (linux/bpf.h, linux/if_link.h): the one place this project spells them.

Written out rather than read from headers: the machines the runtime ships to have no headers, and
these values are ABI, fixed once a kernel release carries them. The runtime (``bpf_build.runtime``,
standard library only) and the build side (section definitions, loader generation, skeletons) both
import this module, so it imports nothing of the project but runtime/ints.py.

Enums carry the kernel's names without the C prefix (``BPF_MAP_TYPE_HASH`` is ``MapType.HASH``):
IntEnum and IntFlag members are ints, so they pack into attrs and compare with raw numbers as they
are, while printing readably. tests/runtime/test_uapi.py checks every value against the installed
``/usr/include/linux/bpf.h`` and lists the kernel release of each member that header predates.
"""

from __future__ import annotations

import enum
from typing import Type, TypeVar, Union

from .ints import Number  # (there: the BTF model imports it without this module's enums)


class Flags(enum.IntFlag):
    """Number's printing for flag sets (combinations included)."""

    def __str__(self) -> str:
        return str(int(self))

    def __format__(self, spec: str) -> str:
        return format(int(self), spec)


class Cmd(Number):
    """enum bpf_cmd: the first argument of the bpf() syscall."""

    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    OBJ_PIN = 6
    OBJ_GET = 7
    PROG_ATTACH = 8
    PROG_DETACH = 9
    PROG_TEST_RUN = 10
    PROG_RUN = 10  # the newer name of PROG_TEST_RUN
    PROG_GET_NEXT_ID = 11
    MAP_GET_NEXT_ID = 12
    PROG_GET_FD_BY_ID = 13
    MAP_GET_FD_BY_ID = 14
    OBJ_GET_INFO_BY_FD = 15
    PROG_QUERY = 16
    RAW_TRACEPOINT_OPEN = 17
    BTF_LOAD = 18
    BTF_GET_FD_BY_ID = 19
    TASK_FD_QUERY = 20
    MAP_LOOKUP_AND_DELETE_ELEM = 21
    MAP_FREEZE = 22
    BTF_GET_NEXT_ID = 23
    MAP_LOOKUP_BATCH = 24
    MAP_LOOKUP_AND_DELETE_BATCH = 25
    MAP_UPDATE_BATCH = 26
    MAP_DELETE_BATCH = 27
    LINK_CREATE = 28
    LINK_UPDATE = 29
    LINK_GET_FD_BY_ID = 30
    LINK_GET_NEXT_ID = 31
    ENABLE_STATS = 32
    ITER_CREATE = 33
    LINK_DETACH = 34
    PROG_BIND_MAP = 35
    TOKEN_CREATE = 36
    PROG_STREAM_READ_BY_FD = 37


class MapType(Number):
    """enum bpf_map_type. 19 and 21 have two names; the current one comes first, so it is the one
    ``MapType(19).name`` gives."""

    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    CGROUP_STORAGE_DEPRECATED = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    PERCPU_CGROUP_STORAGE_DEPRECATED = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33
    INSN_ARRAY = 34


class ProgType(Number):
    """enum bpf_prog_type."""

    UNSPEC = 0
    SOCKET_FILTER = 1
    KPROBE = 2
    SCHED_CLS = 3
    SCHED_ACT = 4
    TRACEPOINT = 5
    XDP = 6
    PERF_EVENT = 7
    CGROUP_SKB = 8
    CGROUP_SOCK = 9
    LWT_IN = 10
    LWT_OUT = 11
    LWT_XMIT = 12
    SOCK_OPS = 13
    SK_SKB = 14
    CGROUP_DEVICE = 15
    SK_MSG = 16
    RAW_TRACEPOINT = 17
    CGROUP_SOCK_ADDR = 18
    LWT_SEG6LOCAL = 19
    LIRC_MODE2 = 20
    SK_REUSEPORT = 21
    FLOW_DISSECTOR = 22
    CGROUP_SYSCTL = 23
    RAW_TRACEPOINT_WRITABLE = 24
    CGROUP_SOCKOPT = 25
    TRACING = 26
    STRUCT_OPS = 27
    EXT = 28
    LSM = 29
    SK_LOOKUP = 30
    SYSCALL = 31
    NETFILTER = 32


class AttachType(Number):
    """enum bpf_attach_type (C names: ``BPF_`` + the member's name)."""

    CGROUP_INET_INGRESS = 0
    CGROUP_INET_EGRESS = 1
    CGROUP_INET_SOCK_CREATE = 2
    CGROUP_SOCK_OPS = 3
    SK_SKB_STREAM_PARSER = 4
    SK_SKB_STREAM_VERDICT = 5
    CGROUP_DEVICE = 6
    SK_MSG_VERDICT = 7
    CGROUP_INET4_BIND = 8
    CGROUP_INET6_BIND = 9
    CGROUP_INET4_CONNECT = 10
    CGROUP_INET6_CONNECT = 11
    CGROUP_INET4_POST_BIND = 12
    CGROUP_INET6_POST_BIND = 13
    CGROUP_UDP4_SENDMSG = 14
    CGROUP_UDP6_SENDMSG = 15
    LIRC_MODE2 = 16
    FLOW_DISSECTOR = 17
    CGROUP_SYSCTL = 18
    CGROUP_UDP4_RECVMSG = 19
    CGROUP_UDP6_RECVMSG = 20
    CGROUP_GETSOCKOPT = 21
    CGROUP_SETSOCKOPT = 22
    TRACE_RAW_TP = 23
    TRACE_FENTRY = 24
    TRACE_FEXIT = 25
    MODIFY_RETURN = 26
    LSM_MAC = 27
    TRACE_ITER = 28
    CGROUP_INET4_GETPEERNAME = 29
    CGROUP_INET6_GETPEERNAME = 30
    CGROUP_INET4_GETSOCKNAME = 31
    CGROUP_INET6_GETSOCKNAME = 32
    XDP_DEVMAP = 33
    CGROUP_INET_SOCK_RELEASE = 34
    XDP_CPUMAP = 35
    SK_LOOKUP = 36
    XDP = 37
    SK_SKB_VERDICT = 38
    SK_REUSEPORT_SELECT = 39
    SK_REUSEPORT_SELECT_OR_MIGRATE = 40
    PERF_EVENT = 41
    TRACE_KPROBE_MULTI = 42
    LSM_CGROUP = 43
    STRUCT_OPS = 44
    NETFILTER = 45
    TCX_INGRESS = 46
    TCX_EGRESS = 47
    TRACE_UPROBE_MULTI = 48
    CGROUP_UNIX_CONNECT = 49
    CGROUP_UNIX_SENDMSG = 50
    CGROUP_UNIX_RECVMSG = 51
    CGROUP_UNIX_GETPEERNAME = 52
    CGROUP_UNIX_GETSOCKNAME = 53
    NETKIT_PRIMARY = 54
    NETKIT_PEER = 55
    TRACE_KPROBE_SESSION = 56
    TRACE_UPROBE_SESSION = 57
    TRACE_FSESSION = 58
    TRACE_FENTRY_MULTI = 59
    TRACE_FEXIT_MULTI = 60
    TRACE_FSESSION_MULTI = 61


class LinkType(Number):
    """enum bpf_link_type: what bpf_link_info.type reports."""

    UNSPEC = 0
    RAW_TRACEPOINT = 1
    TRACING = 2
    CGROUP = 3
    ITER = 4
    NETNS = 5
    XDP = 6
    PERF_EVENT = 7
    KPROBE_MULTI = 8
    STRUCT_OPS = 9
    NETFILTER = 10
    TCX = 11
    UPROBE_MULTI = 12
    NETKIT = 13
    SOCKMAP = 14


class UpdateFlag(Flags):
    """The flags of BPF_MAP_UPDATE_ELEM and the batch operations (C: ``BPF_ANY``, ``BPF_NOEXIST``,
    ``BPF_EXIST``, ``BPF_F_LOCK``)."""

    ANY = 0
    NOEXIST = 1
    EXIST = 2
    LOCK = 4


class MapFlag(Flags):
    """bpf_attr.map_flags of BPF_MAP_CREATE that this project sets (C: ``BPF_F_`` + the name)."""

    NO_PREALLOC = 1 << 0
    NUMA_NODE = 1 << 2
    RDONLY_PROG = 1 << 7
    MMAPABLE = 1 << 10
    INNER_MAP = 1 << 12


class ProgLoadFlag(Flags):
    """bpf_attr.prog_flags of BPF_PROG_LOAD that this project sets (C: ``BPF_F_`` + the name)."""

    SLEEPABLE = 1 << 4
    XDP_HAS_FRAGS = 1 << 5


class KprobeMultiFlag(Flags):
    """link_create.kprobe_multi.flags (C: ``BPF_F_KPROBE_MULTI_`` + the name)."""

    RETURN = 1 << 0


class XdpFlag(Flags):
    """XDP attach flags from linux/if_link.h, also taken by an XDP link (C: ``XDP_FLAGS_`` + the name)."""

    UPDATE_IF_NOEXIST = 1 << 0
    SKB_MODE = 1 << 1
    DRV_MODE = 1 << 2
    HW_MODE = 1 << 3
    REPLACE = 1 << 4


class PseudoLoad(Number):
    """src_reg of a 64-bit immediate load: what its immediate names (C: ``BPF_PSEUDO_`` + the name)."""

    MAP_FD = 1
    MAP_VALUE = 2
    BTF_ID = 3
    FUNC = 4
    MAP_IDX = 5
    MAP_IDX_VALUE = 6


class PseudoCall(Number):
    """src_reg of a call: whom it calls; 0 is a helper (C: ``BPF_PSEUDO_`` + the name)."""

    CALL = 1
    KFUNC_CALL = 2


class Helper(Number):
    """enum bpf_func_id: the helpers this project emits or recognises (C: ``BPF_FUNC_`` + the
    name in lower case)."""

    MAP_LOOKUP_ELEM = 1
    GET_CURRENT_PID_TGID = 14
    PERF_EVENT_OUTPUT = 25
    PROBE_READ_KERNEL = 113
    RINGBUF_OUTPUT = 130
    RINGBUF_RESERVE = 131
    COPY_FROM_USER = 148
    SYS_BPF = 166
    BTF_FIND_BY_NAME_KIND = 167
    SYS_CLOSE = 168
    GET_ATTACH_COOKIE = 174
    KALLSYMS_LOOKUP_NAME = 179


# The C spellings the runtime has always exported (bpf_build.runtime.BPF_ANY, ...).
BPF_ANY = UpdateFlag.ANY
BPF_NOEXIST = UpdateFlag.NOEXIST
BPF_EXIST = UpdateFlag.EXIST
BPF_F_LOCK = UpdateFlag.LOCK
BPF_F_NO_PREALLOC = MapFlag.NO_PREALLOC
BPF_F_RDONLY_PROG = MapFlag.RDONLY_PROG
BPF_F_MMAPABLE = MapFlag.MMAPABLE
BPF_F_SLEEPABLE = ProgLoadFlag.SLEEPABLE

BPF_OBJ_NAME_LEN = 16
"""Bytes of a map's or program's name in bpf_attr, with its terminating NUL."""


_Enum = TypeVar("_Enum", bound=enum.IntEnum)


def known(kind: Type[_Enum], value: int) -> Union[_Enum, int]:
    """``kind(value)`` when this module has the number, else the number itself (a newer kernel's)."""
    try:
        return kind(value)
    except ValueError:
        return value


def _name_or_number(kind: Type[enum.IntEnum], value: int, unknown: str) -> str:
    member = known(kind, value)
    return member.name if isinstance(member, enum.IntEnum) else f"{unknown}_{value}"


def prog_type_name(value: int) -> str:
    """``KPROBE`` for 2; ``PROG_TYPE_<n>`` for a number newer than this module."""
    return _name_or_number(ProgType, value, "PROG_TYPE")


def attach_type_name(value: int) -> str:
    """``TRACE_FENTRY`` for 24; ``ATTACH_TYPE_<n>`` for a number newer than this module."""
    return _name_or_number(AttachType, value, "ATTACH_TYPE")


def map_type_name(value: int) -> str:
    """``HASH`` for 1; ``MAP_TYPE_<n>`` for a number newer than this module."""
    return _name_or_number(MapType, value, "MAP_TYPE")
