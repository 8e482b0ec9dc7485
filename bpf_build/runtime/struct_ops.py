"""struct_ops maps: what the runner resolves on the loading machine, and their attach and detach.

A struct_ops map's value is a kernel type, ``struct bpf_struct_ops_<name>``, whose ``data``
member is the kernel's ``struct <name>``; the object only knows its own declaration of that
struct. Before the loader runs, ``resolve_struct_ops`` reads this kernel's BTF and writes into the
blob what the loader contract asks for (runtime/loader_contract.py, "struct_ops maps"): the map's
value size and vmlinux value type id, each program's attach_btf_id and expected_attach_type (the
index of its member). It also lays out the value (``StructOpsValue``: the data members at the
kernel's offsets, and the kernel offset of each program member). Members are matched by name, as
libbpf does; a data member must have the kernel's size.

The loader only creates the map and loads the programs, as libbpf's load does. ``register``, at
attach, stores the programs' fds in the value and writes it at key 0 (libbpf's
bpf_map__attach_struct_ops): that write registers a legacy ``.struct_ops`` map, until
``unregister`` deletes key 0; a ``.struct_ops.link`` map registers with the BPF link made next,
for as long as the link lives.

A map with ``autocreate`` off (settings.py makes it a placeholder array in the blob) is not
resolved, as libbpf looks up kernel types only for maps it creates: its type need not exist on
this kernel, and ``struct_ops_autoload`` turns off each program only such maps use (libbpf's
rule: a struct_ops program loads if one map referencing it is created, whatever its autoload).

Standard library only, Python 3.9.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from . import btf_types as T
from . import syscall
from .errors import BpfRuntimeError, BpfSyscallError, LoaderError, NotSupportedError
from .links import BpfLink
from .loader_contract import MAP_CREATE_ATTR, PROG_LOAD_ATTR
from .uapi import AttachType, Cmd, MapType

if TYPE_CHECKING:
    from .maps import Map

VALUE_TYPE_PREFIX = "bpf_struct_ops_"
LINK_TYPE = "bpf_struct_ops_link"  # the kernel's struct_ops link (Linux 6.4+, with BPF_F_LINK maps)
VALUE_DATA_MEMBER = "data"
ENOTSUPP = 524  # the kernel's own "not supported" (bpf_dummy_ops refuses to register with it)


class StructOpsMemberSpec(NamedTuple):
    """One member of the object's struct: ``prog`` is the program index of a function pointer,
    -1 for a data member."""
    name: str
    offset: int
    size: int
    prog: int


class StructOpsSpec(NamedTuple):
    """A struct_ops map as a skeleton embeds it (``LoaderStructOps`` on the build side);
    ``optional``: from ``SEC("?.struct_ops")``/``SEC("?.struct_ops.link")``, its autocreate starts off."""
    map_index: int
    type_name: str
    link: bool
    data: bytes
    members: Sequence[StructOpsMemberSpec]
    optional: bool = False


class StructOpsValue(NamedTuple):
    """A struct_ops map's value laid out for this kernel, written at attach: ``value`` has the
    data members, ``programs`` says where each program's fd goes, as (program index, offset)."""
    value: bytes
    programs: Sequence[Tuple[int, int]]


class KernelLayout(NamedTuple):
    """What this kernel says of one struct_ops type."""
    struct_id: int          # struct <name>: the programs' attach_btf_id
    value_id: int           # struct bpf_struct_ops_<name>: the map's btf_vmlinux_value_type_id
    value_size: int
    data_offset: int        # of the value's ``data`` member
    members: List[T.Member]


def _kernel_release() -> str:
    return os.uname().release


def kernel_layout(btf: T.BtfTypes, type_name: str, where: str, link: bool = False) -> KernelLayout:
    """Find ``struct <type_name>`` and its struct_ops value type in the kernel's BTF; ``link``:
    the map is a ``.struct_ops.link`` one, which needs struct_ops links too."""
    value_name = VALUE_TYPE_PREFIX + type_name
    value_id = _struct_named(btf, value_name)
    if value_id is None:
        if _struct_named(btf, "bpf_struct_ops_common_value") is None and \
                _struct_named(btf, "bpf_struct_ops_value") is None:
            why = "it has no struct_ops support (Linux 5.6+ with CONFIG_BPF_JIT)"
        else:
            why = f"it registers no struct_ops type 'struct {type_name}' ('struct {value_name}' is not in its BTF)"
        raise NotSupportedError(f"{where}: struct_ops cannot load on this kernel ({_kernel_release()}): {why}")
    if link and _struct_named(btf, LINK_TYPE) is None:
        raise NotSupportedError(f"{where}: SEC(\".struct_ops.link\") cannot load on this kernel ({_kernel_release()}): "
                                "it has no BPF links for struct_ops (Linux 6.4+); SEC(\".struct_ops\") registers "
                                "without one")
    struct_id = _struct_named(btf, type_name)
    data = next((m for m in btf.members(value_id) if m.name == VALUE_DATA_MEMBER), None)
    if struct_id is None or data is None:
        raise NotSupportedError(f"{where}: the kernel's 'struct {value_name}' has no '{VALUE_DATA_MEMBER}' of "
                                f"'struct {type_name}'")
    return KernelLayout(struct_id, value_id, btf.size_or_type(value_id), data.bit_offset // 8,
                        btf.members(struct_id))


def _struct_named(btf: T.BtfTypes, name: str) -> Optional[int]:
    """The first STRUCT called ``name``: its name's offsets in the string section, then the
    structs that use one (~30 ms over vmlinux, where building the name index takes ~0.7 s)."""
    needle = b"\0" + name.encode("utf-8", "surrogateescape") + b"\0"
    data, start, end = btf.data, btf.strings_start, btf.strings_end
    name_offs = set()  # offset 0 is the empty string, so a name is always preceded by a NUL
    pos = data.find(needle, start, end)
    while pos >= 0:
        name_offs.add(pos + 1 - start)
        pos = data.find(needle, pos + 1, end)
    if not name_offs:
        return None
    return next((i for i in range(1, len(btf)) if btf.kind(i) == T.KIND_STRUCT and btf.name_off(i) in name_offs),
                None)


def _is_func_ptr(btf: T.BtfTypes, type_id: int) -> bool:
    t = btf.skip_mods_and_typedefs(type_id)
    return btf.kind(t) == T.KIND_PTR and \
        btf.kind(btf.skip_mods_and_typedefs(btf.size_or_type(t))) == T.KIND_FUNC_PROTO


def lay_out_value(btf: T.BtfTypes, spec: StructOpsSpec, layout: KernelLayout, map_name: str,
                  data: Optional[bytes] = None) -> Tuple[bytes, List[Tuple[int, int, int]]]:
    """The value (data members at the kernel's offsets) and, per program member in order,
    (program index, member index, kernel offset in the value)."""
    where = f"struct_ops map '{map_name}' (struct {spec.type_name})"
    source = spec.data if data is None else data
    value = bytearray(layout.value_size)
    programs = []
    kernel = {m.name: (index, m) for index, m in enumerate(layout.members)}
    for member in spec.members:
        mine = source[member.offset:member.offset + member.size]
        found = kernel.get(member.name)
        if found is None:
            if member.prog < 0 and not any(mine):
                continue  # a zero member this kernel lacks: nothing is lost (libbpf's rule)
            raise NotSupportedError(f"{where}: this kernel ({_kernel_release()}) has no member '{member.name}'")
        index, km = found
        if km.bitfield_size or km.bit_offset % 8:
            raise NotSupportedError(f"{where}: the kernel's member '{member.name}' is a bitfield")
        offset = layout.data_offset + km.bit_offset // 8
        if member.prog >= 0:
            if not _is_func_ptr(btf, km.type):
                raise NotSupportedError(f"{where}: member '{member.name}' holds a program here, but the "
                                        "kernel's is not a function pointer")
            programs.append((member.prog, index, offset))
            continue
        if _is_func_ptr(btf, km.type):
            continue  # a NULL function pointer
        size = btf.resolve_size(km.type)
        if size != member.size:
            raise NotSupportedError(f"{where}: member '{member.name}' is {member.size} bytes in the object, "
                                    f"{size} in this kernel")
        value[offset:offset + size] = mine
    return bytes(value), programs


def resolve_struct_ops(blob: bytes, specs: Sequence[StructOpsSpec], map_attr_offsets: Sequence[int],
                       prog_attr_offsets: Sequence[int], map_names: Sequence[str],
                       data: Optional[Sequence[Optional[bytes]]] = None,
                       btf: Optional[T.BtfTypes] = None) -> Tuple[bytes, List[StructOpsValue]]:
    """The blob with every struct_ops map's and program's attrs patched for this kernel, and each
    map's value for attach (see the module docstring); ``data`` may replace a map's object bytes
    (data members set before load). Maps not created are left alone (an empty value)."""
    skipped = not_created(blob, specs, map_attr_offsets)
    if all(spec.map_index in skipped for spec in specs):
        return blob, [StructOpsValue(b"", ()) for _ in specs]  # no kernel BTF needed
    if btf is None:
        try:
            btf = T.kernel_types()
        except LoaderError as e:
            raise NotSupportedError(f"struct_ops needs the kernel's BTF: {e}") from None
    out = bytearray(blob)
    values = []
    for n, spec in enumerate(specs):
        if spec.map_index in skipped:
            values.append(StructOpsValue(b"", ()))  # never attached: the map is absent after load
            continue
        name = map_names[spec.map_index]
        layout = kernel_layout(btf, spec.type_name, f"struct_ops map '{name}'", spec.link)
        value, programs = lay_out_value(btf, spec, layout, name, data[n] if data else None)
        attr = map_attr_offsets[spec.map_index]
        MAP_CREATE_ATTR.write(out, attr, "value_size", layout.value_size)
        MAP_CREATE_ATTR.write(out, attr, "btf_vmlinux_value_type_id", layout.value_id)
        for prog, member_index, _ in programs:
            pattr = prog_attr_offsets[prog]
            PROG_LOAD_ATTR.write(out, pattr, "attach_btf_id", layout.struct_id)
            PROG_LOAD_ATTR.write(out, pattr, "expected_attach_type", member_index)
        values.append(StructOpsValue(value, tuple((prog, offset) for prog, _, offset in programs)))
    return bytes(out), values


def not_created(blob: bytes, specs: Sequence[StructOpsSpec], map_attr_offsets: Sequence[int]) -> Set[int]:
    """The struct_ops maps (by map index) the blob no longer creates as struct_ops maps: those
    with ``autocreate`` off, which settings.py turned into placeholder arrays."""
    return {spec.map_index for spec in specs
            if MAP_CREATE_ATTR.read(blob, map_attr_offsets[spec.map_index], "map_type") != MapType.STRUCT_OPS}


def struct_ops_autoload(blob: bytes, specs: Sequence[StructOpsSpec], map_attr_offsets: Sequence[int],
                        autoload: Mapping[int, bool]) -> Dict[int, bool]:
    """``autoload`` (program index -> load it) with libbpf's rule for struct_ops programs: one
    that struct_ops maps use loads if one of them is created, and not if none is."""
    skipped = not_created(blob, specs, map_attr_offsets)
    if not skipped:
        return dict(autoload)
    used: Dict[int, bool] = {}
    for spec in specs:
        for member in spec.members:
            if member.prog >= 0:
                used[member.prog] = used.get(member.prog, False) or spec.map_index not in skipped
    return {**autoload, **used}


def register(map_fd: int, map_name: str, value: StructOpsValue, prog_fds: Sequence[Optional[int]],
             link: bool) -> Optional[BpfLink]:
    """Attach a struct_ops map: its value, with each loaded program's fd (a program not loaded
    leaves its pointer NULL), written at key 0, which registers a legacy map; for a
    ``.struct_ops.link`` map, the link that registers it for as long as it lives."""
    what = f"attach struct_ops map '{map_name}'"
    raw = bytearray(value.value)
    for prog, offset in value.programs:
        struct.pack_into("=Q", raw, offset, prog_fds[prog] or 0)
    buffer = ctypes.create_string_buffer(bytes(raw), len(raw))
    key = ctypes.c_uint32(0)
    err = syscall.map_elem_errno(Cmd.MAP_UPDATE_ELEM, map_fd, ctypes.addressof(key), ctypes.addressof(buffer))
    if err:
        refused = err in (errno.EOPNOTSUPP, ENOTSUPP)  # a type that never registers, as bpf_dummy_ops
        raise BpfSyscallError(f"{what}: writing its value", err,
                              "this kernel does not register maps of this struct_ops type" if refused else "")
    if not link:
        return None
    attr = syscall.LinkCreateAttr(prog_fd=map_fd, target=0, attach_type=int(AttachType.STRUCT_OPS), flags=0)
    return BpfLink(syscall.link_create(attr, what), what)


def unregister(bpf_map: "Map[Any, Any]") -> None:
    """Unregister a legacy ``.struct_ops`` map (attach's write registered it, and the registration
    keeps the map alive after its last fd closes); nothing if it was not registered."""
    try:
        bpf_map.delete(0)
    except (BpfRuntimeError, OSError):
        pass  # not registered (never attached) or already gone
