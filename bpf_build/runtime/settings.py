"""Open-phase settings of a skeleton's maps and programs: libbpf's ``bpf_map__set_*`` and
``bpf_program__set_*`` as attributes, applied when the loader runs, not when the skeleton was
generated.

Before ``load()``, ``skel.maps.NAME`` is a ``MapSettings`` and ``skel.progs.NAME`` a
``ProgramSettings``; after it they are the kernel objects. libbpf's names map onto attributes:

    maps.m.type = MapType.PERF_EVENT_ARRAY     bpf_map__set_type (bcc's ring -> perf buffer fallback)
    maps.m.key_size / value_size = 4           bpf_map__set_key_size / set_value_size
    maps.m.max_entries = 1024                  bpf_map__set_max_entries
    maps.m.flags = BPF_F_NO_PREALLOC           bpf_map__set_map_flags
    maps.m.numa_node = 1                       bpf_map__set_numa_node
    maps.m.map_extra = 3                       bpf_map__set_map_extra (bloom filter hashes)
    maps.m.autocreate = False                  bpf_map__set_autocreate
    maps.m.initial_value = b"..."              bpf_map__set_initial_value (global data sections)
    maps.m.pin_path = "/sys/fs/bpf/x" / None   bpf_map__set_pin_path (maps pinned by name only)
    progs.p.autoload = False                   bpf_program__set_autoload
    progs.p.autoattach = False                 bpf_program__set_autoattach
    progs.p.type / expected_attach_type = ...  bpf_program__set_type / set_expected_attach_type
    progs.p.flags = BPF_F_SLEEPABLE            bpf_program__set_flags
    progs.p.attach_target = (prog_fd, "func")  bpf_program__set_attach_target (freplace programs only)

How they reach the kernel: the loader's blob holds every BPF_MAP_CREATE and BPF_PROG_LOAD attr
(``MapSpec.attr_offset``/``ProgSpec.attr_offset``), so the runner patches a copy of the blob before
running it; max_entries and autoload go through the loader's context. A map whose type or key/value
size changed is created without BTF (the BTF types no longer describe it; libbpf retries the same
way). A map with ``autocreate`` off is created as a one-slot placeholder array (a loader cannot skip
a step) and closed right after load, so, as with libbpf, it is absent afterwards (a struct_ops
one is not looked up in the kernel, and programs only it uses do not load: struct_ops.py). An freplace
program's target function is looked up in the target program's BTF, and the target's fd and the
function's id written into the program's attr (freplace.py).

A map declared ``__uint(pinning, LIBBPF_PIN_BY_NAME)`` is reused from, or pinned at, its
``pin_path`` (default ``/sys/fs/bpf/<name>``, or ``load(pin_root_path=...)``'s directory; None: not
pinned this load), see pinning.py; other maps cannot be given one, their loader has no reuse step.

Not possible with a loader program, refused by name: ``inner_map`` (the loader creates the inner
map itself), ``reuse_fd`` (the loader reuses pinned maps only), ``attach_target`` of programs
other than freplace ones (the loader looks the target's BTF id up by the name compiled in), a
per-program ``log_level`` (use ``load(log_level=N)``, which every load the loader makes shares).
"""

from __future__ import annotations

import ctypes
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Set, Tuple, Union

from . import freplace as _freplace
from .cpus import num_possible_cpus
from .errors import BpfRuntimeError, NotSupportedError
from .global_data import GLOBAL_DATA_KINDS
from .loader_contract import MAP_CREATE_ATTR, PROG_LOAD_ATTR
from .map_kinds import MAP_IN_MAP_TYPES
from .pinning import default_pin_path
from .records import check_range
from .uapi import MapFlag, MapType, ProgType, known

if TYPE_CHECKING:
    from .loader import MapSpec, ProgSpec

# The BPF_MAP_CREATE and BPF_PROG_LOAD attr field each knob is written to.
_MAP_ATTR_FIELDS = {"type": "map_type", "key_size": "key_size", "value_size": "value_size",
                    "flags": "map_flags", "numa_node": "numa_node", "map_extra": "map_extra"}
_MAP_BTF_ID_FIELDS = ("btf_key_type_id", "btf_value_type_id")
_PROG_ATTR_FIELDS = {"type": "prog_type", "flags": "prog_flags", "expected_attach_type": "expected_attach_type"}
_NO_PLACEHOLDER_TYPES = MAP_IN_MAP_TYPES | {MapType.PROG_ARRAY}

_MAP_UNSUPPORTED = {
    "inner_map": "the loader creates the inner map from the object's definition itself",
    "reuse_fd": "the loader adopts an existing map only for maps pinned by name (LIBBPF_PIN_BY_NAME), "
                "through their pin_path",
}
_PROG_UNSUPPORTED = {
    "log_level": "every load the loader makes shares one log level: use load(log_level=N)",
}


class _Settings:
    """Attributes checked on assignment: known knobs only, integers that fit a u32."""

    _kind = ""
    _knobs: Tuple[str, ...] = ()
    _unsupported: Dict[str, str] = {}
    _u64_knobs: Tuple[str, ...] = ()
    # Set through object.__setattr__ (this class's own __setattr__ takes knobs only).
    name: str
    spec: Union[MapSpec, ProgSpec]
    _values: Dict[str, Any]
    _changed: Set[str]

    def __init__(self, name: str, values: Dict[str, Any]):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_changed", set())

    def __getattr__(self, knob: str) -> Any:
        if knob.startswith("__"):
            raise AttributeError(knob)
        values = object.__getattribute__(self, "_values")
        if knob in values:
            return values[knob]
        raise AttributeError(f"{self._kind} '{self.name}' has no setting '{knob}' before load "
                             f"(settings: {', '.join(self._knobs)})")

    def __setattr__(self, knob: str, value: Any) -> None:
        if knob in self._unsupported:
            raise NotSupportedError(f"{self._kind} '{self.name}': setting {knob} is not supported with loader "
                                    f"programs: {self._unsupported[knob]}")
        if knob not in self._knobs:
            raise AttributeError(f"{self._kind} '{self.name}' has no setting '{knob}' "
                                 f"(settings: {', '.join(self._knobs)})")
        value = self._check(knob, value)
        self._values[knob] = value
        self._changed.add(knob)

    def _check(self, knob: str, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{self._kind} '{self.name}': {knob} must be an int, not {type(value).__name__}")
        bits = 64 if knob in self._u64_knobs else 32
        check_range(int(value), 0, (1 << bits) - 1, f"u{bits}", f"{self._kind} '{self.name}': {knob}")
        return int(value)

    def changed(self, knob: str) -> bool:
        return knob in self._changed

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={self._values[k]!r}" for k in self._knobs if k in self._values)
        return f"<{self._kind} '{self.name}' before load: {shown}>"


class MapSettings(_Settings):
    """``skel.maps.NAME`` before load."""

    _kind = "map"
    _knobs = ("type", "key_size", "value_size", "max_entries", "flags", "numa_node", "map_extra",
              "autocreate", "initial_value", "pin_path")
    _unsupported = _MAP_UNSUPPORTED
    _u64_knobs = ("map_extra",)
    spec: MapSpec
    _section: Optional[ctypes.Structure]
    _pinned: bool  # declared LIBBPF_PIN_BY_NAME: the loader has a reuse step for it

    def __init__(self, spec: MapSpec, section: Optional[ctypes.Structure] = None, pinned: bool = False,
                 optional: bool = False):
        """``optional``: a ``SEC("?.struct_ops")`` map, whose autocreate starts off (libbpf's rule)."""
        super().__init__(spec.name, {
            "type": known(MapType, spec.type), "key_size": spec.key_size, "value_size": spec.value_size,
            "max_entries": spec.max_entries, "flags": spec.flags, "numa_node": 0, "map_extra": 0,
            "autocreate": not optional, "pin_path": default_pin_path(spec.name) if pinned else None})
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "_section", section)  # the editable global data, for initial_value
        object.__setattr__(self, "_pinned", pinned)

    @property
    def initial_value(self) -> bytes:
        if self._section is None:
            raise AttributeError(f"map '{self.name}' has no initial value (only global data sections do)")
        return bytes(self._section)

    def _check(self, knob: str, value: Any) -> Any:
        global_data = self.spec.kind in GLOBAL_DATA_KINDS
        if knob == "autocreate":
            if not isinstance(value, bool):
                raise TypeError(f"map '{self.name}': autocreate must be True or False")
            if not value and (global_data or self.spec.type in _NO_PLACEHOLDER_TYPES):
                raise NotSupportedError(f"map '{self.name}': autocreate=False is not supported with loader "
                                        "programs for global data, map-in-map and program array maps "
                                        "(the loader fills them)")
            return value
        if knob == "pin_path":
            return _check_pin_path(self.name, value, self._pinned)
        if knob == "initial_value":
            if self._section is None:
                raise NotSupportedError(f"map '{self.name}': an initial value can only be set for global data "
                                        "sections (.data, .bss, .rodata)")
            data = bytes(value)
            size = ctypes.sizeof(self._section)
            if len(data) != size:
                raise ValueError(f"map '{self.name}': initial value must be {size} bytes, got {len(data)}")
            ctypes.memmove(ctypes.addressof(self._section), data, size)
            return data
        if global_data and knob in ("type", "key_size", "value_size", "max_entries"):
            raise NotSupportedError(f"map '{self.name}': {knob} of a global data section is fixed by its "
                                    "variables")
        return super()._check(knob, value)


class ProgramSettings(_Settings):
    """``skel.progs.NAME`` before load."""

    _kind = "program"
    _knobs = ("autoload", "autoattach", "type", "expected_attach_type", "flags", "attach_target")
    _unsupported = _PROG_UNSUPPORTED
    spec: ProgSpec

    def __init__(self, spec: ProgSpec):
        super().__init__(spec.name, {"autoload": spec.autoload, "autoattach": True, "type": spec.type,
                                     "expected_attach_type": spec.expected_attach_type, "flags": 0,
                                     "attach_target": None})
        object.__setattr__(self, "spec", spec)

    def _check(self, knob: str, value: Any) -> Any:
        if knob in ("autoload", "autoattach"):
            if not isinstance(value, bool):
                raise TypeError(f"program '{self.name}': {knob} must be True or False")
            return value
        if knob == "attach_target":
            if self.type != ProgType.EXT:
                raise NotSupportedError(f"program '{self.name}': setting attach_target is not supported with loader "
                                        "programs but for freplace programs (the loader resolves the attach target "
                                        f"compiled into SEC(\"{self.spec.section}\"))")
            fd, name = _freplace.setting(value, f"program '{self.name}'")
            return fd if name is None else (fd, name)
        return super()._check(knob, value)

    def freplace_target(self) -> Optional[_freplace.FreplaceTarget]:
        """An freplace program's target, looked up in the target's BTF (None: not an freplace
        program, or one that will not load)."""
        if self.type != ProgType.EXT or not self.autoload:
            return None
        return _freplace.resolve(self.attach_target, self.spec.section,
                                 f"program '{self.name}' (SEC(\"{self.spec.section}\"))")


def _check_pin_path(name: str, value: Any, pinned: bool) -> Optional[str]:
    if value is not None and not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"map '{name}': pin_path must be a path or None, not {type(value).__name__}")
    if value is not None and not pinned:
        raise NotSupportedError(f"map '{name}': setting pin_path is only supported for maps declared with "
                                "__uint(pinning, LIBBPF_PIN_BY_NAME) (their loader has the step that reuses a "
                                "pinned map); pin others after load with map.pin(path)")
    return None if value is None else os.fspath(value)


class Applied:
    """What the runner needs: the patched blob, context overrides, maps to drop after load, and
    the target of each freplace program (by program index), which its links attach to."""

    def __init__(self, blob: bytes, max_entries: Dict[int, int], autoload: Dict[int, bool],
                 placeholders: List[int], freplace: Optional[Dict[int, _freplace.FreplaceTarget]] = None):
        self.blob, self.max_entries, self.autoload, self.placeholders = blob, max_entries, autoload, placeholders
        self.freplace = freplace or {}


def apply(blob: bytes, maps: Sequence[MapSettings], progs: Sequence[ProgramSettings]) -> Applied:
    """Write every changed setting into a copy of the loader blob."""
    data = bytearray(blob)
    max_entries: Dict[int, int] = {}
    autoload: Dict[int, bool] = {}
    placeholders: List[int] = []
    freplace: Dict[int, _freplace.FreplaceTarget] = {}
    for i, m in enumerate(maps):
        base = _patchable(m, ("type", "key_size", "value_size", "flags", "numa_node", "map_extra", "autocreate"))
        if m.changed("max_entries") or m.changed("type"):
            max_entries[i] = m.max_entries
            if m.type == MapType.PERF_EVENT_ARRAY and not m.max_entries:
                max_entries[i] = num_possible_cpus()  # as libbpf: one slot per CPU
        if not m.autocreate:
            for knob, value in (("type", MapType.ARRAY), ("key_size", 4), ("value_size", 4), ("flags", 0)):
                MAP_CREATE_ATTR.write(data, base, _MAP_ATTR_FIELDS[knob], value)
            max_entries[i] = 1
            _drop_btf(data, base)
            placeholders.append(i)
            continue
        for knob in ("type", "key_size", "value_size", "flags", "map_extra"):
            if m.changed(knob):
                MAP_CREATE_ATTR.write(data, base, _MAP_ATTR_FIELDS[knob], int(getattr(m, knob)))
        if m.changed("type") or m.changed("key_size") or m.changed("value_size"):
            _drop_btf(data, base)
        if m.changed("numa_node"):
            MAP_CREATE_ATTR.write(data, base, "numa_node", m.numa_node)
            flags = MAP_CREATE_ATTR.read(data, base, "map_flags")
            MAP_CREATE_ATTR.write(data, base, "map_flags", flags | MapFlag.NUMA_NODE)
    for j, p in enumerate(progs):
        if p.changed("autoload"):
            autoload[j] = p.autoload
        base = _patchable(p, ("type", "expected_attach_type", "flags", "attach_target"))
        for knob, field in _PROG_ATTR_FIELDS.items():
            if p.changed(knob):
                PROG_LOAD_ATTR.write(data, base, field, int(getattr(p, knob)))
        target = p.freplace_target()
        if target is not None:
            _freplace.fill_load_attr(data, base, target)
            freplace[j] = target
    return Applied(bytes(data), max_entries, autoload, placeholders, freplace)


def _patchable(settings: _Settings, knobs: Tuple[str, ...]) -> int:
    offset = settings.spec.attr_offset
    if offset < 0 and any(settings.changed(k) for k in knobs):
        raise BpfRuntimeError(f"{settings._kind} '{settings.name}': this skeleton does not say where its "
                              "settings sit in the loader; regenerate it with this bpf-build")
    return offset


def _drop_btf(data: bytearray, base: int) -> None:
    for field in _MAP_BTF_ID_FIELDS:
        MAP_CREATE_ATTR.write(data, base, field, 0)


def pin_paths(maps: Sequence[MapSettings]) -> Dict[int, Optional[str]]:
    """The pin paths the runner is given (map index -> path; None: not pinned this load): those
    set, and None for maps not created (autocreate off). Unset ones take the runner's default."""
    return {i: m.pin_path if m.autocreate else None for i, m in enumerate(maps)
            if m.changed("pin_path") or not m.autocreate}
