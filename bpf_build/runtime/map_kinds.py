"""Which map types behave alike for user space: per-CPU values, fd values, no keys, no element
access. The runtime's reading of the kernel's map semantics (maps.py asks these sets); the numbers
themselves are uapi.MapType."""

from __future__ import annotations

from typing import FrozenSet

from .uapi import MapType

# Maps whose values are one slot per possible CPU.
PERCPU_MAP_TYPES: FrozenSet[MapType] = frozenset({
    MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE})
# Maps indexed 0..max_entries-1 that always hold every slot.
ARRAY_MAP_TYPES: FrozenSet[MapType] = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY})
# Maps with no key at all: push/pop/peek.
KEYLESS_MAP_TYPES: FrozenSet[MapType] = frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER})
# Maps whose values are file descriptors on update and object ids on lookup.
FD_VALUE_MAP_TYPES: FrozenSet[MapType] = frozenset({
    MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY, MapType.ARRAY_OF_MAPS,
    MapType.HASH_OF_MAPS, MapType.SOCKMAP, MapType.SOCKHASH, MapType.REUSEPORT_SOCKARRAY})
MAP_IN_MAP_TYPES: FrozenSet[MapType] = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS})
# fd maps whose values the kernel never returns to user space (a lookup answers ENOTSUPP).
VALUELESS_MAP_TYPES: FrozenSet[MapType] = frozenset({MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY})
# Maps without user-space element access at all.
NO_ELEMENT_ACCESS_MAP_TYPES: FrozenSet[MapType] = frozenset({
    MapType.RINGBUF, MapType.USER_RINGBUF, MapType.STRUCT_OPS, MapType.ARENA})
