"""Global data sections (.data, .rodata, .bss, .kconfig) of a loaded skeleton, as Python sees them.

Before load a section is a plain ctypes object the caller edits and the loader copies in; after
load it is whichever view the map allows: the mmapped memory itself (reads and writes go straight
to kernel memory), a copy of a frozen section (read-only: it never changes), or, for a section
libbpf does not make BPF_F_MMAPABLE (static variables only), a view whose every access is a map
lookup or update of key 0.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple

from .uapi import BPF_F_MMAPABLE

if TYPE_CHECKING:
    import mmap

    from .loader import MapSpec
    from .maps import Map

GLOBAL_DATA_KINDS = ("data", "rodata", "bss", "kconfig")

_AGGREGATES = (ctypes.Structure, ctypes.Union, ctypes.Array)


class SectionView:
    """A global data section after load that cannot be mmapped: a frozen ``.rodata`` (reads only)
    or a section of ``static`` variables only, which libbpf does not make BPF_F_MMAPABLE (reads
    and writes go through map lookup/update of key 0).

    ``fetch()`` returns the section's current value as a ctypes object; ``store(value)`` writes a
    whole value back (None: read-only). Nested members are views on a path into the section, so
    ``view.cfg.limit = 3`` reads the section, changes that member and writes the section back."""

    __slots__ = ("_fetch", "_store", "_what", "_path")

    def __init__(self, fetch: Callable[[], Any], store: Optional[Callable[[Any], None]], what: str,
                 path: Tuple[Tuple[bool, Any], ...] = ()):
        object.__setattr__(self, "_fetch", fetch)
        object.__setattr__(self, "_store", store)
        object.__setattr__(self, "_what", what)
        object.__setattr__(self, "_path", path)  # (is_item, attribute name or index) steps

    def _target(self, value: Any) -> Any:
        for is_item, step in self._path:
            value = value[step] if is_item else getattr(value, step)
        return value

    def _read(self, is_item: bool, step: Any, label: str) -> Any:
        target = self._target(self._fetch())
        value = target[step] if is_item else getattr(target, step)
        if isinstance(value, _AGGREGATES):
            return SectionView(self._fetch, self._store, label, self._path + ((is_item, step),))
        return value

    def _write(self, is_item: bool, step: Any, value: Any, label: str) -> None:
        if self._store is None:
            raise AttributeError(f"{label} is read-only after load (the map is frozen); set it before load()")
        whole = self._fetch()
        target = self._target(whole)
        if is_item:
            target[step] = value
        else:
            setattr(target, step, value)
        self._store(whole)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._read(False, name, f"{self._what}.{name}")

    def __getitem__(self, index: Any) -> Any:
        return self._read(True, index, f"{self._what}[{index}]")

    def __setattr__(self, name: str, value: Any) -> None:
        self._write(False, name, value, f"{self._what}.{name}")

    def __setitem__(self, index: Any, value: Any) -> None:
        self._write(True, index, value, f"{self._what}[{index}]")

    def __len__(self) -> int:
        return len(self._target(self._fetch()))

    def __bytes__(self) -> bytes:
        return bytes(self._target(self._fetch()))

    def __repr__(self) -> str:
        return f"<{'read-only' if self._store is None else 'map-backed'} {self._what}>"


def loaded_section(section_type: Any, bpf_map: Map[Any, Any], spec: MapSpec, mmaps: List[mmap.mmap]) -> Any:
    """The object a skeleton shows for a global data section once its map exists; an mmapping it
    makes is appended to ``mmaps`` (the skeleton unmaps them at close)."""
    if spec.frozen:
        # Frozen and read-only for programs too: its contents never change, a copy is exact.
        value = section_type.from_buffer_copy(bpf_map.lookup(0))
        return SectionView(lambda: value, None, spec.ident)
    if not spec.flags & BPF_F_MMAPABLE:
        # Only static variables live here, so the map is not mmapable (libbpf's rule): every
        # access is a lookup or update of the one value.
        return SectionView(lambda: section_type.from_buffer_copy(bpf_map.lookup(0)),
                           lambda value: bpf_map.update(0, value), spec.ident)
    memory = bpf_map.mmap(writable=True)
    mmaps.append(memory)
    return section_type.from_buffer(memory)
