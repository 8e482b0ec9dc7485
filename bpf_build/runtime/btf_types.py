"""Read-only access to every type of a raw BTF blob (an object's BTF or the kernel's vmlinux).

CO-RE relocation walks members, arrays, enumerators and modifiers of two BTFs, and the BTF
sanitizer rewrites type headers in place: both need more than ``kernel_btf``'s name scanner but
far less than the build side's BTF model (which the runtime does not import). Types are located
in one pass; their contents are decoded only when asked for, so the kernel's ~100k types cost
one scan, not one object each.
"""

from __future__ import annotations

import functools
import struct
from array import array
from typing import Dict, List, NamedTuple, Optional, Tuple

from .errors import LoaderError

BTF_MAGIC = 0xEB9F
HEADER_SIZE = 24

(KIND_UNKN, KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_FWD,
 KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR,
 KIND_DATASEC, KIND_FLOAT, KIND_DECL_TAG, KIND_TYPE_TAG, KIND_ENUM64) = range(20)

KIND_NAMES = ("UNKN", "INT", "PTR", "ARRAY", "STRUCT", "UNION", "ENUM", "FWD", "TYPEDEF", "VOLATILE",
              "CONST", "RESTRICT", "FUNC", "FUNC_PROTO", "VAR", "DATASEC", "FLOAT", "DECL_TAG",
              "TYPE_TAG", "ENUM64")

INT_SIGNED = 1
MODIFIERS = frozenset({KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG})
POINTER_SIZE = 8

# Bytes after the 12-byte common header: (fixed, per vlen entry).
TRAILER = {KIND_INT: (4, 0), KIND_ARRAY: (12, 0), KIND_STRUCT: (0, 12), KIND_UNION: (0, 12),
           KIND_ENUM: (0, 8), KIND_FUNC_PROTO: (0, 8), KIND_VAR: (4, 0), KIND_DATASEC: (0, 12),
           KIND_DECL_TAG: (4, 0), KIND_ENUM64: (0, 12)}


class Member(NamedTuple):
    name: str
    type: int
    bit_offset: int
    bitfield_size: int  # 0: not a bitfield


class Enumerator(NamedTuple):
    name: str
    value: int


def essential_name(name: str) -> str:
    """A name without its CO-RE "flavor": ``task_struct___old`` -> ``task_struct``. The flavor
    starts at the last ``___`` that has a non-underscore on both sides."""
    for i in range(len(name) - 5, -1, -1):
        if name[i] != "_" and name[i + 1:i + 4] == "___" and name[i + 4] != "_":
            return name[:i + 1]
    return name


class BtfTypes:
    """Types of one raw BTF blob, by id (0 is void)."""

    def __init__(self, data: bytes, what: str):
        self.data, self.what = bytes(data), what
        if len(self.data) < HEADER_SIZE:
            raise LoaderError(f"{what}: BTF shorter than its header")
        magic = struct.unpack_from("<H", self.data)[0]
        self.bo = "<" if magic == BTF_MAGIC else ">"
        if struct.unpack_from(self.bo + "H", self.data)[0] != BTF_MAGIC:
            raise LoaderError(f"{what}: not BTF (magic {magic:#x})")
        (_, _, _, hdr_len, type_off, type_len, str_off, str_len) = struct.unpack_from(
            self.bo + "HBBIIIII", self.data)
        self.header_len = hdr_len
        self.types_start = hdr_len + type_off
        self.types_end = self.types_start + type_len
        self.strings_start = hdr_len + str_off
        self.strings_end = self.strings_start + str_len
        if self.types_end > len(self.data) or self.strings_end > len(self.data):
            raise LoaderError(f"{what}: BTF sections run past its {len(self.data)} bytes")
        self._head = struct.Struct(self.bo + "III")
        self.offsets = array("Q", [0])   # where each type's header sits; id 0 (void) has none
        self.infos = array("I", [0])
        pos, unpack, data = self.types_start, self._head.unpack_from, self.data
        while pos < self.types_end:
            _, info, _ = unpack(data, pos)
            kind = (info >> 24) & 0x1F
            self.offsets.append(pos)
            self.infos.append(info)
            fixed, each = TRAILER.get(kind, (0, 0))
            pos += 12 + fixed + each * (info & 0xFFFF)
        if pos != self.types_end:
            raise LoaderError(f"{what}: BTF type section ends inside a type")
        self._by_name: Optional[Dict[str, List[int]]] = None

    # -- one type ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.offsets)

    def check(self, type_id: int) -> None:
        if not 0 < type_id < len(self.offsets):
            raise LoaderError(f"{self.what}: BTF type id {type_id} out of range (1..{len(self.offsets) - 1})")

    def kind(self, type_id: int) -> int:
        return 0 if type_id == 0 else (self.infos[type_id] >> 24) & 0x1F

    def vlen(self, type_id: int) -> int:
        return self.infos[type_id] & 0xFFFF

    def kflag(self, type_id: int) -> bool:
        return bool(self.infos[type_id] >> 31)

    def name_off(self, type_id: int) -> int:
        return 0 if type_id == 0 else self._head.unpack_from(self.data, self.offsets[type_id])[0]

    def name(self, type_id: int) -> str:
        return self.string(self.name_off(type_id))

    def size_or_type(self, type_id: int) -> int:
        return int(self._head.unpack_from(self.data, self.offsets[type_id])[2])

    def string(self, off: int) -> str:
        start = self.strings_start + off
        if off < 0 or start >= self.strings_end:
            raise LoaderError(f"{self.what}: BTF string offset {off} out of range")
        end = self.data.index(b"\0", start, self.strings_end)
        return self.data[start:end].decode("utf-8", "surrogateescape")

    def _trailer_u32(self, type_id: int, index: int) -> int:
        return int(struct.unpack_from(self.bo + "I", self.data, self.offsets[type_id] + 12 + 4 * index)[0])

    def int_encoding(self, type_id: int) -> int:
        return self._trailer_u32(type_id, 0) >> 24

    def int_offset(self, type_id: int) -> int:
        return (self._trailer_u32(type_id, 0) >> 16) & 0xFF

    def array(self, type_id: int) -> Tuple[int, int, int]:
        """(element type, index type, nelems) of an ARRAY."""
        elem, index, nelems = struct.unpack_from(self.bo + "III", self.data, self.offsets[type_id] + 12)
        return elem, index, nelems

    def members(self, type_id: int) -> List[Member]:
        out, kflag = [], self.kflag(type_id)
        base = self.offsets[type_id] + 12
        for i in range(self.vlen(type_id)):
            name_off, mtype, offset = struct.unpack_from(self.bo + "III", self.data, base + 12 * i)
            if kflag:
                out.append(Member(self.string(name_off), mtype, offset & 0xFFFFFF, offset >> 24))
            else:
                out.append(Member(self.string(name_off), mtype, offset, 0))
        return out

    def enumerators(self, type_id: int) -> List[Enumerator]:
        base, signed = self.offsets[type_id] + 12, self.kflag(type_id)
        out = []
        if self.kind(type_id) == KIND_ENUM:
            for i in range(self.vlen(type_id)):
                name_off, value = struct.unpack_from(self.bo + ("Ii" if signed else "II"), self.data, base + 8 * i)
                out.append(Enumerator(self.string(name_off), value))
        else:
            for i in range(self.vlen(type_id)):
                name_off, lo, hi = struct.unpack_from(self.bo + "III", self.data, base + 12 * i)
                value = hi << 32 | lo
                if signed and value >> 63:
                    value -= 1 << 64
                out.append(Enumerator(self.string(name_off), value))
        return out

    def params(self, type_id: int) -> List[int]:
        """Parameter types of a FUNC_PROTO."""
        base = self.offsets[type_id] + 12
        return [struct.unpack_from(self.bo + "I", self.data, base + 8 * i + 4)[0]
                for i in range(self.vlen(type_id))]

    # -- following types -----------------------------------------------------------------------
    def skip_mods_and_typedefs(self, type_id: int) -> int:
        seen = 0
        while self.kind(type_id) in MODIFIERS:
            type_id = self.size_or_type(type_id)
            seen += 1
            if seen > 64:
                raise LoaderError(f"{self.what}: BTF modifier chain loops at type {type_id}")
        if type_id:
            self.check(type_id)
        return type_id

    def resolve_size(self, type_id: int) -> int:
        """Bytes a value of this type takes (through typedefs, modifiers, arrays); raises for
        types without a size (void, functions)."""
        nelems, start = 1, type_id
        for _ in range(64):
            self.check(type_id)
            kind = self.kind(type_id)
            if kind in (KIND_INT, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_ENUM64, KIND_DATASEC, KIND_FLOAT):
                return nelems * self.size_or_type(type_id)
            if kind == KIND_PTR:
                return nelems * POINTER_SIZE
            if kind in MODIFIERS or kind in (KIND_VAR, KIND_DECL_TAG):
                type_id = self.size_or_type(type_id)
            elif kind == KIND_ARRAY:
                elem, _, count = self.array(type_id)
                nelems *= count
                type_id = elem
            else:
                raise LoaderError(f"{self.what}: BTF type {start} ({KIND_NAMES[kind]}) has no size")
        raise LoaderError(f"{self.what}: BTF type {start}: type chain too deep")

    def ids_with_essential_name(self, name: str) -> List[int]:
        """Every named type whose essential name is ``name``, in id order."""
        if self._by_name is None:
            index: Dict[str, List[int]] = {}
            data, start, end = self.data, self.strings_start, self.strings_end
            names: Dict[int, str] = {}
            head = self._head.unpack_from
            for type_id in range(1, len(self.offsets)):
                name_off = head(data, self.offsets[type_id])[0]
                if not name_off:
                    continue
                text = names.get(name_off)
                if text is None:
                    s = start + name_off
                    text = names[name_off] = essential_name(
                        data[s:data.index(b"\0", s, end)].decode("utf-8", "surrogateescape"))
                index.setdefault(text, []).append(type_id)
            self._by_name = index
        return self._by_name.get(name, [])


@functools.lru_cache(maxsize=2)
def _read_btf(path: str, mtime_ns: int) -> BtfTypes:
    with open(path, "rb") as f:
        return BtfTypes(f.read(), path)


def kernel_types(path: str = "/sys/kernel/btf/vmlinux") -> BtfTypes:
    """The running kernel's BTF, read once per process."""
    import os
    try:
        return _read_btf(path, os.stat(path).st_mtime_ns)
    except FileNotFoundError:
        raise LoaderError(f"{path} is missing: CO-RE relocation needs the kernel's BTF "
                          "(CONFIG_DEBUG_INFO_BTF)") from None
