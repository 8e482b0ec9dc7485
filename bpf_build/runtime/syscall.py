"""The ``bpf()`` syscall through ctypes: one attr structure per command family, one thin function per
command. Functions take and return plain ints (fds, addresses); ownership (``Fd``) and value
encoding live one layer up.

Attr structures are prefixes of ``union bpf_attr``: the kernel zero-fills whatever a shorter attr
leaves out, so each structure stops at the last field we set. Those of the commands a loader program
makes too (BTF_LOAD, MAP_CREATE, the element commands, PROG_LOAD) are built from the loader
contract's layouts, the one statement of those records.
"""

from __future__ import annotations

import ctypes
import errno
import platform
from ctypes import c_char, c_uint8, c_uint32, c_uint64
from typing import TYPE_CHECKING, Any, List, Optional, Tuple, Type, Union

from .errors import BpfSyscallError
from .loader_contract import BTF_LOAD_ATTR, MAP_CREATE_ATTR, MAP_ELEM_ATTR, PROG_LOAD_ATTR, Layout
from .uapi import BPF_OBJ_NAME_LEN, Cmd

if TYPE_CHECKING:
    from ctypes import _CData

    # The base of every ctypes object (structures, arrays, scalars): typeshed names it, ctypes does not
    # export it, so it exists for type checkers only.
    CData = _CData
    # The ctypes classes a map side or an event may be typed with (generated structs derive from
    # the first two): each has from_buffer_copy, which _CData itself lacks.
    CType = Type[Union[ctypes.Structure, ctypes.Union, ctypes.Array[Any], ctypes._SimpleCData[Any]]]
    # The types of the attr fields built from a layout: integers and char arrays.
    FieldType = Union[Type[ctypes._SimpleCData[Any]], Type[ctypes.Array[c_char]]]

# __NR_bpf and __NR_perf_event_open per architecture (arch/*/entry/syscalls, asm-generic/unistd.h).
_SYSCALL_NUMBERS = {
    "x86_64": (321, 298),
    "aarch64": (280, 241),
    "riscv64": (280, 241),
    "loongarch64": (280, 241),
    "ppc64le": (361, 319),
    "ppc64": (361, 319),
    "s390x": (351, 331),
    "i686": (357, 336),
    "armv7l": (386, 364),
}

try:
    NR_BPF, NR_PERF_EVENT_OPEN = _SYSCALL_NUMBERS[platform.machine()]
except KeyError:  # pragma: no cover - depends on the machine
    NR_BPF = NR_PERF_EVENT_OPEN = -1

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

_EAGAIN_RETRIES = 5  # PROG_LOAD and BTF_LOAD return EAGAIN when a signal interrupts verification


def syscall(number: int, *args: object) -> Tuple[int, int]:
    """Raw syscall: (result, errno); never raises."""
    ret = _syscall(ctypes.c_long(number), *args)
    return ret, (ctypes.get_errno() if ret < 0 else 0)


def bpf(cmd: Cmd, attr: ctypes.Structure, what: str, retry_eagain: bool = False) -> int:
    """Run one bpf() command; raise BpfSyscallError naming ``what`` on failure."""
    if NR_BPF < 0:
        raise BpfSyscallError(what, errno.ENOSYS, f"no bpf() syscall number for {platform.machine()}")
    attempts = _EAGAIN_RETRIES if retry_eagain else 1
    while True:
        ret, err = syscall(NR_BPF, ctypes.c_int(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
        if ret >= 0:
            return ret
        attempts -= 1
        if err == errno.EINTR or (err == errno.EAGAIN and attempts > 0):
            continue
        raise BpfSyscallError(what, err)


def address_of(buffer: Optional[CData]) -> int:
    """Address of a ctypes object or buffer, 0 for None (how the kernel spells 'no pointer')."""
    return 0 if buffer is None else ctypes.addressof(buffer)


def c_name(name: str) -> bytes:
    """An object name as the kernel accepts it: at most 15 bytes, alphanumerics, '_' and '.'."""
    clean = "".join(ch if ch.isalnum() or ch in "_." else "_" for ch in name)
    return clean.encode("ascii", "replace")[:BPF_OBJ_NAME_LEN - 1]


# ----------------------------------------------------------------------------------------------
# Attr structures

# struct format code -> ctypes type, for the contract's layouts ("16s" and the like: char arrays)
_CTYPES_OF_FORMAT = {"I": ctypes.c_uint32, "i": ctypes.c_int32, "Q": ctypes.c_uint64, "q": ctypes.c_int64}


def _fields_of(layout: Layout) -> List[Tuple[str, FieldType]]:
    """A ctypes ``_fields_`` list with the layout's fields (both use natural alignment, so the
    offsets agree)."""
    fields: List[Tuple[str, FieldType]] = []
    for name in layout.fields:
        fmt = layout.formats[name]
        fields.append((name, c_char * int(fmt[:-1]) if fmt.endswith("s") else _CTYPES_OF_FORMAT[fmt]))
    return fields


class BtfLoadAttr(ctypes.Structure):
    _fields_ = _fields_of(BTF_LOAD_ATTR)


class MapCreateAttr(ctypes.Structure):
    _fields_ = _fields_of(MAP_CREATE_ATTR)


class MapElemAttr(ctypes.Structure):
    _fields_ = _fields_of(MAP_ELEM_ATTR)


class MapBatchAttr(ctypes.Structure):
    _fields_ = [("in_batch", c_uint64), ("out_batch", c_uint64), ("keys", c_uint64),
                ("values", c_uint64), ("count", c_uint32), ("map_fd", c_uint32),
                ("elem_flags", c_uint64), ("flags", c_uint64)]


class ProgLoadAttr(ctypes.Structure):
    _fields_ = _fields_of(PROG_LOAD_ATTR)


class ObjPinAttr(ctypes.Structure):
    _fields_ = [("pathname", c_uint64), ("bpf_fd", c_uint32), ("file_flags", c_uint32)]


class TestRunAttr(ctypes.Structure):
    _fields_ = [("prog_fd", c_uint32), ("retval", c_uint32), ("data_size_in", c_uint32),
                ("data_size_out", c_uint32), ("data_in", c_uint64), ("data_out", c_uint64),
                ("repeat", c_uint32), ("duration", c_uint32), ("ctx_size_in", c_uint32),
                ("ctx_size_out", c_uint32), ("ctx_in", c_uint64), ("ctx_out", c_uint64),
                ("flags", c_uint32), ("cpu", c_uint32), ("batch_size", c_uint32)]


class GetIdAttr(ctypes.Structure):
    _fields_ = [("id", c_uint32), ("next_id", c_uint32), ("open_flags", c_uint32)]


class InfoAttr(ctypes.Structure):
    _fields_ = [("bpf_fd", c_uint32), ("info_len", c_uint32), ("info", c_uint64)]


class RawTracepointAttr(ctypes.Structure):
    _fields_ = [("name", c_uint64), ("prog_fd", c_uint32)]


class _LinkPerfEvent(ctypes.Structure):
    _fields_ = [("bpf_cookie", c_uint64)]


class _LinkTracing(ctypes.Structure):
    _fields_ = [("target_btf_id", c_uint32), ("cookie", c_uint64)]


class _LinkTcx(ctypes.Structure):
    _fields_ = [("relative_fd", c_uint32), ("expected_revision", c_uint64)]


class _LinkIter(ctypes.Structure):
    """Iterator links: a pointer to union bpf_iter_link_info (e.g. the map to walk) and its size."""
    _fields_ = [("iter_info", c_uint64), ("iter_info_len", c_uint32)]


class _LinkKprobeMulti(ctypes.Structure):
    """kprobe.multi links: ``cnt`` functions named by ``syms`` (an array of char *) or ``addrs``."""
    _fields_ = [("flags", c_uint32), ("cnt", c_uint32), ("syms", c_uint64), ("addrs", c_uint64),
                ("cookies", c_uint64)]


class _LinkTargetOptions(ctypes.Union):
    _fields_ = [("perf_event", _LinkPerfEvent), ("tracing", _LinkTracing), ("tcx", _LinkTcx), ("iter", _LinkIter),
                ("kprobe_multi", _LinkKprobeMulti)]


class LinkCreateAttr(ctypes.Structure):
    _fields_ = [("prog_fd", c_uint32), ("target", c_uint32), ("attach_type", c_uint32),
                ("flags", c_uint32), ("options", _LinkTargetOptions)]


class FdOnlyAttr(ctypes.Structure):
    """MAP_FREEZE and LINK_DETACH take nothing but an fd."""
    _fields_ = [("fd", c_uint32)]


# Info structures (prefixes of the kernel's; the kernel fills at most info_len bytes).

class MapInfo(ctypes.Structure):
    _fields_ = [("type", c_uint32), ("id", c_uint32), ("key_size", c_uint32), ("value_size", c_uint32),
                ("max_entries", c_uint32), ("map_flags", c_uint32), ("name", c_char * BPF_OBJ_NAME_LEN),
                ("ifindex", c_uint32), ("btf_vmlinux_value_type_id", c_uint32), ("netns_dev", c_uint64),
                ("netns_ino", c_uint64), ("btf_id", c_uint32), ("btf_key_type_id", c_uint32),
                ("btf_value_type_id", c_uint32), ("_pad", c_uint32), ("map_extra", c_uint64)]


class ProgInfo(ctypes.Structure):
    """struct bpf_prog_info up to btf_id (Linux 5.0)."""
    _fields_ = [("type", c_uint32), ("id", c_uint32), ("tag", c_uint8 * 8), ("jited_prog_len", c_uint32),
                ("xlated_prog_len", c_uint32), ("jited_prog_insns", c_uint64),
                ("xlated_prog_insns", c_uint64), ("load_time", c_uint64), ("created_by_uid", c_uint32),
                ("nr_map_ids", c_uint32), ("map_ids", c_uint64), ("name", c_char * BPF_OBJ_NAME_LEN),
                ("ifindex", c_uint32), ("gpl_compatible", c_uint32), ("netns_dev", c_uint64),
                ("netns_ino", c_uint64), ("nr_jited_ksyms", c_uint32), ("nr_jited_func_lens", c_uint32),
                ("jited_ksyms", c_uint64), ("jited_func_lens", c_uint64), ("btf_id", c_uint32)]


class BtfInfo(ctypes.Structure):
    """struct bpf_btf_info (name and kernel_btf: Linux 5.11, with module BTF)."""
    _fields_ = [("btf", c_uint64), ("btf_size", c_uint32), ("id", c_uint32),
                ("name", c_uint64), ("name_len", c_uint32), ("kernel_btf", c_uint32)]


class LinkInfo(ctypes.Structure):
    _fields_ = [("type", c_uint32), ("id", c_uint32), ("prog_id", c_uint32)]


# ----------------------------------------------------------------------------------------------
# Commands

def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, *, name: str = "",
               flags: int = 0, inner_map_fd: int = 0, map_extra: int = 0, btf_fd: int = 0,
               btf_key_type_id: int = 0, btf_value_type_id: int = 0, ifindex: int = 0) -> int:
    attr = MapCreateAttr(map_type=map_type, key_size=key_size, value_size=value_size,
                         max_entries=max_entries, map_flags=flags, inner_map_fd=inner_map_fd,
                         map_name=c_name(name), map_ifindex=ifindex, btf_fd=btf_fd,
                         btf_key_type_id=btf_key_type_id, btf_value_type_id=btf_value_type_id,
                         map_extra=map_extra)
    return bpf(Cmd.MAP_CREATE, attr, f"create map '{name}'")


def map_elem_errno(cmd: Cmd, map_fd: int, key: int, value: int = 0, flags: int = 0) -> int:
    """LOOKUP/UPDATE/DELETE/GET_NEXT_KEY/LOOKUP_AND_DELETE (key and value are addresses); returns
    the errno, 0 on success, instead of raising: element operations answer ENOENT as a normal
    result, and exceptions are slow in tight iteration loops."""
    attr = MapElemAttr(map_fd=map_fd, key=key, value=value, flags=flags)
    ret, err = syscall(NR_BPF, ctypes.c_int(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    return 0 if ret >= 0 else err


def map_batch(cmd: Cmd, map_fd: int, *, in_batch: int, out_batch: int, keys: int, values: int,
              count: int, elem_flags: int = 0, flags: int = 0) -> Tuple[int, int]:
    """One batch command; returns (elements processed, errno). ENOENT means 'no more': the kernel
    still reports how many it processed in ``count``."""
    attr = MapBatchAttr(in_batch=in_batch, out_batch=out_batch, keys=keys, values=values, count=count,
                        map_fd=map_fd, elem_flags=elem_flags, flags=flags)
    ret, err = syscall(NR_BPF, ctypes.c_int(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    return attr.count, (0 if ret >= 0 else err)


def map_freeze(map_fd: int, what: str = "freeze map") -> None:
    bpf(Cmd.MAP_FREEZE, FdOnlyAttr(fd=map_fd), what)


def prog_load(attr: ProgLoadAttr, what: str) -> int:
    return bpf(Cmd.PROG_LOAD, attr, what, retry_eagain=True)


def obj_pin(fd: int, path: str) -> None:
    raw = ctypes.create_string_buffer(path.encode())
    bpf(Cmd.OBJ_PIN, ObjPinAttr(pathname=address_of(raw), bpf_fd=fd), f"pin to {path}")


def obj_get(path: str, file_flags: int = 0) -> int:
    raw = ctypes.create_string_buffer(path.encode())
    return bpf(Cmd.OBJ_GET, ObjPinAttr(pathname=address_of(raw), file_flags=file_flags), f"open pinned {path}")


def prog_test_run(attr: TestRunAttr, what: str) -> None:
    bpf(Cmd.PROG_TEST_RUN, attr, what)


def get_next_id(cmd: Cmd, start_id: int) -> Optional[int]:
    """PROG/MAP/LINK/BTF_GET_NEXT_ID; None after the last one."""
    attr = GetIdAttr(id=start_id)
    ret, err = syscall(NR_BPF, ctypes.c_int(cmd), ctypes.byref(attr), ctypes.c_uint(ctypes.sizeof(attr)))
    if ret < 0:
        if err == errno.ENOENT:
            return None
        raise BpfSyscallError(cmd.name.lower(), err)
    return int(attr.next_id)


def get_fd_by_id(cmd: Cmd, object_id: int, what: str) -> int:
    return bpf(cmd, GetIdAttr(id=object_id), what)


def obj_info(fd: int, info: ctypes.Structure, what: str) -> None:
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=address_of(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr, what)


def raw_tracepoint_open(name: Optional[str], prog_fd: int) -> int:
    raw = ctypes.create_string_buffer(name.encode()) if name else None
    attr = RawTracepointAttr(name=address_of(raw), prog_fd=prog_fd)
    return bpf(Cmd.RAW_TRACEPOINT_OPEN, attr, f"open raw tracepoint '{name}'")


def link_create(attr: LinkCreateAttr, what: str) -> int:
    return bpf(Cmd.LINK_CREATE, attr, what)


def iter_create(link_fd: int, what: str) -> int:
    """BPF_ITER_CREATE: a readable fd; each open starts a new walk of the iterator's objects."""
    return bpf(Cmd.ITER_CREATE, FdOnlyAttr(fd=link_fd), what)


def link_detach(link_fd: int) -> None:
    bpf(Cmd.LINK_DETACH, FdOnlyAttr(fd=link_fd), "detach link")
