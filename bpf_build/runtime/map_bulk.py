"""A BPF map read or written as a whole: walking its keys (BPF_MAP_GET_NEXT_KEY, with
items/values/len/clear built on it) and the batch commands, which move many elements a syscall."""

from __future__ import annotations

import ctypes
import errno
from typing import Any, Iterator, List, Optional, Sequence, Tuple, cast

from . import syscall
from .errors import BpfSyscallError
from .map_handle import K, MapHandle, V
from .map_kinds import (ARRAY_MAP_TYPES, FD_VALUE_MAP_TYPES, KEYLESS_MAP_TYPES, NO_ELEMENT_ACCESS_MAP_TYPES,
                        VALUELESS_MAP_TYPES)
from .uapi import BPF_ANY, Cmd, map_type_name

_DEFAULT_BATCH = 256


class MapBulk(MapHandle[K, V]):
    """Iteration and batch operations of a map (use maps.Map, which builds on this)."""

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
