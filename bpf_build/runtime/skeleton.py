"""The base class of generated Python skeletons.

A generated module declares *what* the object holds (ctypes types, a LoaderSpec, which types go
with which map); this class does the work: open (global data as editable ctypes objects), load
(run the loader, wrap fds, mmap global data), attach (by section name), close (everything, once).

Global data follows libbpf's skeletons: before load every section is a plain ctypes object the
caller edits and the loader copies in; after load ``.bss``/``.data`` are ctypes views of the
mmapped map (reads and writes go straight to kernel memory) and ``.rodata``/``.kconfig`` are
frozen, so they become read-only views. A section holding only ``static`` variables is not
BPF_F_MMAPABLE (libbpf's rule), so its attribute reads and writes the map through lookup/update.
"""

from __future__ import annotations

import base64
import ctypes
import keyword
import zlib
import sys
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Set, Tuple, TypeVar, overload

from . import arena as _arena
from . import attach as _attach
from . import struct_ops as _struct_ops
from . import log
from .errors import AttachError, BpfRuntimeError, ClosedError
from .fd import Closable, FdGroup
from .links import Link
from .loader import KconfigSpec, LoaderSpec, MapSpec, ProgSpec, StepSpec, run_loader
from .maps import Map
from .program import Program
from .pinning import pinned_map_indices
from .settings import MapSettings, ProgramSettings
from .struct_ops import StructOpsMemberSpec, StructOpsSpec
from .global_data import GLOBAL_DATA_KINDS, SectionView, loaded_section
from .uapi import MapType
from .usdt import SPECS_MAP as USDT_SPECS_MAP
from .settings import apply as apply_settings
from .settings import pin_paths
from .records import Structure, Union, check_range, raw, text

__all__ = ["KconfigSpec", "LoaderSpec", "MapSpec", "ProgSpec", "SectionView", "Skeleton", "StepSpec",
           "StructOpsMemberSpec", "StructOpsSpec",
           "Namespace", "attribute_name", "bitfield", "forward", "unz", "Map", "Program", "Link", "Structure",
           "Union", "raw", "text"]

if TYPE_CHECKING:  # Self for type checkers only: the runtime depends on nothing outside the stdlib
    import mmap

    if sys.version_info >= (3, 11):
        from typing import Self
    else:
        from typing_extensions import Self

_Owned = TypeVar("_Owned", bound=Closable)

def attribute_name(name: str) -> str:
    """The Python attribute for a C name (map, program, variable, field): keywords get a trailing
    underscore. The renderer uses the same rule for the annotations it writes."""
    return name + "_" if keyword.iskeyword(name) or name in ("None", "True", "False") else name


def unz(text: str) -> bytes:
    """Bytes embedded in generated code: base64 of zlib, whitespace ignored."""
    return zlib.decompress(base64.b64decode("".join(text.split())))


class bitfield:
    """A C bitfield of a generated Structure: ``bits`` bits at ``bit_offset`` of the byte-array
    field ``storage`` (little-endian bit numbering, as BTF gives it for bpfel objects). Values
    that do not fit the bits raise OverflowError instead of being cut."""

    def __init__(self, storage: str, bit_offset: int, bits: int, signed: bool):
        self.storage, self.bit_offset, self.bits, self.signed = storage, bit_offset, bits, signed
        self.mask = (1 << bits) - 1
        self.low, self.high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, self.mask)
        self.name = storage

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: Optional[type] = None) -> bitfield: ...
    @overload
    def __get__(self, obj: object, owner: Optional[type] = None) -> int: ...

    # (``|``, not typing.Union: this module exports the ctypes Union of records.py)
    def __get__(self, obj: object, owner: Optional[type] = None) -> bitfield | int:
        if obj is None:
            return self
        value = (int.from_bytes(bytes(getattr(obj, self.storage)), "little") >> self.bit_offset) & self.mask
        return value - (1 << self.bits) if self.signed and value >> (self.bits - 1) else value

    def __set__(self, obj: object, value: int) -> None:
        check_range(value, self.low, self.high, f"{'s' if self.signed else 'u'}{self.bits} bitfield",
                    f"{type(obj).__name__}.{self.name}")
        storage = getattr(obj, self.storage)
        word = int.from_bytes(bytes(storage), "little")
        word = (word & ~(self.mask << self.bit_offset)) | ((value & self.mask) << self.bit_offset)
        ctypes.memmove(storage, word.to_bytes(len(storage), "little"), len(storage))


def forward(member: str, name: str) -> property:
    """``outer.name`` for a bitfield of an anonymous member (ctypes forwards fields, not properties)."""
    return property(lambda self: getattr(getattr(self, member), name),
                    lambda self, value: setattr(getattr(self, member), name, value))


class Namespace:
    """Attribute bag for ``skel.maps`` / ``skel.progs`` / ``skel.links``; generated subclasses
    only add annotations, so editors complete the names."""

    _what: str  # set through object.__setattr__: attributes of this bag are its entries

    def __init__(self, what: str):
        object.__setattr__(self, "_what", what)

    if not TYPE_CHECKING:  # a type checker must see only the generated annotations: a typo is an error
        def __getattr__(self, name: str):
            if name.startswith("__"):
                raise AttributeError(name)
            raise AttributeError(f"no {self._what} '{name}' (programs not loaded and maps not created are "
                                 "absent after load(); links exist after attach())")

    def __iter__(self) -> Iterator[Tuple[str, Any]]:
        return iter([(k, v) for k, v in vars(self).items() if not k.startswith("_")])

    def __repr__(self) -> str:
        return f"<{self._what}s: {', '.join(k for k, _ in self)}>"


class Skeleton:
    """Subclasses set the class attributes below; instances are one opened/loaded object."""

    _name_: str = ""
    _loader_: LoaderSpec
    _map_types_: Dict[str, Tuple[Any, Any]] = {}   # map name -> (key type, value type)
    _section_types_: Dict[str, Any] = {}           # global data ident -> ctypes Structure
    _event_types_: Dict[str, Any] = {}             # ring/perf buffer map name -> its records' Structure
    _maps_namespace_ = Namespace
    _progs_namespace_ = Namespace
    _links_namespace_ = Namespace
    _struct_ops_types_: Dict[str, Any] = {}        # struct_ops map ident -> the object's struct
    _struct_ops_namespace_ = Namespace
    _arena_type_: Any = None                       # the __arena globals' Structure (.addr_space.1), if any

    def __init__(self) -> None:
        """Open: nothing in the kernel yet; global data is editable, sizes and autoload settable."""
        self._loaded = False
        self._closed = False
        self._mmaps: List[mmap.mmap] = []
        self._owned: List[Closable] = []
        self._adopted: List[Link] = []  # links made by skel.progs.X.attach_*(): closed by close()
        self.attach_failures: Dict[str, BaseException] = {}
        self.maps = self._maps_namespace_("map")
        self.progs = self._progs_namespace_("program")
        self.links = self._links_namespace_("link")
        for spec in self._loader_.maps:
            section_type = self._section_types_.get(spec.ident)
            if spec.kind in GLOBAL_DATA_KINDS and section_type is not None:
                value = (spec.initial_value or b"").ljust(ctypes.sizeof(section_type), b"\0")
                object.__setattr__(self, spec.ident, section_type.from_buffer_copy(value))
        # Before load, skel.maps.NAME / skel.progs.NAME are their settings; load() replaces them.
        pinned = pinned_map_indices([(s.kind, s.index) for s in self._loader_.steps])
        optional = {ops.map_index for ops in self._loader_.struct_ops if ops.optional}
        self._map_settings = [MapSettings(m, self.__dict__.get(m.ident) if m.kind in GLOBAL_DATA_KINDS else None,
                                          i in pinned, i in optional) for i, m in enumerate(self._loader_.maps)]
        self._prog_settings = [ProgramSettings(p) for p in self._loader_.progs]
        for m, settings in zip(self._loader_.maps, self._map_settings):
            setattr(self.maps, attribute_name(m.ident), settings)
        for p, prog_settings in zip(self._loader_.progs, self._prog_settings):
            setattr(self.progs, attribute_name(p.name), prog_settings)
        self.struct_ops = self._struct_ops_namespace_("struct_ops map")
        self._struct_ops_maps = _StructOpsMaps(self._loader_, self._struct_ops_types_, self.struct_ops)
        # the arena mapped after load (runtime/arena.py); before it, its globals are editable here
        self.arena_region: Optional[_arena.ArenaRegion] = None
        self._arena_reservations: List[_arena.ArenaReservation] = []
        if self._arena_type_ is not None:
            value = next(m.initial_value for m in self._loader_.maps if m.type == MapType.ARENA) or b""
            object.__setattr__(self, "arena", self._arena_type_.from_buffer_copy(
                value.ljust(ctypes.sizeof(self._arena_type_), b"\0")))

    # -- open phase ---------------------------------------------------------------------------

    @classmethod
    def open(cls) -> Self:
        return cls()

    @classmethod
    def open_and_load(cls, *, mode: str = "auto") -> Self:
        skel = cls()
        try:
            skel.load(mode=mode)
        except BaseException:
            skel.close()
            raise
        return skel

    def _map_index(self, name: str) -> int:
        for i, m in enumerate(self._loader_.maps):
            if name in (m.name, m.ident):
                return i
        raise KeyError(f"{self._name_} has no map '{name}'")

    def _prog_index(self, name: str) -> int:
        for j, p in enumerate(self._loader_.progs):
            if p.name == name:
                return j
        raise KeyError(f"{self._name_} has no program '{name}'")

    def set_max_entries(self, map_name: str, max_entries: int) -> None:
        """Same as ``skel.maps.NAME.max_entries = n`` before load (see runtime/settings.py)."""
        self._require_open("set_max_entries")
        self._map_settings[self._map_index(map_name)].max_entries = max_entries

    def set_autoload(self, prog_name: str, autoload: bool) -> None:
        """Same as ``skel.progs.NAME.autoload = flag`` before load."""
        self._require_open("set_autoload")
        self._prog_settings[self._prog_index(prog_name)].autoload = autoload

    def _require_open(self, what: str) -> None:
        self._require_not_closed(what)
        if self._loaded:
            raise BpfRuntimeError(f"{self._name_}: {what} is only possible before load()")

    def _require_not_closed(self, what: str) -> None:
        if self._closed:
            raise ClosedError(f"{self._name_}: {what} after close()")

    # -- load ---------------------------------------------------------------------------------

    def load(self, *, log_level: int = 0, mode: str = "auto", pin_root_path: Optional[str] = None) -> Self:
        """Create the maps and load the programs, with the settings made since open().

        ``log_level`` (1: verifier log, 2: every instruction, 4: statistics; BPF_LOG_* bits) is
        given to every BTF and program load the loader makes. A refused load raises LoaderError
        with the failing step's log either way; after a successful load the log of the last load
        goes to the ``set_print`` hook at "debug" level.

        ``mode``: "kernel" runs the embedded loader program in the kernel (Linux 5.17+), "user"
        performs the same operations from user space with CO-RE applied here (older kernels),
        "auto" (default) picks "kernel" when this kernel can.

        ``pin_root_path``: the directory (on a BPF file system) where maps pinned by name are
        reused from or pinned, default /sys/fs/bpf (libbpf's option of that name); a map's own
        ``pin_path`` setting wins. See runtime/pinning.py."""
        self._require_open("load")
        spec = self._loader_
        applied = apply_settings(spec.blob, self._map_settings, self._prog_settings)
        sections = {i: getattr(self, m.ident) for i, m in enumerate(spec.maps)
                    if m.kind in ("data", "rodata", "bss") and m.ident in self._section_types_}
        blob, arenas = _arena.reserve_arenas(spec.maps, applied.blob, applied.max_entries)
        self._arena_reservations += arenas  # until mapped; close() releases what a failed load left
        fds = run_loader(spec._replace(blob=blob),
                         initial_values={i: ctypes.addressof(v) for i, v in sections.items()},
                         max_entries=applied.max_entries, autoload=applied.autoload, log_level=log_level,
                         mode=mode, struct_ops_data=self._struct_ops_maps.values(), pin_root_path=pin_root_path,
                         pin_paths=pin_paths(self._map_settings))
        with FdGroup() as group:
            for fd in fds.maps + [p for p in fds.progs if p is not None]:
                group.add(fd)  # until each fd is wrapped, a failure must close it
            for i, (m, fd) in enumerate(zip(spec.maps, fds.maps)):
                settings = self._map_settings[i]
                if i in applied.placeholders:  # autocreate off: absent after load, as with libbpf
                    fd.close()
                    delattr(self.maps, attribute_name(m.ident))
                    continue
                reshaped = any(settings.changed(k) for k in ("type", "key_size", "value_size"))
                key_type, value_type = (None, None) if reshaped else self._map_types_.get(m.name, (None, None))
                bpf_map: Map[Any, Any] = self._own(Map(fd, key_type=key_type, value_type=value_type, name=m.name))
                bpf_map.event_type = None if reshaped else self._event_types_.get(m.name)
                setattr(self.maps, attribute_name(m.ident), bpf_map)
            for j, (p, prog_fd, prog_settings) in enumerate(zip(spec.progs, fds.progs, self._prog_settings)):
                if prog_fd is None:
                    delattr(self.progs, attribute_name(p.name))
                    continue
                prog = self._own(Program(prog_fd, name=p.name, expected_attach_type=prog_settings.expected_attach_type,
                                         attach_target=_btf_target(p), freplace_target=applied.freplace.get(j)))
                prog.autoattach = prog_settings.autoattach
                prog.link_owner = self._adopted.append
                prog.usdt_specs = self._map_named(USDT_SPECS_MAP)
                setattr(self.progs, attribute_name(p.name), prog)
            for m in spec.maps:
                if m.kind in GLOBAL_DATA_KINDS and m.ident in self._section_types_:
                    view = loaded_section(self._section_types_[m.ident], getattr(self.maps, attribute_name(m.ident)),
                                          m, self._mmaps)
                    object.__setattr__(self, m.ident, view)
            _link_drop_counters(vars(self.maps))
            self._map_arenas(arenas, fds.maps)
            self._struct_ops_maps.values_laid_out = list(fds.struct_ops)
            group.keep()
        self._loaded = True
        return self

    def _map_arenas(self, arenas: List[_arena.ArenaReservation], fds: List[Any]) -> None:
        """The arena in place of its reservation, the globals (as edited since open) copied in."""
        if self._arena_type_ is not None:
            data: Optional[bytes] = bytes(vars(self)["arena"])
        else:
            data = next((m.initial_value for m in self._loader_.maps if m.type == MapType.ARENA), None)
        for region in _arena.map_arenas(arenas, fds, data):
            self.arena_region = region
            if self._arena_type_ is not None:
                object.__setattr__(self, "arena", region.view(self._arena_type_,
                                                              region.address + _arena.ARENA_GLOBALS_OFFSET))

    def _map_named(self, name: str) -> Optional[Map[Any, Any]]:
        for m in self._loader_.maps:
            if m.name == name:
                found = vars(self.maps).get(attribute_name(m.ident))
                return found if isinstance(found, Map) else None
        return None

    def _own(self, obj: _Owned) -> _Owned:
        self._owned.append(obj)
        return obj

    # -- attach -------------------------------------------------------------------------------

    def attach(self, *, skip_failed: bool = False) -> Self:
        """Attach every loaded program whose section names its target (tracepoints, raw_tp,
        tp_btf/fentry/fexit/lsm, kprobes, uprobes with a path, iterators) and whose
        ``autoattach`` is on; others are left to the caller. Then each struct_ops map: its value
        written (a legacy ``.struct_ops`` map registers so, until detach()), and the link of a
        ``.struct_ops.link`` map.

        Every program is tried. When some fail, the AttachError lists each of them with its
        reason (``.failures``: name -> error) and the links this call made are closed again (and
        the legacy struct_ops maps it registered unregistered); with ``skip_failed=True`` the
        others stay attached and ``self.attach_failures`` says which failed and why."""
        self._require_not_closed("attach()")
        if not self._loaded:
            raise BpfRuntimeError(f"{self._name_}: attach() needs load() first")
        made: List[str] = []
        failures: Dict[str, BaseException] = {}
        for p in self._loader_.progs:
            name = attribute_name(p.name)
            prog = vars(self.progs).get(name)
            if prog is None or name in vars(self.links) or not prog.autoattach:
                continue
            try:
                link = _attach.attach_by_section(prog, p.section)
            except (BpfRuntimeError, OSError) as e:
                failures[p.name] = e
                continue
            if link is not None:
                setattr(self.links, name, link)
                made.append(name)
        self._struct_ops_maps.attach(self.maps, self.progs, self.links, made, failures)
        self.attach_failures = failures
        if failures:
            report = "; ".join(f"'{name}' (SEC(\"{self._section_of(name)}\")): {e}"
                               for name, e in failures.items())
            if not skip_failed:
                for name in made:
                    getattr(self.links, name).close()
                    delattr(self.links, name)
                self._struct_ops_maps.unregister_legacy(self.maps)
                error = AttachError(f"{self._name_}: could not attach {len(failures)} program(s): {report}")
                error.failures = failures
                raise error
            log.warn(f"{self._name_}: skipped programs that could not attach: {report}")
        return self

    def _prog_spec(self, name: str) -> ProgSpec:
        return self._loader_.progs[self._prog_index(name)]

    def _section_of(self, name: str) -> str:
        """The section of a program, or of a struct_ops map (their links are named after them)."""
        for ops in self._loader_.struct_ops:
            if self._loader_.maps[ops.map_index].name == name:
                return ".struct_ops.link" if ops.link else ".struct_ops"
        return self._prog_spec(name).section

    def detach(self) -> None:
        for name, link in list(self.links):
            link.close()
            delattr(self.links, name)
        self._struct_ops_maps.unregister_legacy(self.maps)

    # -- close --------------------------------------------------------------------------------

    def close(self) -> None:
        """Detach (links of attach() and of ``skel.progs.X.attach_*()`` alike), unmap, close every
        map and program. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        for link in reversed(self._adopted):
            link.close()
        self._adopted.clear()
        self.detach()
        for spec in self._loader_.maps:
            if spec.ident in self._section_types_ and self._loaded:
                object.__setattr__(self, spec.ident, None)  # drop views into the mappings first
        if self.arena_region is not None:
            if self._arena_type_ is not None:
                object.__setattr__(self, "arena", None)
            self.arena_region.close()
        _arena.release_all(self._arena_reservations)
        for memory in self._mmaps:
            try:
                memory.close()
            except BufferError:
                pass  # the caller still holds a view; the mapping goes when that view does
        self._mmaps.clear()
        for obj in reversed(self._owned):
            obj.close()
        self._owned.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("loaded" if self._loaded else "opened")
        return f"<{type(self).__name__} {state}>"


class _StructOpsMaps:
    """The struct_ops maps of one skeleton: their values as the object's structs (data members
    editable until load), their values laid out for this kernel by load(), which attach() writes
    (libbpf's bpf_map__attach_struct_ops), the link per ``.struct_ops.link`` map that attach()
    makes next, and the legacy ``.struct_ops`` maps' registration by that write, which lasts until
    detach() deletes their value."""

    def __init__(self, spec: LoaderSpec, types: Dict[str, Any], namespace: Namespace):
        self.spec = spec
        self.namespace = namespace
        self.values_laid_out: List[_struct_ops.StructOpsValue] = []
        self.registered: Set[str] = set()  # legacy maps attach() registered
        for ops in spec.struct_ops:
            ident = spec.maps[ops.map_index].ident
            if ident in types:
                setattr(namespace, attribute_name(ident), types[ident].from_buffer_copy(ops.data))

    def _ident(self, ops: StructOpsSpec) -> str:
        return attribute_name(self.spec.maps[ops.map_index].ident)

    def values(self) -> List[Optional[bytes]]:
        """Each map's value as the caller left it (None: the object's own bytes)."""
        edited = vars(self.namespace)
        return [bytes(edited[self._ident(ops)]) if self._ident(ops) in edited else None
                for ops in self.spec.struct_ops]

    def attach(self, maps: Namespace, progs: Namespace, links: Namespace, made: List[str],
               failures: Dict[str, BaseException]) -> None:
        """Each loaded map's value written (a legacy map registers so), and a link per
        .struct_ops.link map, named after the map."""
        loaded = [vars(progs).get(attribute_name(p.name)) for p in self.spec.progs]
        prog_fds = [prog.fileno() if isinstance(prog, Program) else None for prog in loaded]
        for ops, value in zip(self.spec.struct_ops, self.values_laid_out):
            name, map_name = self._ident(ops), self.spec.maps[ops.map_index].name
            bpf_map = vars(maps).get(name)
            if not isinstance(bpf_map, Map) or name in vars(links) or name in self.registered:
                continue
            try:
                link = _struct_ops.register(bpf_map.fileno(), map_name, value, prog_fds, ops.link)
            except (BpfRuntimeError, OSError) as e:
                failures[map_name] = e
                continue
            if link is None:
                self.registered.add(name)
            else:
                setattr(links, name, link)
                made.append(name)

    def unregister_legacy(self, maps: Namespace) -> None:
        """Delete the value of each legacy map attach() registered (detach, close, a failed attach)."""
        for name in sorted(self.registered):
            bpf_map = vars(maps).get(name)
            if isinstance(bpf_map, Map):
                _struct_ops.unregister(bpf_map)
        self.registered.clear()


def _link_drop_counters(maps: Dict[str, Any]) -> None:
    """A ring buffer map NAME and a map NAME_drops: the object counts lost records there
    (the convention in ringbuf.py), which RingBuffer.dropped then reads."""
    for name, ring in maps.items():
        counter = maps.get(f"{name}_drops")
        if isinstance(ring, Map) and ring.type == MapType.RINGBUF and isinstance(counter, Map):
            ring.drop_counter = counter


def _btf_target(p: ProgSpec) -> Optional[str]:
    """The name the kernel BTF target was resolved from, for messages (tp_btf/fentry/lsm)."""
    if "/" not in p.section:
        return None
    return p.attach_target or p.section.split("/", 1)[1]
