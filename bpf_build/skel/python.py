"""Python skeletons: ``bpf-build skel --lang python X.bpf.o -o x_skel.py``.

The generated module needs only the standard library and ``bpf_build.runtime``. It holds:

- ctypes types for every BTF type a map key/value or global variable uses (structs and unions
  with exact BTF offsets, arrays, enums as IntEnum, bitfields as properties, anonymous members
  through ``_anonymous_``), with C field names and annotations so editors complete them;
- one Structure per global data section (``.rodata``, ``.bss``, ``.data*``, ``.kconfig``);
- namespaces annotating ``skel.maps.<name>``, ``skel.progs.<name>``, ``skel.links.<name>``;
- the object's loader program (gen_loader): instructions and blob as base64 of zlib, the map,
  program, kconfig and step descriptions as literals.

Rendering only walks the models (open_object, gen_loader, Btf); same object and name give the same
text byte for byte. Names from the object reach the text only through :mod:`.naming`: attributes
and classes are checked identifiers, strings are ``repr``, comments and docstrings ``doc_text``.
A name Python would mangle inside a class body (``__x``) is never written there as an identifier:
such bitfield properties are set after the class, such enums use the functional API, and their
annotations are left out (``_fields_`` names are strings, so fields keep their C names).
"""

from __future__ import annotations

import base64
import os
import textwrap
import zlib
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from ..model import btf as B
from ..model.elf import Object
from ..errors import SkeletonError
from .event_types import record_sizes
from ..loader.gen import LoaderProgram, LoaderStructOps, generate_loader
from ..loader.open import ARENA_SEC, OpenedMap, OpenedObject, open_object
from ..loader.open.struct_ops import StructOps
from ..runtime.global_data import GLOBAL_DATA_KINDS
from ..runtime.uapi import MapType
from . import rendering_errors
from .naming import (check_object_names, doc_text, is_identifier, is_mangled_in_class, python_attribute,
                     python_class_name, python_enum_member, python_skeleton_name)

_INT_TYPES = {(1, False): "ctypes.c_uint8", (1, True): "ctypes.c_int8", (2, False): "ctypes.c_uint16",
              (2, True): "ctypes.c_int16", (4, False): "ctypes.c_uint32", (4, True): "ctypes.c_int32",
              (8, False): "ctypes.c_uint64", (8, True): "ctypes.c_int64"}
_FLOAT_TYPES = {4: "ctypes.c_float", 8: "ctypes.c_double"}
# Names the generated module itself uses at import time: no class may shadow them.
_MODULE_NAMES = {"ctypes", "enum", "_rt", "annotations", "bytes", "setattr"}
_WRAP = 96


def generate(obj: Object, name: str, **options) -> str:
    if options.get("subskeleton"):
        raise SkeletonError(obj.path, "Python skeletons have no subskeleton form")
    cls = python_skeleton_name(obj.path, name)
    with rendering_errors(obj.path):
        opened = open_object(obj, name)
        _check_supported(opened, obj.path)
        check_object_names(opened, obj.path)
        loader = generate_loader(opened)
        return _Renderer(obj, opened, loader, name, cls).render()


def _check_supported(opened: OpenedObject, path) -> None:
    """Refuse, naming them, what the Python skeleton cannot load (before the loader generator
    says the same about loader programs in general)."""
    if opened.btf is None:
        raise SkeletonError(path, "the object has no BTF; compile with -g")


def _sec_comment(section: str) -> str:
    """``SEC("...")`` for a comment, the section name escaped unless plain."""
    text = doc_text(section)
    return f'SEC("{text}")' if text == section else f"SEC({text})"


def embedded(data: bytes, indent: str) -> str:
    """``_rt.unz(...)`` of base64(zlib(data)), wrapped; all-zero data as ``bytes(n)``."""
    if not any(data):
        return f"bytes({len(data)})"
    text = base64.b64encode(zlib.compress(data, 9)).decode()
    if len(text) <= _WRAP - 12:
        return f'_rt.unz("{text}")'
    lines = textwrap.wrap(text, _WRAP, break_on_hyphens=False)
    body = "\n".join(indent + "    " + line for line in lines)
    return f'_rt.unz("""\n{body}\n{indent}""")'


class _Field:
    """One line of a Structure's ``_fields_`` or a bitfield property."""

    def __init__(self, name: str, ctype: str, annotation: Optional[str], comment: str = ""):
        self.name, self.ctype, self.annotation, self.comment = name, ctype, annotation, comment


@dataclass
class _BitfieldStorage:
    """The byte array member holding a run of bitfields, while a struct is laid out."""

    index: int   # in the struct's fields
    first: int   # its first byte
    end: int     # the byte after its last
    name: str


class _TypeWriter:
    """ctypes definitions for BTF types, emitted in dependency order under unique names."""

    def __init__(self, btf: B.Btf, byteorder: str, path: Optional[str], reserved: set):
        self.btf = btf
        self.byteorder = byteorder
        self.path = path
        self.taken = set(reserved) | _MODULE_NAMES
        self.names: Dict[int, str] = {}       # type id -> Python class name
        self.blocks: List[str] = []           # class definitions, dependencies first
        # Per class: bitfield property names, and (field, annotation) pairs including those reached
        # through anonymous members, so an outer class can forward and annotate them.
        self.bitfields: Dict[str, List[str]] = {}
        self.fields_of: Dict[str, List[Tuple[str, str]]] = {}
        self.inherited: Dict[str, List[Tuple[str, str]]] = {}

    def unique(self, wanted: str) -> str:
        """A class name not taken yet for ``wanted``, an identifier (a checked BTF name, or one
        made of checked names)."""
        name = python_class_name(wanted) if wanted else "anon"
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name

    def btf_name(self, name: str, what: str) -> str:
        """A BTF type, member or enumerator name that becomes a class, field or member name."""
        if not is_identifier(name):
            raise SkeletonError(self.path, f"BTF {what} name {name!r} is not a valid identifier")
        return name

    def type(self, tid: int) -> Optional[B.BtfType]:
        """BTF type ``tid`` (None for void); an id past the object's types is an error."""
        try:
            return self.btf.get(tid)
        except (IndexError, KeyError):
            raise SkeletonError(self.path, f"BTF refers to type id {tid}, which does not exist") from None

    # -- expressions -------------------------------------------------------------------------

    def ctype(self, tid: int, context: str) -> str:
        """The ctypes expression for type ``tid``; ``context`` names anonymous types found here."""
        typedef_name = ""
        depth = 0
        while True:
            t = self.type(tid)
            depth += 1
            if depth > 256:
                raise SkeletonError(self.path, f"BTF type [{tid}]: modifier chain loops")
            if t is None or tid == 0:
                return "ctypes.c_uint8 * 0"  # void: only behind pointers, which are plain u64
            if t.kind == B.TYPEDEF:
                typedef_name = typedef_name or self.btf_name(t.name, "typedef")
                tid = t.type
            elif t.kind in (B.CONST, B.VOLATILE, B.RESTRICT, B.TYPE_TAG):
                tid = t.type
            else:
                break
        if t.kind == B.INT:
            return _int_ctype(t)
        if t.kind in (B.PTR, B.FUNC_PROTO):
            return "ctypes.c_uint64"  # a kernel/BPF address: a number from user space
        if t.kind == B.FLOAT:
            return _FLOAT_TYPES.get(t.size, f"ctypes.c_uint8 * {t.size}")
        if t.kind in (B.ENUM, B.ENUM64):
            if (t.size, bool(t.kflag)) not in _INT_TYPES:
                raise SkeletonError(self.path, f"BTF type [{tid}] {t.kind_name} {t.name!r} has size {t.size}, "
                                               "not 1, 2, 4 or 8")
            self._enum(tid, t, typedef_name)
            return _INT_TYPES[(t.size, bool(t.kflag))]
        if t.kind == B.ARRAY:
            return f"{_paren(self.ctype(t.type, context))} * {t.nelems}"
        if t.kind in (B.STRUCT, B.UNION):
            return self._record(tid, t, self.btf_name(t.name, "type") if t.name else typedef_name or context)
        if t.kind == B.FWD:
            raise SkeletonError(self.path, f"type {t.name!r} is only declared (no definition) but used by value")
        raise SkeletonError(self.path, f"BTF type [{tid}] {t.kind_name} cannot be a value in a skeleton")

    def annotation(self, tid: int) -> str:
        """What Python code sees when it reads a field of this type."""
        t = self.type(self.btf.skip_modifiers(tid))
        if t is None:
            return "int"
        if t.kind == B.INT:
            ctype = _int_ctype(t)
            return {"ctypes.c_bool": "bool", "ctypes.c_char": "bytes"}.get(ctype, "int" if "*" not in ctype else "ctypes.Array")
        if t.kind in (B.PTR, B.FUNC_PROTO, B.ENUM, B.ENUM64):
            return "int"
        if t.kind == B.FLOAT:
            return "float" if t.size in _FLOAT_TYPES else "ctypes.Array"
        if t.kind == B.ARRAY:
            elem = self.btf.get(self.btf.skip_modifiers(t.type))
            if elem is not None and elem.kind == B.INT and _int_ctype(elem) == "ctypes.c_char":
                return "bytes"
            return "ctypes.Array"
        if t.kind in (B.STRUCT, B.UNION):
            return self.names.get(self.btf.skip_modifiers(tid), "ctypes.Structure")
        return "int"

    # -- definitions -------------------------------------------------------------------------

    def _enum(self, tid: int, t: B.BtfType, typedef_name: str) -> None:
        if tid in self.names or not (t.name or typedef_name) or not t.enums:
            return
        c_name = self.btf_name(t.name, "type") if t.name else typedef_name
        name = self.names[tid] = self.unique(c_name)
        kind = "enum" if t.kind == B.ENUM else "enum64"
        members: List[Tuple[str, int]] = []
        for e in t.enums:
            value = e.value
            if t.kflag:  # signed enums keep negative values
                bits = 8 * t.size
                value = value - (1 << bits) if value >= 1 << (bits - 1) else value
            member = python_enum_member(self.btf_name(e.name, "enumerator"))
            while member in (m for m, _ in members):
                member += "_"
            members.append((member, value))
        if any(is_mangled_in_class(m) for m, _ in members):
            lines = [f"# {kind} {c_name}", f"{name} = enum.IntEnum({name!r}, ["]
            lines += [f"    ({m!r}, {v})," for m, v in members]
            lines.append("], module=__name__)")
        else:
            lines = [f"class {name}(enum.IntEnum):", f'    """{kind} {c_name}"""']
            lines += [f"    {m} = {v}" for m, v in members]
        self.blocks.append("\n".join(lines))

    def _record(self, tid: int, t: B.BtfType, wanted: str) -> str:
        if tid in self.names:
            return self.names[tid]
        name = self.names[tid] = self.unique(wanted or f"anon_{tid}")
        fields, properties, anonymous = self._members(name, t)
        kind = "union" if t.kind == B.UNION else "struct"
        self.blocks.append(_class_text(name, t.kind == B.UNION, f"{kind} {t.name or '(anonymous)'}, {t.size} bytes",
                                       fields, properties, anonymous, self.inherited.get(name, [])))
        return name

    def _members(self, name: str, t: B.BtfType):
        """(_fields_ entries, bitfield properties, anonymous member names) at BTF's exact offsets.

        Structs get explicit padding wherever BTF leaves a gap; consecutive bitfields share one
        byte-array storage field that properties read and write bit by bit."""
        fields: List[_Field] = []
        properties: List[Tuple[str, str, str]] = []  # (name, helper call, annotation)
        anonymous: List[str] = []
        is_union = t.kind == B.UNION
        end = 0          # struct bytes laid out so far
        widest = 0       # union: largest member
        storage: Optional[_BitfieldStorage] = None  # struct: the open bitfield storage
        counts = {"pad": 0, "bits": 0, "anon": 0}

        def add(field: _Field, size: int) -> None:
            nonlocal widest
            fields.append(field)
            widest = max(widest, size)

        def pad_to(offset: int) -> None:
            if offset > end:
                add(_Field(f"_pad{counts['pad']}", f"ctypes.c_uint8 * {offset - end}", None), 0)
                counts["pad"] += 1

        for m in t.members:
            member = python_attribute(self.path, "BTF member", m.name) if m.name else ""
            if m.bitfield_size:
                if self.byteorder != "little":
                    raise SkeletonError(self.path, f"{name}.{member}: bitfields are supported for little-endian objects only")
                first, last = m.offset // 8, (m.offset + m.bitfield_size + 7) // 8
                if is_union or storage is None or first >= storage.end:
                    start = 0 if is_union else first
                    if not is_union:
                        pad_to(first)
                    storage = _BitfieldStorage(len(fields), start, last, f"_bits{counts['bits']}")
                    counts["bits"] += 1
                    add(_Field(storage.name, f"ctypes.c_uint8 * {last - start}", None), last - start)
                elif last > storage.end:
                    storage.end = last
                    fields[storage.index] = _Field(storage.name, f"ctypes.c_uint8 * {last - storage.first}", None)
                helper = (f'_rt.bitfield("{storage.name}", {m.offset - 8 * storage.first}, {m.bitfield_size}, '
                          f'{self._is_signed(m.type)})')
                properties.append((member, helper, "int"))
                if not is_union:
                    end = storage.end
                continue
            storage = None
            if m.offset % 8:
                raise SkeletonError(self.path, f"{name}.{member}: member at bit offset {m.offset} is not byte aligned")
            offset = m.offset // 8
            if not is_union:
                pad_to(offset)
            ctype = self.ctype(m.type, f"{name}__{m.name}" if member else f"{name}__anon{counts['anon']}")
            size = self.btf.resolve_size(m.type)
            if member:
                add(_Field(member, ctype, self.annotation(m.type)), size)
            else:
                field_name = f"_anon{counts['anon']}"
                counts["anon"] += 1
                anonymous.append(field_name)
                add(_Field(field_name, ctype, None), size)
                for prop in self.bitfields.get(ctype, []):  # ctypes forwards fields, not properties
                    properties.append((prop, f"_rt.forward({field_name!r}, {prop!r})", "int"))
                self.inherited[name] = self.inherited.get(name, []) + self.fields_of.get(ctype, [])
            if not is_union:
                end = offset + size
        if is_union:
            if t.size > widest:
                fields.append(_Field(f"_pad{counts['pad']}", f"ctypes.c_uint8 * {t.size}", None))
        else:
            pad_to(t.size)
        self.bitfields[name] = [p[0] for p in properties]
        self.fields_of[name] = ([(f.name, f.annotation) for f in fields if f.annotation]
                                + self.inherited.get(name, []) + [(p, a) for p, _, a in properties])
        return fields, properties, anonymous

    def _is_signed(self, tid: int) -> bool:
        t = self.btf.get(self.btf.skip_modifiers(tid))
        if t is None:
            return False
        if t.kind == B.INT:
            return bool(t.int_encoding & B.INT_SIGNED)
        return t.kind in (B.ENUM, B.ENUM64) and bool(t.kflag)

    def section(self, class_name: str, section_name: str, datasec_id: int, value_size: int) -> None:
        """A Structure for a global data section: its non-static variables at their offsets (none
        when the section has no DATASEC, as for string literals in ``.rodata.str1.1``)."""
        sec = self.type(datasec_id) if datasec_id else None
        self.taken.add(class_name)
        fields: List[_Field] = []
        end = pad = 0
        secinfo = sec.secinfo if sec is not None and sec.kind == B.DATASEC else []
        for info in sorted(secinfo, key=lambda s: s.offset):
            var = self.type(info.type)
            if var is None or var.kind != B.VAR or var.linkage == B.VAR_STATIC:
                continue
            if info.offset < end or info.offset + info.size > value_size:
                raise SkeletonError(self.path, f"section {section_name!r}: variable {var.name!r} at offset "
                                               f"{info.offset} overlaps another or ends past the section")
            if info.offset > end:
                fields.append(_Field(f"_pad{pad}", f"ctypes.c_uint8 * {info.offset - end}", None))
                pad += 1
            attr = python_attribute(self.path, "variable", var.name)
            ctype = self.ctype(var.type, f"{class_name}__{var.name}")
            fields.append(_Field(attr, ctype, self.annotation(var.type)))
            end = info.offset + info.size
        if value_size > end:
            fields.append(_Field(f"_pad{pad}", f"ctypes.c_uint8 * {value_size - end}", None))
        self.blocks.append(_class_text(class_name, False, f"section {doc_text(section_name)}, {value_size} bytes",
                                       fields, [], []))


def _paren(expr: str) -> str:
    return f"({expr})" if " " in expr else expr


def _int_ctype(t: B.BtfType) -> str:
    if t.int_encoding & B.INT_BOOL and t.size == 1:
        return "ctypes.c_bool"
    if t.name == "char" and t.size == 1:
        return "ctypes.c_char"
    signed = bool(t.int_encoding & B.INT_SIGNED)
    return _INT_TYPES.get((t.size, signed), f"ctypes.c_uint8 * {t.size}")  # __int128: raw bytes


def _class_text(name: str, is_union: bool, doc: str, fields: List[_Field], properties, anonymous,
                inherited: Sequence[Tuple[str, str]] = ()) -> str:
    """The class; ``doc`` (its docstring) is plain text or went through doc_text."""
    base = "_rt.Union" if is_union else "_rt.Structure"  # refuse integers ctypes would cut
    lines = [f"class {name}({base}):", f'    """{doc}"""',
             "    _pack_ = 1  # every offset below is BTF's; padding is explicit"]
    if anonymous:
        lines.append(f"    _anonymous_ = ({', '.join(repr(a) for a in anonymous)},)")
    if fields:
        lines.append("    _fields_ = [")
        lines += [f"        ({f.name!r}, {f.ctype})," for f in fields]
        lines.append("    ]")
    else:
        lines.append("    _fields_ = []")
    after = []  # set once the class exists: in its body Python would mangle these names
    for prop, helper, _ in properties:
        if is_mangled_in_class(prop):
            after.append(f"setattr({name}, {prop!r}, {helper})")
        else:
            lines.append(f"    {prop} = {helper}")
    annotated = ([(f.name, f.annotation) for f in fields if f.annotation] + list(inherited)
                 + [(p, a) for p, _, a in properties if (p, a) not in inherited])
    annotated = [(field, ann) for field, ann in annotated if not is_mangled_in_class(field)]
    if annotated:
        lines.append("")
        lines += [f"    {field}: {ann}" for field, ann in annotated]
    return "\n".join(lines + ([""] + after if after else []))


class _Renderer:
    def __init__(self, obj: Object, opened: OpenedObject, loader: LoaderProgram, name: str, cls: str):
        self.obj, self.opened, self.loader, self.name = obj, opened, loader, name
        self.path = obj.path
        while cls in _MODULE_NAMES:
            cls += "_"
        self.cls = cls
        reserved = {self.cls, f"{self.cls}_maps", f"{self.cls}_progs", f"{self.cls}_links"}
        reserved |= {f"{self.cls}_{m.ident}" for m in self.global_data_maps()}
        if any(m.struct_ops is not None for m in opened.maps):
            reserved.add(f"{self.cls}_struct_ops")
        self.arena = next((m for m in opened.maps if m.type == MapType.ARENA and m.initial_value is not None), None)
        if self.arena is not None:
            reserved.add(f"{self.cls}_arena")
        self.struct_ops_types: Dict[str, str] = {}  # struct_ops map ident -> its struct's class
        assert opened.btf is not None  # _check_supported refused an object without BTF
        self.btf: B.Btf = opened.btf
        self.types = _TypeWriter(self.btf, obj.byteorder, self.path, reserved)

    def global_data_maps(self) -> List[OpenedMap]:
        """Every global-data map gets a section class, with or without variables (an empty
        ``rodata`` for string literals, as bpftool's C skeleton has)."""
        return [m for m in self.opened.maps if m.kind in GLOBAL_DATA_KINDS]

    # -- pieces -----------------------------------------------------------------------------

    def map_types(self) -> List[Tuple[OpenedMap, Optional[str], Optional[str]]]:
        out: List[Tuple[OpenedMap, Optional[str], Optional[str]]] = []
        for m in self.opened.maps:
            if m.kind in GLOBAL_DATA_KINDS:
                self.types.section(f"{self.cls}_{m.ident}", m.real_name, m.value_type_id, m.value_size)
                out.append((m, "ctypes.c_uint32", f"{self.cls}_{m.ident}"))
                continue
            if m.struct_ops is not None:  # its value is the kernel's bpf_struct_ops_<name>: raw bytes
                # the object's struct, whose data members user space may set before load
                self.struct_ops_types[m.ident] = self.types.ctype(m.value_type_id, f"{m.ident}_value")
                out.append((m, None, None))
                continue
            key = self.types.ctype(m.key_type_id, f"{m.ident}_key") if m.key_type_id else None
            value = self.types.ctype(m.value_type_id, f"{m.ident}_value") if m.value_type_id else None
            out.append((m, key, value))
        return out

    def arena_section(self) -> Tuple[List[str], List[str]]:
        """``skel.arena``: the ``__arena`` globals (section .addr_space.1), a Structure editable
        before load and a view of the mapped arena after (runtime/arena.py). Nothing for objects
        without them, so other skeletons are unchanged."""
        if self.arena is None or self.arena.initial_value is None:
            return [], []
        datasec = self.btf.find(ARENA_SEC, B.DATASEC) or 0
        self.types.section(f"{self.cls}_arena", ARENA_SEC, datasec, len(self.arena.initial_value))
        return [f"    arena: {self.cls}_arena"], [f"    _arena_type_ = {self.cls}_arena"]

    def own_types(self) -> None:
        """Every other named struct/union/enum of the object (ring buffer events, say), except the
        kernel's: program context types, CO-RE-accessed types and map definitions, with
        everything they reach. Map and global types were emitted first; this adds the rest in
        BTF order."""
        btf = self.btf
        kernel_roots: List[int] = []
        for p in self.opened.programs:
            func = btf.find(p.name, B.FUNC)
            if func:
                kernel_roots.append(btf.type(func).type)  # its FUNC_PROTO: the ctx parameter
            kernel_roots += [r.type_id for r in p.core_relos]
        for tid, t in btf.items():
            if t.kind == B.DATASEC and t.name == ".maps":
                kernel_roots.append(tid)
        kernel = _closure(btf, kernel_roots)
        for tid, t in btf.items():
            if t.kind in (B.STRUCT, B.UNION, B.ENUM, B.ENUM64) and t.name and tid not in kernel:
                self.types.ctype(tid, t.name)

    def namespace(self, suffix: str, what: str, entries: List[Tuple[str, str, str]]) -> str:
        lines = [f"class {self.cls}_{suffix}(_rt.Namespace):", f'    """{what} of {self.name}."""']
        for attr, annotation, comment in entries:
            if is_mangled_in_class(attr):  # an annotation here would name _Class__x
                lines.append(f"    # {attr}: {annotation}  ({comment})")
            else:
                lines.append(f"    {attr}: {annotation}  # {comment}")
        if not any(line.startswith("    ") and not line.startswith("    #") for line in lines[2:]):
            lines.append("    pass")
        return "\n".join(lines)

    def loader_literal(self) -> str:
        L = self.loader
        ind = " " * 8
        maps = []
        for m, attr_offset in zip(L.maps, L.map_attr_offsets):
            init = "None" if m.initial_value is None else embedded(m.initial_value, ind + "    ")
            maps.append(f"{ind}_rt.MapSpec({m.name!r}, {m.ident!r}, {m.kind!r}, {m.type}, {m.key_size}, "
                        f"{m.value_size}, {m.max_entries}, {m.map_flags:#x}, {init}, {m.frozen}, {attr_offset}),")
        progs = [f"{ind}_rt.ProgSpec({p.name!r}, {p.section!r}, {p.type}, {p.expected_attach_type}, "
                 f"{p.attach_target!r}, {p.autoload}, {attr_offset}),"
                 for p, attr_offset in zip(L.progs, L.prog_attr_offsets)]
        kconfig = [f"{ind}_rt.KconfigSpec({k.name!r}, {k.kcfg_type!r}, {k.size}, {k.offset}, {k.signed}, {k.weak}),"
                   for k in L.kconfig]
        steps = [f"{ind}_rt.StepSpec({op.kind!r}, {op.index}, {op.text!r})," for op in L.ops]
        struct_ops = [_struct_ops_literal(s, ind, self.opened.maps[s.map_index].struct_ops) for s in L.struct_ops]

        def seq(items: List[str]) -> str:
            return "(\n" + "\n".join(items) + "\n    )" if items else "()"

        return "\n".join([
            "_rt.LoaderSpec(",
            f"    insns={embedded(L.insns_bytes(), '    ')},",
            f"    blob={embedded(L.blob, '    ')},",
            f"    maps={seq(maps)},",
            f"    progs={seq(progs)},",
            f"    kconfig_map={L.kconfig_map},",
            f"    kconfig={seq(kconfig)},",
            f"    steps={seq(steps)},",
            *([f"    struct_ops={seq(struct_ops)},"] if struct_ops else []),
            ")",
        ])

    def struct_ops_namespace(self) -> Tuple[List[str], List[str]]:
        """``skel.struct_ops.<map>``: the object's struct of each struct_ops map, editable before
        load (data members; which program each pointer holds is the object's). Nothing without
        struct_ops maps, so other skeletons are unchanged."""
        if not self.struct_ops_types:
            return [], []
        entries = [(python_attribute(self.path, "map", ident), type_name, "data members editable until load()")
                   for ident, type_name in self.struct_ops_types.items()]
        namespace = self.namespace("struct_ops", "struct_ops maps' values", entries)
        type_map = [f"        {ident!r}: {type_name}," for ident, type_name in self.struct_ops_types.items()]
        return [namespace], [f"    _struct_ops_namespace_ = {self.cls}_struct_ops",
                             "    _struct_ops_types_ = {", *type_map, "    }"]

    def event_types(self) -> List[Tuple[str, str]]:
        """(map, class) for ring/perf buffers whose programs send one record size that exactly one
        generated struct has (bpf_build/event_types.py); the runtime types their records."""
        by_size: Dict[int, List[str]] = {}
        for tid, type_name in self.types.names.items():
            t = self.btf.type(tid)
            if t.kind in (B.STRUCT, B.UNION):
                by_size.setdefault(t.size, []).append(type_name)
        return [(name, by_size[size][0]) for name, size in sorted(record_sizes(self.opened).items())
                if len(by_size.get(size, ())) == 1]

    def render(self) -> str:
        map_types = self.map_types()
        arena_attrs, arena_type = self.arena_section()
        self.own_types()
        cls = self.cls
        maps_ns = self.namespace("maps", "Maps", [
            (python_attribute(self.path, "map", m.ident), _map_annotation(m, k, v),
             f"{m.type_name}" + (f", key {k}" if k else "") + (f", value {v}" if v else ""))
            for m, k, v in map_types])
        progs = self.opened.programs
        progs_ns = self.namespace("progs", "Programs (loaded ones)", [
            (python_attribute(self.path, "program", p.name), "_rt.Program",
             _sec_comment(("" if p.autoload else "?") + p.section)) for p in progs])
        links_ns = self.namespace("links", "Links made by attach()", [
            (python_attribute(self.path, "program", p.name), "_rt.Link", _sec_comment(p.section)) for p in progs] + [
            (python_attribute(self.path, "map", m.ident), "_rt.Link", "struct_ops map, SEC(\".struct_ops.link\")")
            for m in self.opened.maps if m.struct_ops is not None and m.struct_ops.link])
        section_attrs = [f"    {m.ident}: {cls}_{m.ident}" for m in self.global_data_maps()]
        type_map = [f"        {m.name!r}: ({k or 'None'}, {v or 'None'})," for m, k, v in map_types]
        section_map = [f"        {m.ident!r}: {cls}_{m.ident}," for m in self.global_data_maps()]
        event_map = [f"        {name!r}: {type_name}," for name, type_name in self.event_types()]
        struct_ops_ns, struct_ops_attrs = self.struct_ops_namespace()
        summary = (f"maps: {', '.join(m.ident for m in self.opened.maps if m.ident) or 'none'}; "
                   f"programs: {', '.join(p.name for p in progs) or 'none'}")
        parts = [
            f'"""Python skeleton for {doc_text(os.path.basename(self.obj.path or self.name))} ({summary}).\n\n'
            "Generated by bpf-build; do not edit. Needs only the standard library and bpf_build.runtime.\n\n"
            f"    skel = {cls}.open()   # global data (rodata, bss, data) editable until load()\n"
            "    skel.load()   # maps and programs created in the kernel\n"
            "    skel.attach()   # programs whose section names their target\n"
            "    skel.close()   # or: with skel: ...\n"
            '"""\n\n'
            "from __future__ import annotations\n\nimport ctypes\nimport enum\n\n"
            "from bpf_build.runtime import skeleton as _rt",
            *self.types.blocks,
            maps_ns, progs_ns, links_ns, *struct_ops_ns,
            "\n".join([
                f"class {cls}(_rt.Skeleton):",
                f'    """The BPF object {self.name}."""',
                f"    maps: {cls}_maps",
                f"    progs: {cls}_progs",
                f"    links: {cls}_links",
                *([f"    struct_ops: {cls}_struct_ops"] if self.struct_ops_types else []),
                *section_attrs,
                *arena_attrs,
                "",
                f"    _name_ = {self.name!r}",
                f"    _maps_namespace_ = {cls}_maps",
                f"    _progs_namespace_ = {cls}_progs",
                f"    _links_namespace_ = {cls}_links",
                "    _map_types_ = {", *type_map, "    }",
                "    _section_types_ = {", *section_map, "    }",
                "    _event_types_ = {", *event_map, "    }",
                *struct_ops_attrs,
                *arena_type,
                "    _loader_ = " + self.loader_literal().replace("\n", "\n    "),
            ]),
        ]
        if "enum.IntEnum" not in "\n".join(self.types.blocks):
            parts[0] = parts[0].replace("import enum\n", "")
        return "\n\n\n".join(parts) + "\n"


def _struct_ops_literal(s: LoaderStructOps, ind: str, opened: Optional[StructOps]) -> str:
    """``_rt.StructOpsSpec(...)``: what the runtime needs to lay out the kernel's value (and
    ``optional`` only for a ``SEC("?.struct_ops")`` map, so other skeletons are unchanged)."""
    members = "".join(f"{ind}        _rt.StructOpsMemberSpec({name!r}, {offset}, {size}, {prog}),\n"
                      for name, offset, size, prog in s.members)
    optional = ", optional=True" if opened is not None and opened.optional else ""
    return (f"{ind}_rt.StructOpsSpec({s.map_index}, {s.type_name!r}, {s.link}, {embedded(s.data, ind + '    ')}, (\n"
            f"{members}{ind}    ){optional}),")


# Maps whose values user space sees as fds/ids (ints) whatever their BTF says (runtime/maps.py).
_FD_VALUE_MAPS = ("PROG_ARRAY", "PERF_EVENT_ARRAY", "CGROUP_ARRAY", "ARRAY_OF_MAPS", "HASH_OF_MAPS", "SOCKMAP",
                  "SOCKHASH", "REUSEPORT_SOCKARRAY")


def _element_annotation(ctype: Optional[str]) -> str:
    """What the runtime's Map gives for keys or values of this ctypes type (runtime/codec.py):
    scalars as their Python value, records and arrays as ctypes objects, untyped ones as bytes."""
    if ctype is None:
        return "bytes"
    scalars = {"ctypes.c_bool": "bool", "ctypes.c_char": "bytes", "ctypes.c_float": "float", "ctypes.c_double": "float"}
    if ctype in scalars:
        return scalars[ctype]
    if " * " in ctype:
        return f"ctypes.Array[{ctype.rsplit(' * ', 1)[0]}]"
    return "int" if ctype.startswith("ctypes.c_") else ctype


def _map_annotation(m: OpenedMap, key: Optional[str], value: Optional[str]) -> str:
    """``_rt.Map[K, V]``: editors and type checkers know what ``skel.maps.NAME`` holds."""
    if m.type_name in _FD_VALUE_MAPS and value is None:
        value_type = "int"
    else:
        value_type = _element_annotation(value)
    if "PERCPU" in m.type_name:
        value_type = f"list[{value_type}]"  # one value per possible CPU
    return f"_rt.Map[{_element_annotation(key)}, {value_type}]"


def _closure(btf: B.Btf, roots: List[int]) -> set:
    """Type ids reachable from ``roots`` through any reference (members, pointers, typedefs...)."""
    seen: set = set()
    stack = [r for r in roots if r]
    while stack:
        tid = stack.pop()
        if tid in seen:
            continue
        seen.add(tid)
        t = btf.get(tid)
        if t is not None:
            stack.extend(r for r in t.referenced_ids() if r and r not in seen)
    return seen
