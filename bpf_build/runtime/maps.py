"""BPF maps from Python: a dict-like view with typed keys and values, batch operations, per-CPU
values as lists, queue/stack/bloom operations, map-in-map, pinning and mmap.

Element access follows dict conventions: ``m[k]`` raises KeyError when the kernel answers ENOENT,
``m.lookup(k)`` returns a default instead. Every other kernel refusal raises BpfSyscallError.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
from typing import TYPE_CHECKING, Any, Generic, Iterator, List, Optional, Sequence, Tuple, TypeVar, Union, cast

from . import syscall
from .codec import Codec, PerCpuCodec, make_value_codec, round_up
from .cpus import num_possible_cpus
from .errors import BpfSyscallError
from .fd import Fd
from .kobject import BpfObject
from .map_kinds import (ARRAY_MAP_TYPES, FD_VALUE_MAP_TYPES, KEYLESS_MAP_TYPES, MAP_IN_MAP_TYPES,
                        NO_ELEMENT_ACCESS_MAP_TYPES, PERCPU_MAP_TYPES, VALUELESS_MAP_TYPES)
from .uapi import BPF_ANY, Cmd, MapType, known, map_type_name

if TYPE_CHECKING:
    from .syscall import CData

_MISSING = object()
# What a map's keys and values are in Python (int, a ctypes Structure, bytes...): generated
# skeletons annotate each map as Map[K, V], so type checkers and editors know them.
K = TypeVar("K")
V = TypeVar("V")
_DEFAULT_BATCH = 256


def _fd_of(obj: Any) -> int:
    """Values of fd maps: a Map, Program, Fd or anything with fileno(), or a raw fd number."""
    if isinstance(obj, int):
        return obj
    if hasattr(obj, "fileno"):
        return int(obj.fileno())
    raise TypeError(f"expected a map, program or file descriptor, not {type(obj).__name__}")


class Map(BpfObject, Generic[K, V]):
    """One BPF map. Create with ``Map.create``, open with ``from_fd``/``from_pinned``/``from_id``."""

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

    def with_types(self, key_type: Any = None, value_type: Any = None) -> Map[Any, Any]:
        """Reinterpret keys/values (for example after ``from_pinned``); returns self."""
        self._set_codecs(key_type, value_type)
        return self

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def create(cls, map_type: int, key_size: int, value_size: int, max_entries: int, *, name: str = "",
               flags: int = 0, inner_map: Optional[Map[Any, Any]] = None, map_extra: int = 0,
               key_type: Any = None, value_type: Any = None) -> Map[Any, Any]:
        fd = syscall.map_create(int(map_type), key_size, value_size, max_entries, name=name, flags=flags,
                                inner_map_fd=inner_map.fileno() if inner_map is not None else 0,
                                map_extra=map_extra)
        return cls(fd, key_type=key_type, value_type=value_type, name=name or None)

    # -- single elements --------------------------------------------------------------------

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

    def lookup(self, key: K, default: Optional[V] = None, flags: int = 0) -> Optional[V]:
        out = self._value_buffer()
        err = self._elem(Cmd.MAP_LOOKUP_ELEM, self._key.buffer(key), out, flags)
        if err == errno.ENOENT:
            return default
        if err:
            raise self._fail("lookup", err)
        return cast(V, self._value.from_bytes(out.raw))

    def __getitem__(self, key: K) -> V:
        missing: Any = _MISSING
        value = self.lookup(key, missing)
        if value is _MISSING:
            raise KeyError(key)
        return cast(V, value)

    def get(self, key: K, default: Optional[V] = None) -> Optional[V]:
        return self.lookup(key, default)

    def update(self, key: K, value: V, flags: int = BPF_ANY) -> None:
        """flags: BPF_ANY, BPF_NOEXIST (fails with EEXIST), BPF_EXIST (fails with ENOENT), BPF_F_LOCK."""
        err = self._elem(Cmd.MAP_UPDATE_ELEM, self._key.buffer(key), self._encode_value(value), flags)
        if err:
            raise self._fail("update", err)

    def _encode_value(self, value: Any) -> CData:
        if self.type in FD_VALUE_MAP_TYPES and not isinstance(value, (bytes, bytearray)):
            value = _fd_of(value)
        return self._value.buffer(value)

    def __setitem__(self, key: K, value: V) -> None:
        self.update(key, value)

    def delete(self, key: K) -> bool:
        """Remove a key; False when it was not there."""
        err = self._elem(Cmd.MAP_DELETE_ELEM, self._key.buffer(key))
        if err == errno.ENOENT:
            return False
        if err:
            raise self._fail("delete", err)
        return True

    def __delitem__(self, key: K) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def lookup_and_delete(self, key: K, default: Optional[V] = None) -> Optional[V]:
        out = self._value_buffer()
        err = self._elem(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, self._key.buffer(key), out)
        if err == errno.ENOENT:
            return default
        if err:
            raise self._fail("lookup and delete", err)
        return cast(V, self._value.from_bytes(out.raw))

    def __contains__(self, key: Any) -> bool:
        if self.type in KEYLESS_MAP_TYPES:  # bloom filter membership: value in map
            err = self._elem(Cmd.MAP_LOOKUP_ELEM, None, self._value.buffer(key))
        else:
            err = self._elem(Cmd.MAP_LOOKUP_ELEM, self._key.buffer(key), self._value_buffer())
        if err and err != errno.ENOENT:
            raise self._fail("lookup", err)
        return not err

    # -- iteration --------------------------------------------------------------------------

    def _raw_keys(self) -> Iterator[bytes]:
        key = None
        nxt = ctypes.create_string_buffer(self.key_size)
        while True:
            err = self._elem(Cmd.MAP_GET_NEXT_KEY, key, nxt)
            if err == errno.ENOENT:
                return
            if err:
                raise self._fail("iterate", err)
            raw = nxt.raw
            yield raw
            key = ctypes.create_string_buffer(raw, self.key_size)

    def keys(self) -> Iterator[K]:
        """Every key; for fd maps with values (program arrays, arrays of maps) only the slots that
        hold one, so ``dict(m)`` and ``m[k]`` for each key agree."""
        if self.type in FD_VALUE_MAP_TYPES and self.type not in VALUELESS_MAP_TYPES:
            for key, _ in self.items():
                yield key
            return
        decode = self._key.from_bytes
        for raw in self._raw_keys():
            yield decode(raw)

    __iter__ = keys

    def items(self) -> Iterator[Tuple[K, V]]:
        """Keys deleted between GET_NEXT_KEY and the lookup are skipped, as a concurrent dict would
        (and so are the empty slots of fd arrays)."""
        self._require_values()
        decode_key, decode_value = self._key.from_bytes, self._value.from_bytes
        out = self._value_buffer()
        for raw in self._raw_keys():
            err = self._elem(Cmd.MAP_LOOKUP_ELEM, ctypes.create_string_buffer(raw, self.key_size), out)
            if err == errno.ENOENT:
                continue
            if err:
                raise self._fail("lookup", err)
            yield cast(K, decode_key(raw)), cast(V, decode_value(out.raw))

    def values(self) -> Iterator[V]:
        for _, value in self.items():
            yield value

    def __len__(self) -> int:
        """Slots for arrays, entries for hash-like maps (counted: the kernel keeps no count)."""
        if self.type in ARRAY_MAP_TYPES:
            return self.max_entries
        if self.type in KEYLESS_MAP_TYPES or self.type in NO_ELEMENT_ACCESS_MAP_TYPES:
            raise TypeError(f"{map_type_name(self.type).lower()} map '{self.name}' has no length")
        return sum(1 for _ in self._raw_keys())

    def clear(self) -> None:
        for raw in list(self._raw_keys()):
            self._elem(Cmd.MAP_DELETE_ELEM, ctypes.create_string_buffer(raw, self.key_size))

    # -- queue, stack, bloom filter --------------------------------------------------------

    def push(self, value: Any, flags: int = BPF_ANY) -> None:
        """Queue/stack: append (BPF_EXIST overwrites the oldest when full). Bloom filter: add."""
        err = self._elem(Cmd.MAP_UPDATE_ELEM, None, self._value.buffer(value), flags)
        if err:
            raise self._fail("push", err)

    def _take(self, cmd: Cmd, op: str) -> Any:
        out = self._value_buffer()
        err = self._elem(cmd, None, out)
        if err == errno.ENOENT:
            raise IndexError(f"{op} from empty map '{self.name}'")
        if err:
            raise self._fail(op, err)
        return self._value.from_bytes(out.raw)

    def pop(self) -> Any:
        """Queue: oldest value; stack: newest. IndexError when empty."""
        return self._take(Cmd.MAP_LOOKUP_AND_DELETE_ELEM, "pop")

    def peek(self) -> Any:
        return self._take(Cmd.MAP_LOOKUP_ELEM, "peek")

    # -- map in map, fd maps ---------------------------------------------------------------

    def inner_map(self, key: Any, **types: Any) -> Optional[Map[Any, Any]]:
        """Open the map stored at ``key`` of an array/hash of maps (the caller owns the result)."""
        if self.type not in MAP_IN_MAP_TYPES:
            raise TypeError(f"map '{self.name}' is not a map of maps")
        inner_id = self.lookup(key)
        return None if inner_id is None else Map.from_id(cast(int, inner_id), **types)

    # -- batches ---------------------------------------------------------------------------

    def _batch_buffers(self, count: int) -> Tuple[ctypes.Array[ctypes.c_char], ctypes.Array[ctypes.c_char]]:
        return (ctypes.create_string_buffer(self.key_size * count),
                ctypes.create_string_buffer(self._value.size * count))

    def _decode_batch(self, keys: ctypes.Array[ctypes.c_char], values: ctypes.Array[ctypes.c_char],
                      n: int) -> List[Tuple[Any, Any]]:
        ks, vs = self.key_size, self._value.size
        kraw, vraw = keys.raw, values.raw
        decode_key, decode_value = self._key.from_bytes, self._value.from_bytes
        return [(decode_key(kraw[i * ks:(i + 1) * ks]), decode_value(vraw[i * vs:(i + 1) * vs])) for i in range(n)]

    def _read_batches(self, cmd: Cmd, op: str, batch_size: int) -> List[Tuple[Any, Any]]:
        out: List[Tuple[Any, Any]] = []
        # The resume token is opaque; hash maps use a bucket index, arrays a key. Key size or 8 fits both.
        token_size = max(self.key_size, 8)
        in_batch = None
        out_batch = ctypes.create_string_buffer(token_size)
        count = batch_size
        while True:
            keys, values = self._batch_buffers(count)
            n, err = syscall.map_batch(cmd, self.fileno(), in_batch=syscall.address_of(in_batch),
                                       out_batch=syscall.address_of(out_batch), keys=syscall.address_of(keys),
                                       values=syscall.address_of(values), count=count)
            if err == errno.ENOSPC and n == 0:
                count *= 2  # one hash bucket holds more than a batch: retry wider
                continue
            if err and err != errno.ENOENT:
                raise self._fail(op, err)
            out.extend(self._decode_batch(keys, values, n))
            if err == errno.ENOENT:
                return out
            in_batch = ctypes.create_string_buffer(out_batch.raw, token_size)

    def lookup_batch(self, batch_size: int = _DEFAULT_BATCH) -> List[Tuple[Any, Any]]:
        """Every (key, value) through BPF_MAP_LOOKUP_BATCH: a few syscalls instead of two per key."""
        return self._read_batches(Cmd.MAP_LOOKUP_BATCH, "lookup batch", batch_size)

    def lookup_and_delete_batch(self, batch_size: int = _DEFAULT_BATCH) -> List[Tuple[Any, Any]]:
        return self._read_batches(Cmd.MAP_LOOKUP_AND_DELETE_BATCH, "lookup and delete batch", batch_size)

    def update_batch(self, items: Sequence[Tuple[Any, Any]], flags: int = BPF_ANY) -> None:
        items = list(items)
        if not items:
            return
        keys = ctypes.create_string_buffer(b"".join(self._key.to_bytes(k) for k, _ in items))
        values = ctypes.create_string_buffer(b"".join(self._value.to_bytes(v) for _, v in items))
        self._write_batch(Cmd.MAP_UPDATE_BATCH, "update batch", keys, values, len(items), flags)

    def delete_batch(self, keys: Sequence[Any]) -> None:
        keys = list(keys)
        if not keys:
            return
        raw = ctypes.create_string_buffer(b"".join(self._key.to_bytes(k) for k in keys))
        self._write_batch(Cmd.MAP_DELETE_BATCH, "delete batch", raw, None, len(keys), 0)

    def _write_batch(self, cmd: Cmd, op: str, keys: ctypes.Array[ctypes.c_char],
                     values: Optional[ctypes.Array[ctypes.c_char]], count: int, flags: int) -> None:
        n, err = syscall.map_batch(cmd, self.fileno(), in_batch=0, out_batch=0, keys=syscall.address_of(keys),
                                   values=syscall.address_of(values), count=count, elem_flags=flags)
        if err:
            raise BpfSyscallError(f"{op} on map '{self.name}' (stopped after {n} of {count})", err)

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
