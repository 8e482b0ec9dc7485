"""LoaderProgram: a generated loader as runners and skeletons take it, and its BPFBLDR1 container.

A LoaderProgram is the loader's instructions and blob, plus what a runner needs to know to build
the context and report errors: the maps and programs in context order, the kconfig variables it
must resolve, and the numbered steps. ``to_bytes``/``from_bytes`` write and read it as the
``BPFBLDR1`` container (layout: runtime/loader_contract.py) that libbpfbuild and Python skeletons
embed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, NoReturn, Optional, Tuple

from ...errors import LoaderError, NotSupportedError, PathLike
from ...model.insn import Insn, decode, encode
from ...runtime.loader_contract import (
    CTX_ERROR_STEP,
    CTX_FLAGS,
    CTX_LOG_BUF,
    CTX_LOG_LEVEL,
    CTX_LOG_SIZE,
    MAP_DESC_INITIAL_VALUE,
    MAP_DESC_MAX_ENTRIES,
    PROG_DESC_LOAD,
    REUSE_STEP_KIND,
    SERIAL_FLAG_BIG_ENDIAN,
    SERIAL_HEADER,
    SERIAL_INSN_SIZE,
    SERIAL_KCONFIG,
    SERIAL_MAGIC,
    SERIAL_MAP,
    SERIAL_NONE,
    SERIAL_OP,
    SERIAL_PROG,
    STEP_KINDS,
    ctx_size,
    map_desc_offset,
    prog_desc_offset,
)
from ...runtime.uapi import MapFlag, MapType, ProgType, map_type_name, prog_type_name
from .blob import c_bytes

if TYPE_CHECKING:
    from ..open import Extern, OpenedMap, OpenedProgram
    from .struct_ops import StructOpsPlan

OP_KINDS = STEP_KINDS


class _Record:
    """Plain value with equality over its slots."""

    __slots__: Tuple[str, ...] = ()

    def _key(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, s) for s in self.__slots__)

    def __eq__(self, o: object) -> bool:
        return type(o) is type(self) and isinstance(o, _Record) and self._key() == o._key()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._key()[0]!r})"


class LoaderMap(_Record):
    __slots__ = ("name", "ident", "kind", "type", "key_size", "value_size", "max_entries",
                 "map_flags", "initial_value", "frozen")

    def __init__(self, name: str, ident: str, kind: str, type: int, key_size: int, value_size: int,
                 max_entries: int, map_flags: int, initial_value: Optional[bytes], frozen: bool):
        self.name, self.ident, self.kind, self.type = name, ident, kind, type
        self.key_size, self.value_size, self.max_entries = key_size, value_size, max_entries
        self.map_flags, self.initial_value, self.frozen = map_flags, initial_value, frozen

    @classmethod
    def of(cls, m: "OpenedMap") -> "LoaderMap":
        return cls(m.name, m.ident, m.kind, m.type, m.key_size, m.value_size, m.max_entries, m.map_flags,
                   m.initial_value, m.kind in ("rodata", "kconfig"))

    @property
    def mmapable(self) -> bool:
        return bool(self.map_flags & MapFlag.MMAPABLE)

    @property
    def type_name(self) -> str:
        return map_type_name(self.type)


class LoaderProg(_Record):
    __slots__ = ("name", "section", "type", "expected_attach_type", "attach_target", "autoload",
                 "insn_cnt")

    def __init__(self, name: str, section: str, type: int, expected_attach_type: int,
                 attach_target: str, autoload: bool, insn_cnt: int):
        self.name, self.section, self.type = name, section, type
        self.expected_attach_type, self.attach_target = expected_attach_type, attach_target
        self.autoload, self.insn_cnt = autoload, insn_cnt

    @classmethod
    def of(cls, p: "OpenedProgram") -> "LoaderProg":
        return cls(p.name, p.section, p.type, p.expected_attach_type, p.attach_target or "", p.autoload,
                   len(p.insns))

    @property
    def type_name(self) -> str:
        return prog_type_name(self.type)


class KconfigVar(_Record):
    __slots__ = ("name", "kcfg_type", "size", "offset", "signed", "weak")

    def __init__(self, name: str, kcfg_type: str, size: int, offset: int, signed: bool, weak: bool):
        self.name, self.kcfg_type, self.size, self.offset = name, kcfg_type, size, offset
        self.signed, self.weak = signed, weak

    @classmethod
    def of(cls, e: "Extern") -> "KconfigVar":
        return cls(e.name, e.kcfg_type, e.size, e.offset, e.signed, e.weak)


class LoaderOp(_Record):
    """One fallible step of the loader: ``index`` is the map or program it concerns (-1: none)."""

    __slots__ = ("step", "kind", "index", "text")

    def __init__(self, step: int, kind: str, index: int, text: str):
        self.step, self.kind, self.index, self.text = step, kind, index, text

    def __repr__(self) -> str:
        return f"LoaderOp({self.step}, {self.text!r})"


class LoaderStructOps(_Record):
    """A struct_ops map as its runner resolves it: the kernel struct to find, the object's bytes
    and members ((name, offset, size, program index or -1 for data) in member order, pointers
    without a program left out). The runner lays the value out before the run and writes it at
    attach (runtime/struct_ops.py)."""

    __slots__ = ("map_index", "type_name", "link", "data", "members")

    def __init__(self, map_index: int, type_name: str, link: bool, data: bytes,
                 members: Tuple[Tuple[str, int, int, int], ...]):
        self.map_index, self.type_name, self.link, self.data = map_index, type_name, link, data
        self.members = members

    @classmethod
    def of(cls, plan: "StructOpsPlan") -> "LoaderStructOps":
        programs = dict(zip((m.name for m in plan.ops.programs), plan.prog_indices))
        members = tuple((m.name, m.offset, m.size, programs.get(m.name, -1)) for m in plan.ops.members
                        if not m.is_func_ptr or m.name in programs)
        return cls(plan.map_index, plan.ops.type_name, plan.ops.link, plan.ops.data, members)


class LoaderProgram:
    def __init__(self, insns: List[Insn], blob: bytes, byteorder: str, maps: List[LoaderMap],
                 progs: List[LoaderProg], kconfig_map: Optional[int], kconfig: List[KconfigVar],
                 ops: List[LoaderOp]):
        self.insns, self.blob, self.byteorder = insns, blob, byteorder
        self.maps, self.progs, self.kconfig_map, self.kconfig, self.ops = maps, progs, kconfig_map, kconfig, ops
        # Where each map's BPF_MAP_CREATE and each program's BPF_PROG_LOAD attr sits in the blob
        # (-1: unknown, e.g. read back from bytes): a runner may patch the object's settings
        # (type, sizes, flags...) there before writing the blob, for load-time knobs.
        self.map_attr_offsets: List[int] = [-1] * len(maps)
        self.prog_attr_offsets: List[int] = [-1] * len(progs)
        # struct_ops maps the runner lays out before the run and writes at attach (runtime/struct_ops.py)
        self.struct_ops: List[LoaderStructOps] = []

    @property
    def ctx_size(self) -> int:
        return ctx_size(len(self.maps), len(self.progs))

    def ctx_offsets(self) -> Dict[str, int]:
        """Offsets of every context field: 'map.<name>.fd', 'map.<name>.max_entries',
        'map.<name>.initial_value', 'prog.<name>.fd', 'prog.<name>.load', plus header fields."""
        out = {"sz": 0, "flags": CTX_FLAGS, "log_level": CTX_LOG_LEVEL, "log_size": CTX_LOG_SIZE,
               "log_buf": CTX_LOG_BUF, "error_step": CTX_ERROR_STEP}
        for i, m in enumerate(self.maps):
            base = map_desc_offset(i)
            out[f"map.{m.name}.fd"] = base
            out[f"map.{m.name}.max_entries"] = base + MAP_DESC_MAX_ENTRIES
            out[f"map.{m.name}.initial_value"] = base + MAP_DESC_INITIAL_VALUE
        for j, p in enumerate(self.progs):
            base = prog_desc_offset(len(self.maps), j)
            out[f"prog.{p.name}.fd"] = base
            out[f"prog.{p.name}.load"] = base + PROG_DESC_LOAD
        return out

    def insns_bytes(self) -> bytes:
        return encode(self.insns, self.byteorder)

    @property
    def size(self) -> int:
        """Bytes a skeleton embeds: instructions plus blob."""
        return SERIAL_INSN_SIZE * len(self.insns) + len(self.blob)

    def require_no_struct_ops(self, path: PathLike, runner: str) -> None:
        """Refuse struct_ops for a runner that is not given their descriptions (the BPFBLDR1
        container does not carry ``struct_ops``)."""
        if self.struct_ops:
            names = ", ".join(repr(self.maps[s.map_index].name) for s in self.struct_ops)
            raise NotSupportedError(path, f"struct_ops maps ({names}) are not supported by {runner}: it does not "
                                          "carry the description of their members that the runner needs to lay "
                                          "out the kernel's struct_ops value; a Python skeleton "
                                          "(bpf-build skel --lang python) or a C light skeleton (bpf-build skel "
                                          "--light) loads them")

    def require_no_arena(self, path: PathLike, runner: str) -> None:
        """Refuse arena maps for a runner that neither reserves their user address before the run
        nor maps them (and copies their __arena globals in) after it (runtime/arena.py does)."""
        names = ", ".join(repr(m.name) for m in self.maps if m.type == MapType.ARENA)
        if names:
            raise NotSupportedError(path, f"arena maps ({names}) are not supported by {runner} yet: the runner must "
                                          "reserve the arena's user address before the run and map the arena "
                                          "after it; a Python skeleton (bpf-build skel --lang python) or a C light "
                                          "skeleton (bpf-build skel --light) loads them")

    def require_no_pinning(self, path: PathLike, runner: str) -> None:
        """Refuse maps pinned by name for a runner that neither reuses nor pins them (the reuse_map
        steps say which; runtime/pinning.py does both): loading them anyway would silently give
        each load maps of its own."""
        names = ", ".join(repr(self.maps[op.index].name) for op in self.ops if op.kind == REUSE_STEP_KIND)
        if names:
            raise NotSupportedError(path, f"maps pinned by name ({names}: LIBBPF_PIN_BY_NAME) are not supported by "
                                          f"{runner} yet: the runner must reuse a compatible pinned map before the "
                                          "run and pin the maps it created after it; a Python skeleton (bpf-build "
                                          "skel --lang python) or a C light skeleton (bpf-build skel --light) does")

    def require_no_freplace(self, path: PathLike, runner: str) -> None:
        """Refuse freplace programs for a runner that cannot be given their target (a program fd
        and one of its functions, known only where the object loads)."""
        names = ", ".join(repr(p.name) for p in self.progs if p.type == ProgType.EXT)
        if names:
            raise NotSupportedError(path, f"freplace programs ({names}) are not supported by {runner} yet: the "
                                          "runner must be given the target program and its function before the "
                                          "run, and this one takes none; a Python skeleton (bpf-build skel --lang "
                                          "python: skel.progs.NAME.attach_target) or a C light skeleton "
                                          "(skel->attach_targets.NAME) loads them")

    def op_for_step(self, step: int) -> Optional[LoaderOp]:
        return self.ops[step - 1] if 0 < step <= len(self.ops) else None

    def to_bytes(self) -> bytes:
        return _write_container(self)

    @classmethod
    def from_bytes(cls, data: bytes, path: PathLike = None) -> "LoaderProgram":
        return _read_container(bytes(data), path)

    def __eq__(self, o: object) -> bool:
        return isinstance(o, LoaderProgram) and self.to_bytes() == o.to_bytes()



# ----------------------------------------------------------------------------------------------
# The BPFBLDR1 container: header, insns, blob, maps, progs, kconfig, ops, strings, values.

class _Strings:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.index: Dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.data)
            self.data += c_bytes(s) + b"\0"
        return self.index[s]


def _write_container(L: LoaderProgram) -> bytes:
    L.require_no_struct_ops(None, "the BPFBLDR1 container (libbpfbuild)")
    L.require_no_arena(None, "the BPFBLDR1 container (libbpfbuild)")
    L.require_no_freplace(None, "the BPFBLDR1 container (libbpfbuild)")
    L.require_no_pinning(None, "the BPFBLDR1 container (libbpfbuild)")
    strings, values = _Strings(), bytearray()
    maps = bytearray()
    for m in L.maps:
        init_off, init_size = SERIAL_NONE, 0
        if m.initial_value is not None:
            init_off, init_size = len(values), len(m.initial_value)
            values += m.initial_value
        maps += SERIAL_MAP.struct.pack(strings.add(m.name), strings.add(m.ident), strings.add(m.kind), m.type,
                                       m.key_size, m.value_size, m.max_entries, m.map_flags, int(m.frozen),
                                       init_off, init_size)
    progs = b"".join(SERIAL_PROG.struct.pack(strings.add(p.name), strings.add(p.section),
                                             strings.add(p.attach_target), p.type, p.expected_attach_type,
                                             int(p.autoload), p.insn_cnt) for p in L.progs)
    kconfig = b"".join(SERIAL_KCONFIG.struct.pack(strings.add(v.name), strings.add(v.kcfg_type), v.size,
                                                  v.offset, int(v.signed), int(v.weak)) for v in L.kconfig)
    ops = b"".join(SERIAL_OP.struct.pack(op.step, strings.add(op.kind), op.index, strings.add(op.text))
                   for op in L.ops)
    header = SERIAL_HEADER.struct.pack(
        SERIAL_MAGIC, SERIAL_FLAG_BIG_ENDIAN if L.byteorder == "big" else 0, len(L.insns), len(L.blob),
        len(L.maps), len(L.progs), len(L.kconfig), len(L.ops),
        SERIAL_NONE if L.kconfig_map is None else L.kconfig_map, len(strings.data), len(values))
    return b"".join([header, L.insns_bytes(), L.blob, bytes(maps), progs, kconfig, ops,
                     bytes(strings.data), bytes(values)])


def _read_container(data: bytes, path: PathLike) -> LoaderProgram:
    def bad(why: str) -> NoReturn:
        raise LoaderError(path, f"not a serialised loader program: {why}")

    if len(data) < SERIAL_HEADER.size:
        bad("too short")
    (magic, flags, n_insns, blob_size, n_maps, n_progs, n_kcfg, n_ops, kcfg_map, str_size,
     val_size) = SERIAL_HEADER.struct.unpack_from(data, 0)
    if magic != SERIAL_MAGIC:
        bad(f"bad magic {magic!r}")
    sizes = [SERIAL_INSN_SIZE * n_insns, blob_size, SERIAL_MAP.size * n_maps, SERIAL_PROG.size * n_progs,
             SERIAL_KCONFIG.size * n_kcfg, SERIAL_OP.size * n_ops, str_size, val_size]
    if SERIAL_HEADER.size + sum(sizes) != len(data):
        bad(f"{len(data)} bytes, the header describes {SERIAL_HEADER.size + sum(sizes)}")
    pos = SERIAL_HEADER.size
    parts = []
    for size in sizes:
        parts.append(data[pos:pos + size])
        pos += size
    insn_bytes, blob, maps_b, progs_b, kcfg_b, ops_b, strs, vals = parts
    byteorder = "big" if flags & SERIAL_FLAG_BIG_ENDIAN else "little"

    def string(off: int) -> str:
        if off >= len(strs) or strs.find(b"\0", off) < 0:
            bad(f"string offset {off} out of range")
        return strs[off:strs.index(b"\0", off)].decode()

    maps = []
    for f in SERIAL_MAP.struct.iter_unpack(maps_b):
        init = None if f[9] == SERIAL_NONE else vals[f[9]:f[9] + f[10]]
        if init is not None and len(init) != f[10]:
            bad("initial value out of range")
        maps.append(LoaderMap(string(f[0]), string(f[1]), string(f[2]), f[3], f[4], f[5], f[6], f[7],
                              init, bool(f[8])))
    progs = [LoaderProg(string(f[0]), string(f[1]), f[3], f[4], string(f[2]), bool(f[5]), f[6])
             for f in SERIAL_PROG.struct.iter_unpack(progs_b)]
    kconfig = [KconfigVar(string(f[0]), string(f[1]), f[2], f[3], bool(f[4]), bool(f[5]))
               for f in SERIAL_KCONFIG.struct.iter_unpack(kcfg_b)]
    ops = [LoaderOp(f[0], string(f[1]), f[2], string(f[3])) for f in SERIAL_OP.struct.iter_unpack(ops_b)]
    if kcfg_map != SERIAL_NONE and kcfg_map >= len(maps):
        bad(f"kconfig map index {kcfg_map} out of range")
    return LoaderProgram(decode(insn_bytes, byteorder, path), blob, byteorder, maps, progs,
                         None if kcfg_map == SERIAL_NONE else kcfg_map, kconfig, ops)
