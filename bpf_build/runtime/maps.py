"""BPF maps from Python: a dict-like view with typed keys and values, batch operations, per-CPU
values as lists, queue/stack/bloom operations, map-in-map, pinning and mmap.

Element access follows dict conventions: ``m[k]`` raises KeyError when the kernel answers ENOENT,
``m.lookup(k)`` returns a default instead. Every other kernel refusal raises BpfSyscallError.

Map is built in layers, one module each: map_handle.MapHandle (the fd, its description and codecs,
freeze and mmap), map_bulk.MapBulk (iteration and batches), and here the element operations.
"""

from __future__ import annotations

import errno
from typing import Any, Optional, cast

from . import syscall
from .map_bulk import MapBulk
from .map_handle import K, V
from .map_kinds import KEYLESS_MAP_TYPES, MAP_IN_MAP_TYPES
from .uapi import BPF_ANY, Cmd

_MISSING = object()


class Map(MapBulk[K, V]):
    """One BPF map. Create with ``Map.create``, open with ``from_fd``/``from_pinned``/``from_id``."""

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
