"""What every operation on a BPF map starts from: the fd, what the kernel says the map is (type,
sizes, flags, name), the codecs between Python values and the map's bytes, the one element
syscall the operations share, and the operations on the map as a whole (freeze, mmap).

maps.Map is the class users meet; it adds element, iteration and batch operations to this.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
from typing import TYPE_CHECKING, Any, Generic, Optional, TypeVar, Union

from . import syscall
from .codec import Codec, PerCpuCodec, make_value_codec, round_up
from .cpus import num_possible_cpus
from .errors import BpfSyscallError
from .fd import Fd
from .kobject import BpfObject
from .map_kinds import FD_VALUE_MAP_TYPES, PERCPU_MAP_TYPES, VALUELESS_MAP_TYPES
from .uapi import Cmd, MapType, known, map_type_name

if TYPE_CHECKING:
    from .maps import Map
    from .syscall import CData

# What a map's keys and values are in Python (int, a ctypes Structure, bytes...): generated
# skeletons annotate each map as Map[K, V], so type checkers and editors know them.
K = TypeVar("K")
V = TypeVar("V")


def _fd_of(obj: Any) -> int:
    """Values of fd maps: a Map, Program, Fd or anything with fileno(), or a raw fd number."""
    if isinstance(obj, int):
        return obj
    if hasattr(obj, "fileno"):
        return int(obj.fileno())
    raise TypeError(f"expected a map, program or file descriptor, not {type(obj).__name__}")


class MapHandle(BpfObject, Generic[K, V]):
    """A BPF map's fd with its description and codecs (use maps.Map, which builds on this)."""

    kind = "map"
    _fd_by_id = Cmd.MAP_GET_FD_BY_ID
    _open_phase_settings = frozenset({"type", "key_size", "value_size", "max_entries", "flags", "numa_node",
                                      "map_extra", "autocreate", "initial_value"})

    def __init__(self, fd: Union[Fd, int], *, key_type: Any = None, value_type: Any = None,
                 name: Optional[str] = None):
        super().__init__(fd)
        try:
            self._describe(syscall.MapInfo(), name)
            self._set_codecs(key_type, value_type)
        except BaseException:
            self.close()
            raise
        self.drop_counter: Optional[Map[int, Any]] = None  # ring buffers: the map counting lost records (ringbuf.py)
        self.event_type: Any = None  # ring/perf buffers: the records' ctypes type, when the skeleton knows it
        self._described = True

    def _describe(self, info: syscall.MapInfo, name: Optional[str]) -> None:
        syscall.obj_info(self.fileno(), info, "get map info")
        self.id: int = info.id
        self.type = known(MapType, info.type)
        self.key_size: int = info.key_size
        self.value_size: int = info.value_size
        self.max_entries: int = info.max_entries
        self.flags: int = info.map_flags
        self.btf_id: int = info.btf_id
        # The kernel keeps only 15 bytes of the name; the skeleton knows the full one.
        self.name: str = name or info.name.decode(errors="replace")

    def _set_codecs(self, key_type: Any, value_type: Any) -> None:
        if self.type in FD_VALUE_MAP_TYPES and value_type is None:
            value_type = int  # user space writes fds and reads back object ids, both u32
        self.key_type, self.value_type = key_type, value_type
        owner = f"map '{self.name}'"
        self._key = Codec(self.key_size, key_type, "key", owner)
        percpu = num_possible_cpus() if self.type in PERCPU_MAP_TYPES else None
        self._value: Union[Codec, PerCpuCodec] = make_value_codec(self.value_size, value_type, percpu, owner)

    # -- what the operations share -------------------------------------------------------------

    @property
    def is_percpu(self) -> bool:
        return self.type in PERCPU_MAP_TYPES

    def _value_buffer(self) -> ctypes.Array[ctypes.c_char]:
        return ctypes.create_string_buffer(self._value.size)

    def _elem(self, cmd: Cmd, key: Optional[CData], value: Optional[CData] = None, flags: int = 0) -> int:
        return syscall.map_elem_errno(cmd, self.fileno(), syscall.address_of(key), syscall.address_of(value), flags)

    def _fail(self, op: str, err: int) -> BpfSyscallError:
        return BpfSyscallError(f"{op} on map '{self.name}'", err)

    def _require_values(self) -> None:
        if self.type in VALUELESS_MAP_TYPES:
            raise TypeError(f"{map_type_name(self.type).lower()} map '{self.name}': the kernel does not return its values "
                            "(file descriptors) to user space; only keys() and updates work")

    def _encode_value(self, value: Any) -> CData:
        if self.type in FD_VALUE_MAP_TYPES and not isinstance(value, (bytes, bytearray)):
            value = _fd_of(value)
        return self._value.buffer(value)

    # -- whole-map operations ---------------------------------------------------------------

    def freeze(self) -> None:
        """No more writes from user space (programs may still write unless BPF_F_RDONLY_PROG)."""
        syscall.map_freeze(self.fileno(), f"freeze map '{self.name}'")

    @property
    def mmap_size(self) -> int:
        return round_up(self.value_size * self.max_entries, mmap.PAGESIZE)

    def mmap(self, writable: bool = True) -> mmap.mmap:
        """Map the values of a BPF_F_MMAPABLE array into this process (global data sections)."""
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        try:
            return mmap.mmap(self.fileno(), self.mmap_size, mmap.MAP_SHARED, prot)
        except OSError as e:
            raise BpfSyscallError(f"mmap map '{self.name}'", e.errno or errno.EINVAL) from None

    def __repr__(self) -> str:
        kind = self.type.name if isinstance(self.type, MapType) else self.type
        state = "closed" if self.closed else f"id={self.id}"
        return f"<Map {self.name!r} {kind} key={self.key_size} value={self.value_size} max={self.max_entries} {state}>"
