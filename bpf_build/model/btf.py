"""BTF: the BPF Type Format, as a list of typed records plus a string table.

Parsing and encoding round-trip byte for byte: each type keeps the string offset its name had
(``name_off``) so an untouched model re-encodes against the very same string table, while types
that are new or renamed get their names appended. Split BTF (kernel module BTF on top of vmlinux)
is a ``Btf`` with a ``base``: its type ids and string offsets continue the base's.
"""

from __future__ import annotations

import contextlib
import gc
import struct
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..errors import BtfError

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
HEADER_SIZE = 24

# Kinds (include/uapi/linux/btf.h).
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC = 9, 10, 11, 12, 13, 14, 15
FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = 16, 17, 18, 19

KIND_NAMES = {
    INT: "INT", PTR: "PTR", ARRAY: "ARRAY", STRUCT: "STRUCT", UNION: "UNION", ENUM: "ENUM",
    FWD: "FWD", TYPEDEF: "TYPEDEF", VOLATILE: "VOLATILE", CONST: "CONST", RESTRICT: "RESTRICT",
    FUNC: "FUNC", FUNC_PROTO: "FUNC_PROTO", VAR: "VAR", DATASEC: "DATASEC", FLOAT: "FLOAT",
    DECL_TAG: "DECL_TAG", TYPE_TAG: "TYPE_TAG", ENUM64: "ENUM64",
}
MAX_KIND = ENUM64

# Kinds whose single referenced type lives in the `type` field.
REF_KINDS = frozenset({PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, FUNC, VAR, DECL_TAG})
MODIFIER_KINDS = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG})
# Kinds whose header field is a size rather than a type id.
SIZED_KINDS = frozenset({INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT})

# INT encoding bits.
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4

# FUNC linkage and VAR linkage.
FUNC_STATIC, FUNC_GLOBAL, FUNC_EXTERN = 0, 1, 2
VAR_STATIC, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN = 0, 1, 2

_MAX_VLEN = 0xFFFF
# Bits of btf_type.info and of an INT's data word that no kind uses (the kernel refuses them;
# keeping them would also break byte-identical round trips).
_INFO_RESERVED = 0x60FF0000
_INT_RESERVED = 0xF000FF00


def is_identifier(name: str) -> bool:
    """A BTF identifier as the kernel checks it: ASCII letters, digits, ``_`` and ``.`` (static
    variables are named ``func.var``), not starting with a digit. (The kernel's length limit,
    KSYM_NAME_LEN, is not enforced.)"""
    return name.isascii() and name.replace(".", "_").isidentifier()


class Member:
    """A STRUCT/UNION member; ``offset`` is in bits, ``bitfield_size`` 0 unless a bitfield."""

    __slots__ = ("name", "name_off", "type", "offset", "bitfield_size")

    def __init__(self, name: str, type: int, offset: int = 0, bitfield_size: int = 0,
                 name_off: Optional[int] = None):
        self.name, self.type, self.offset, self.bitfield_size = name, type, offset, bitfield_size
        self.name_off = name_off

    def __eq__(self, other):
        return (isinstance(other, Member) and self.name == other.name and self.type == other.type
                and self.offset == other.offset and self.bitfield_size == other.bitfield_size)

    def __repr__(self):
        bf = f":{self.bitfield_size}" if self.bitfield_size else ""
        return f"Member({self.name!r}, type={self.type}, offset={self.offset}{bf})"


class EnumValue:
    __slots__ = ("name", "name_off", "value")

    def __init__(self, name: str, value: int, name_off: Optional[int] = None):
        self.name, self.value, self.name_off = name, value, name_off

    def __eq__(self, other):
        return isinstance(other, EnumValue) and (self.name, self.value) == (other.name, other.value)

    def __repr__(self):
        return f"EnumValue({self.name!r}, {self.value})"


class Param:
    __slots__ = ("name", "name_off", "type")

    def __init__(self, name: str, type: int, name_off: Optional[int] = None):
        self.name, self.type, self.name_off = name, type, name_off

    def __eq__(self, other):
        return isinstance(other, Param) and (self.name, self.type) == (other.name, other.type)

    def __repr__(self):
        return f"Param({self.name!r}, type={self.type})"


class VarSecinfo:
    """A DATASEC entry: the VAR (or FUNC for .ksyms) type id, its offset and size in the section."""

    __slots__ = ("type", "offset", "size")

    def __init__(self, type: int, offset: int, size: int):
        self.type, self.offset, self.size = type, offset, size

    def __eq__(self, other):
        return (isinstance(other, VarSecinfo)
                and (self.type, self.offset, self.size) == (other.type, other.offset, other.size))

    def __repr__(self):
        return f"VarSecinfo(type={self.type}, offset={self.offset}, size={self.size})"


class BtfType:
    """One BTF record. Which fields matter depends on ``kind``:

    - ``size``: INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT
    - ``type``: PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, FUNC (its proto), VAR,
      DECL_TAG, FUNC_PROTO (return type), ARRAY (element type)
    - ``kflag``: bitfield-style member offsets (STRUCT/UNION), union forward (FWD), signed (ENUM*),
      attribute tag (DECL_TAG/TYPE_TAG)
    - ``linkage``: FUNC (stored in vlen) and VAR
    - INT: ``int_encoding``, ``int_offset``, ``int_bits``; ARRAY: ``index_type``, ``nelems``;
      DECL_TAG: ``component_idx``; and the lists ``members``/``enums``/``params``/``secinfo``.
    """

    # Class-level defaults (no __slots__): the parser sets only the fields a kind uses, which
    # halves the cost of materialising vmlinux's ~130k records. Lists default to an empty tuple
    # so a kind without entries cannot be appended to by accident.
    type = 0
    size = 0
    kflag = False
    linkage = 0
    int_encoding = 0
    int_offset = 0
    int_bits = 0
    index_type = 0
    nelems = 0
    component_idx = -1
    members: List[Member] = ()  # type: ignore[assignment]
    enums: List[EnumValue] = ()  # type: ignore[assignment]
    params: List[Param] = ()  # type: ignore[assignment]
    secinfo: List[VarSecinfo] = ()  # type: ignore[assignment]

    def __init__(self, kind: int, name: str = "", *, type: int = 0, size: int = 0,
                 kflag: bool = False, linkage: int = 0, int_encoding: int = 0, int_offset: int = 0,
                 int_bits: int = 0, index_type: int = 0, nelems: int = 0, component_idx: int = -1,
                 members: Optional[List[Member]] = None, enums: Optional[List[EnumValue]] = None,
                 params: Optional[List[Param]] = None, secinfo: Optional[List[VarSecinfo]] = None,
                 name_off: Optional[int] = None):
        self.kind = kind
        self.name = name
        self.name_off = name_off
        self.type = type
        self.size = size
        self.kflag = kflag
        self.linkage = linkage
        self.int_encoding = int_encoding
        self.int_offset = int_offset
        self.int_bits = int_bits
        self.index_type = index_type
        self.nelems = nelems
        self.component_idx = component_idx
        self.members = members if members is not None else []
        self.enums = enums if enums is not None else []
        self.params = params if params is not None else []
        self.secinfo = secinfo if secinfo is not None else []

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, f"KIND{self.kind}")

    @property
    def vlen(self) -> int:
        k = self.kind
        if k in (STRUCT, UNION):
            return len(self.members)
        if k in (ENUM, ENUM64):
            return len(self.enums)
        if k == FUNC_PROTO:
            return len(self.params)
        if k == DATASEC:
            return len(self.secinfo)
        if k == FUNC:
            return self.linkage
        return 0

    def referenced_ids(self) -> List[int]:
        """Every type id this record points at (for remapping and validation)."""
        k = self.kind
        if k in REF_KINDS:
            return [self.type]
        if k == ARRAY:
            return [self.type, self.index_type]
        if k in (STRUCT, UNION):
            return [m.type for m in self.members]
        if k == FUNC_PROTO:
            return [self.type] + [p.type for p in self.params]
        if k == DATASEC:
            return [v.type for v in self.secinfo]
        return []

    def remap_ids(self, mapping) -> None:
        """Replace every referenced type id ``i`` by ``mapping(i)``."""
        k = self.kind
        if k in REF_KINDS:
            self.type = mapping(self.type)
        elif k == ARRAY:
            self.type = mapping(self.type)
            self.index_type = mapping(self.index_type)
        elif k in (STRUCT, UNION):
            for m in self.members:
                m.type = mapping(m.type)
        elif k == FUNC_PROTO:
            self.type = mapping(self.type)
            for p in self.params:
                p.type = mapping(p.type)
        elif k == DATASEC:
            for v in self.secinfo:
                v.type = mapping(v.type)

    def copy(self) -> "BtfType":
        t = BtfType(self.kind, self.name, type=self.type, size=self.size, kflag=self.kflag,
                    linkage=self.linkage, int_encoding=self.int_encoding,
                    int_offset=self.int_offset, int_bits=self.int_bits,
                    index_type=self.index_type, nelems=self.nelems,
                    component_idx=self.component_idx, name_off=self.name_off)
        t.members = [Member(m.name, m.type, m.offset, m.bitfield_size, m.name_off) for m in self.members]
        t.enums = [EnumValue(e.name, e.value, e.name_off) for e in self.enums]
        t.params = [Param(p.name, p.type, p.name_off) for p in self.params]
        t.secinfo = [VarSecinfo(v.type, v.offset, v.size) for v in self.secinfo]
        return t

    def key(self) -> tuple:
        """Everything that makes two records equal (names compared as text, not offsets)."""
        return (self.kind, self.name, self.type, self.size, self.kflag, self.linkage,
                self.int_encoding, self.int_offset, self.int_bits, self.index_type, self.nelems,
                self.component_idx,
                tuple((m.name, m.type, m.offset, m.bitfield_size) for m in self.members),
                tuple((e.name, e.value) for e in self.enums),
                tuple((p.name, p.type) for p in self.params),
                tuple((v.type, v.offset, v.size) for v in self.secinfo))

    def __eq__(self, other):
        return isinstance(other, BtfType) and self.key() == other.key()

    def __repr__(self):
        return f"BtfType({self.kind_name}, {self.name!r})"


class StringTable:
    """A BTF string table: NUL-separated strings addressed by byte offset, offset 0 is ''.

    Kept as the original bytes plus appended strings so an untouched table re-encodes identically.
    For split BTF, offsets continue after the base table (``start``)."""

    def __init__(self, data: bytes = b"\0", start: int = 0, base: Optional["StringTable"] = None):
        self.start = start
        self.base = base
        self._chunks: List[bytes] = [bytes(data)]
        self._size = len(data)
        self._by_off: Optional[Dict[int, str]] = None
        self._by_str: Optional[Dict[str, int]] = None

    @property
    def size(self) -> int:
        return self._size

    def data(self) -> bytes:
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0]

    def _index(self) -> Dict[int, str]:
        if self._by_off is None:
            by_off: Dict[int, str] = {}
            off = self.start
            for raw in self.data().split(b"\0")[:-1]:
                by_off[off] = raw.decode("utf-8", "surrogateescape")
                off += len(raw) + 1
            self._by_off = by_off
        return self._by_off

    def get(self, off: int) -> Optional[str]:
        """The string at ``off``; None if ``off`` is not inside the table."""
        if off < self.start:
            return self.base.get(off) if self.base is not None else ("" if off == 0 else None)
        s = self._index().get(off)
        if s is not None:
            return s
        rel = off - self.start
        if 0 <= rel < self._size:  # an offset into the middle of a string is legal BTF
            data = self.data()
            end = data.find(b"\0", rel)
            if end >= 0:
                return data[rel:end].decode("utf-8", "surrogateescape")
        return None

    def find(self, s: str) -> Optional[int]:
        if self.base is not None:
            off = self.base.find(s)
            if off is not None:
                return off
        if self._by_str is None:
            self._by_str = {}
            for off, text in self._index().items():
                self._by_str.setdefault(text, off)
        return self._by_str.get(s)

    def add(self, s: str) -> int:
        """The offset of ``s``, appending it if it is not there yet."""
        if s == "" and self.start == 0:
            return 0
        off = self.find(s)
        if off is not None:
            return off
        raw = s.encode("utf-8", "surrogateescape") + b"\0"
        off = self.start + self._size
        self._chunks.append(raw)
        self._size += len(raw)
        self._index()[off] = s
        if self._by_str is not None:
            self._by_str[s] = off
        return off


_HDR = {"<": struct.Struct("<HBBIIIII"), ">": struct.Struct(">HBBIIIII")}


class Btf:
    """Types (id 1..N, id 0 is void) and their string table; optionally split on a base."""

    def __init__(self, types: Optional[List[BtfType]] = None, strings: Optional[StringTable] = None,
                 *, byteorder: str = "little", base: Optional["Btf"] = None, flags: int = 0,
                 header_extra: bytes = b"", trailer: bytes = b""):
        self.base = base
        self.byteorder = byteorder
        self.flags = flags
        # Header words beyond the 24-byte header (newer kernels describe kind layouts there) and
        # the bytes they describe after the string section are carried through unchanged.
        self.header_extra = header_extra
        self.trailer = trailer
        if strings is None:
            strings = (StringTable(b"", start=base.strings.start + base.strings.size, base=base.strings)
                       if base is not None else StringTable())
        self.strings = strings
        self.types: List[BtfType] = types if types is not None else []
        # The file this BTF was read from: errors found later (a size that cannot be resolved)
        # name it too.
        self.path: Optional[str] = None

    # -- ids -----------------------------------------------------------------------------------
    @property
    def start_id(self) -> int:
        """The id of this BTF's first own type (1, or the base's count + 1 for split BTF)."""
        return self.base.start_id + len(self.base.types) if self.base is not None else 1

    def __len__(self) -> int:
        """Number of type ids including void and the base's types (ids are < len)."""
        return self.start_id + len(self.types)

    def get(self, type_id: int) -> Optional[BtfType]:
        """The record for ``type_id``, or None for void (0) and for an id this BTF (with its
        base) does not have."""
        start = self.start_id
        if type_id < start:
            if self.base is None or type_id <= 0:
                return None
            return self.base.get(type_id)
        index = type_id - start
        return self.types[index] if index < len(self.types) else None

    def type(self, type_id: int) -> BtfType:
        """The record for ``type_id``, which must name a type: void (0) and unknown ids raise
        KeyError. Use ``get`` where void is a legal answer."""
        t = self.get(type_id)
        if t is None:
            raise KeyError(f"BTF has no type id {type_id}" + (" (void)" if type_id == 0 else ""))
        return t

    def add(self, t: BtfType) -> int:
        self.types.append(t)
        return self.start_id + len(self.types) - 1

    def items(self) -> Iterator[Tuple[int, BtfType]]:
        """(id, type) for this BTF's own types."""
        return enumerate(self.types, self.start_id)

    def find(self, name: str, kind: Optional[int] = None) -> Optional[int]:
        for tid, t in self.items():
            if t.name == name and (kind is None or t.kind == kind):
                return tid
        if self.base is not None:
            return self.base.find(name, kind)
        return None

    # -- type helpers --------------------------------------------------------------------------
    def skip_modifiers(self, type_id: int, skip_typedef: bool = True) -> int:
        """Follow CONST/VOLATILE/RESTRICT/TYPE_TAG (and TYPEDEF) to the underlying type id."""
        seen = 0
        while type_id:
            t = self.type(type_id)
            if t.kind in (VOLATILE, CONST, RESTRICT, TYPE_TAG) or (skip_typedef and t.kind == TYPEDEF):
                type_id = t.type
                seen += 1
                if seen > 256:
                    raise BtfError(self.path, f"type [{type_id}]: modifier chain loops")
                continue
            break
        return type_id

    def resolve_size(self, type_id: int) -> int:
        """Size in bytes of a type, as the kernel's btf_resolve_size computes it."""
        nelems = 1
        depth = 0
        while True:
            depth += 1
            if depth > 1024:
                raise BtfError(self.path, f"type [{type_id}]: cannot resolve size (loop)")
            if type_id == 0:
                return 0
            t = self.type(type_id)
            if t.kind in SIZED_KINDS:
                size = nelems * t.size
                break
            if t.kind == PTR:
                size = nelems * 8
                break
            if t.kind in MODIFIER_KINDS or t.kind == VAR:
                type_id = t.type
            elif t.kind == ARRAY:
                nelems *= t.nelems
                type_id = t.type
            else:
                raise BtfError(self.path, f"type [{type_id}] {t.kind_name} '{t.name}' has no size")
        if size > 0xFFFFFFFF:  # the kernel's limit for any type (btf_array_resolve)
            raise BtfError(self.path, f"type [{type_id}] {t.kind_name} '{t.name}': size "
                                      f"{nelems} x {t.size if t.kind != PTR else 8} exceeds 32 bits")
        return size

    def copy(self) -> "Btf":
        new = Btf([t.copy() for t in self.types], None, byteorder=self.byteorder, base=self.base,
                  flags=self.flags, header_extra=self.header_extra, trailer=self.trailer)
        new.strings = StringTable(self.strings.data(), start=self.strings.start, base=self.strings.base)
        return new

    # -- (de)serialisation ---------------------------------------------------------------------
    @classmethod
    def parse(cls, data: bytes, path=None, base: Optional["Btf"] = None) -> "Btf":
        return _parse(bytes(data), path, base)

    @classmethod
    def from_file(cls, path, base: Optional["Btf"] = None) -> "Btf":
        from ..fileio import read_bytes
        return _parse(read_bytes(path, BtfError), path, base)

    def encode(self) -> bytes:
        try:
            return _encode(self)
        except struct.error as e:  # a model edited past what BTF's 32-bit fields hold
            raise BtfError(self.path, f"cannot encode BTF: a value does not fit its field ({e})") from None

    def __iter__(self):
        return iter(self.types)


# ----------------------------------------------------------------------------------------------
# Parsing

def magic_byteorder(data: bytes, path, what: str) -> Tuple[str, str]:
    """(struct prefix, byte order) from the 0xeB9F magic that .BTF and .BTF.ext share."""
    magic_le = struct.unpack_from("<H", data, 0)[0]
    if magic_le == BTF_MAGIC:
        return "<", "little"
    if magic_le == 0x9FEB:
        return ">", "big"
    raise BtfError(path, f"bad {what} magic 0x{magic_le:04x} (expected 0xeb9f)")


@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while building many acyclic objects.

    Parsing vmlinux creates ~350k records that reference no cycles; left on, the collector would
    walk the growing heap again and again (about 40% of the parse time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse(data: bytes, path, base: Optional[Btf]) -> Btf:
    with paused_gc():
        return _parse_unpaused(data, path, base)


def _parse_unpaused(data: bytes, path, base: Optional[Btf]) -> Btf:
    if len(data) < HEADER_SIZE:
        raise BtfError(path, f"BTF too short for its header ({len(data)} bytes)")
    bo, byteorder = magic_byteorder(data, path, "BTF")
    _, version, flags, hdr_len, type_off, type_len, str_off, str_len = _HDR[bo].unpack_from(data, 0)
    if version != BTF_VERSION:
        raise BtfError(path, f"unsupported BTF version {version}")
    if hdr_len < HEADER_SIZE or hdr_len > len(data):
        raise BtfError(path, f"bad BTF header length {hdr_len}")
    body = len(data) - hdr_len
    if type_off + type_len > body or str_off + str_len > body:
        raise BtfError(path, f"BTF sections exceed the data (types {type_off}+{type_len}, "
                             f"strings {str_off}+{str_len}, {body} bytes after the header)")
    if type_off % 4:
        raise BtfError(path, f"BTF type section offset {type_off} is not 4-byte aligned")
    if type_off + type_len > str_off and str_off + str_len > type_off and str_len and type_len:
        raise BtfError(path, "BTF type and string sections overlap")
    strs = data[hdr_len + str_off: hdr_len + str_off + str_len]
    if base is None:
        if str_len == 0 or strs[0] != 0:
            raise BtfError(path, "BTF string table must start with an empty string")
    if str_len and strs[-1] != 0:
        raise BtfError(path, "BTF string table is not NUL-terminated")
    if base is not None:
        strings = StringTable(strs, start=base.strings.start + base.strings.size, base=base.strings)
    else:
        strings = StringTable(strs)
    header_extra = data[HEADER_SIZE:hdr_len]
    end_of_known = max(type_off + type_len, str_off + str_len)
    trailer = data[hdr_len + end_of_known:]
    if type_off != 0 or (str_off != type_len and str_len):
        # Anything but the canonical layout (types, then strings) would not re-encode the same.
        if not header_extra:
            raise BtfError(path, f"unsupported BTF layout (types at {type_off}, strings at {str_off})")
    btf = Btf([], strings, byteorder=byteorder, base=base, flags=flags,
              header_extra=header_extra, trailer=trailer)
    btf.path = path
    btf.types = _parse_types(data, hdr_len + type_off, type_len, bo, strings, path, btf.start_id)
    validate(btf, path)
    return btf


def _parse_types(data: bytes, start: int, length: int, bo: str, strings: StringTable, path,
                 first_id: int) -> List[BtfType]:
    u32x3 = struct.Struct(bo + "III").unpack_from
    u32 = struct.Struct(bo + "I").unpack_from
    i32 = struct.Struct(bo + "i").unpack_from
    u32x2 = struct.Struct(bo + "II").unpack_from
    i32x2 = struct.Struct(bo + "Ii").unpack_from
    get = strings.get
    names = strings._index().get  # exact string starts: the common case, one dict lookup
    new_type = object.__new__
    end = start + length
    pos = start
    types: List[BtfType] = []
    tid = first_id

    def name_of(off: int, what: str) -> str:
        s = names(off)
        if s is not None:
            return s
        s = get(off)
        if s is None:
            raise BtfError(path, f"type [{tid}]: {what} name offset {off} is outside the string table")
        return s

    def need(n: int):
        if pos + n > end:
            raise BtfError(path, f"type [{tid}]: truncated BTF type data at byte {pos - start}")

    while pos < end:
        need(12)
        name_off, info, size_type = u32x3(data, pos)
        pos += 12
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kflag = bool(info >> 31)
        if kind == 0 or kind > MAX_KIND:
            raise BtfError(path, f"type [{tid}]: unknown BTF kind {kind}")
        if info & _INFO_RESERVED:
            raise BtfError(path, f"type [{tid}] {KIND_NAMES[kind]}: reserved info bits set "
                                 f"(info 0x{info:08x})")
        n = names(name_off)
        t = new_type(BtfType)
        t.kind = kind
        t.name = n if n is not None else name_of(name_off, "type")
        t.name_off = name_off
        if kflag:
            t.kflag = True
        if kind in SIZED_KINDS:
            t.size = size_type
        elif kind == ARRAY:
            if size_type:
                raise BtfError(path, f"type [{tid}] ARRAY: size/type field must be 0, found {size_type}")
        else:
            t.type = size_type
        if kind == INT:
            need(4)
            (v,) = u32(data, pos)
            pos += 4
            if v & _INT_RESERVED:
                raise BtfError(path, f"type [{tid}] INT: reserved bits set in its data 0x{v:08x}")
            t.int_encoding = (v >> 24) & 0x0F
            t.int_offset = (v >> 16) & 0xFF
            t.int_bits = v & 0xFF
        elif kind == ARRAY:
            need(12)
            t.type, t.index_type, t.nelems = u32x3(data, pos)
            pos += 12
        elif kind in (STRUCT, UNION):
            need(12 * vlen)
            members = t.members = []
            for _ in range(vlen):
                m_name, m_type, m_off = u32x3(data, pos)
                pos += 12
                n = names(m_name)
                if n is None:
                    n = name_of(m_name, "member")
                if kflag:
                    members.append(Member(n, m_type, m_off & 0xFFFFFF, m_off >> 24, m_name))
                else:
                    members.append(Member(n, m_type, m_off, 0, m_name))
        elif kind == ENUM:
            need(8 * vlen)
            t.enums = []
            unpack = i32x2 if kflag else u32x2
            for _ in range(vlen):
                e_name, e_val = unpack(data, pos)
                pos += 8
                t.enums.append(EnumValue(name_of(e_name, "enumerator"), e_val, e_name))
        elif kind == ENUM64:
            need(12 * vlen)
            t.enums = []
            for _ in range(vlen):
                e_name, lo, hi = u32x3(data, pos)
                pos += 12
                v = (hi << 32) | lo
                if kflag and v >= 1 << 63:
                    v -= 1 << 64
                t.enums.append(EnumValue(name_of(e_name, "enumerator"), v, e_name))
        elif kind == FUNC_PROTO:
            need(8 * vlen)
            params = t.params = []
            for _ in range(vlen):
                p_name, p_type = u32x2(data, pos)
                pos += 8
                n = names(p_name)
                params.append(Param(n if n is not None else name_of(p_name, "parameter"), p_type, p_name))
        elif kind == VAR:
            need(4)
            (t.linkage,) = u32(data, pos)
            pos += 4
        elif kind == DATASEC:
            need(12 * vlen)
            t.secinfo = []
            for _ in range(vlen):
                t.secinfo.append(VarSecinfo(*u32x3(data, pos)))
                pos += 12
        elif kind == DECL_TAG:
            need(4)
            (t.component_idx,) = i32(data, pos)
            pos += 4
        elif kind == FUNC:
            t.linkage = vlen
        if kind not in (STRUCT, UNION, ENUM, ENUM64, FUNC_PROTO, DATASEC, FUNC) and vlen:
            raise BtfError(path, f"type [{tid}] {KIND_NAMES[kind]}: vlen must be 0, found {vlen}")
        types.append(t)
        tid += 1
    return types


# Which kinds may set kind_flag, and the sizes INT, ENUM/ENUM64 and FLOAT may have.
_KFLAG_KINDS = frozenset({STRUCT, UNION, FWD, ENUM, ENUM64, DECL_TAG, TYPE_TAG})
_INT_SIZES = frozenset({1, 2, 4, 8, 16})
_ENUM_SIZES = frozenset({1, 2, 4, 8})
_FLOAT_SIZES = frozenset({2, 4, 8, 12, 16})
# Kinds that are not the type of a value, directly or behind typedefs and qualifiers: a VAR,
# member or array element cannot have them (the kernel's btf_type_nosize: no size to lay out).
_NOT_VALUE_KINDS = frozenset({FWD, FUNC, FUNC_PROTO, VAR, DATASEC, DECL_TAG})
_SEE_THROUGH = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG})


def validate(btf: Btf, path=None) -> None:
    """Check the rules the kernel's btf_check_* and libbpf's btf_validate apply, once, at read
    time; raise BtfError naming the type and the rule it breaks.

    Rules: referenced type ids exist; each kind has the name it must have (none, an identifier,
    printable text), members, parameters and enumerators identifiers; kind_flag only where a
    kind defines it; INT size/encoding/bit ranges, ENUM and FLOAT sizes; member bit offsets
    inside their struct (unions: at 0); FUNC/VAR linkage, FUNC pointing at a FUNC_PROTO, VAR and
    array elements at a value type; void only as the last parameter (varargs); DATASEC entries
    naming a VAR or FUNC and, once the section is laid out (size > 0), sorted, not overlapping
    and inside it; DECL_TAG targets and components; no reference loop (_check_loops).
    ``path`` defaults to the file the BTF was read from.

    This runs on every parse (vmlinux: ~300k records), hence the branches by kind frequency and
    the inline identifier test (str.isidentifier), whose rare misses (dots) go to is_identifier."""
    path = path if path is not None else btf.path
    limit = len(btf)
    start = btf.start_id
    own = btf.types
    kinds = [t.kind for t in own]

    def kind_of(ref: int) -> int:
        if ref >= start:
            return kinds[ref - start]
        t = btf.get(ref)
        return t.kind if t is not None else 0

    seen_through: Dict[int, int] = {}

    def value_kind(ref: int) -> int:
        """The kind behind typedefs and qualifiers (0 for void; a loop is _check_loops' to
        report, so a long chain ends the walk)."""
        k = kind_of(ref)
        if k not in _SEE_THROUGH:
            return k
        found = seen_through.get(ref)
        if found is None:
            r = ref
            for _ in range(64):
                t = btf.get(r)
                if t is None or t.kind not in _SEE_THROUGH or t.type >= limit:
                    break
                r = t.type
            found = seen_through[ref] = kind_of(r) if r < limit else 0
        return found

    # Own ids of types without a size (directly or behind typedefs and qualifiers), for the
    # per-member test to be one set lookup.
    sizeless = {tid for tid, k in enumerate(kinds, start)
                if k in _NOT_VALUE_KINDS or (k in _SEE_THROUGH and value_kind(tid) in _NOT_VALUE_KINDS)}

    def fail(tid: int, t: BtfType, rule: str):
        raise BtfError(path, f"type [{tid}] {t.kind_name} {t.name!r}: {rule}")

    def check_ref(tid: int, t: BtfType, ref: int, what: str):
        if ref >= limit:
            fail(tid, t, f"{what} refers to type id {ref}, but only {limit - 1} types exist")

    forward = []  # types referring to a higher id: where reference loops can start
    for tid, t in enumerate(own, start):
        k = t.kind
        name = t.name
        if t.kflag and k not in _KFLAG_KINDS:
            fail(tid, t, "kind_flag must be 0 for this kind")
        if k == FUNC:
            ref = t.type
            if not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                fail(tid, t, "name is not a valid identifier")
            if ref >= limit or (kinds[ref - start] if ref >= start else kind_of(ref)) != FUNC_PROTO:
                fail(tid, t, f"type [{ref}] must be a FUNC_PROTO")
            if t.linkage > FUNC_EXTERN:
                fail(tid, t, f"unknown linkage {t.linkage}")
            if ref > tid:
                forward.append(tid)
        elif k == FUNC_PROTO:
            if name:
                fail(tid, t, "this kind must not have a name")
            check_ref(tid, t, t.type, "return type")
            top = t.type
            params = t.params
            for i, p in enumerate(params):
                ref = p.type
                if ref > top:
                    top = ref
                if p.name and not (p.name.isidentifier() and p.name.isascii()) and not is_identifier(p.name):
                    fail(tid, t, f"parameter {i} name {p.name!r} is not a valid identifier")
                if not ref and (p.name or i != len(params) - 1):
                    fail(tid, t, f"parameter {i} is void (only an unnamed last parameter may be: varargs)")
            check_ref(tid, t, top, "a parameter")
            if top > tid:
                forward.append(tid)
        elif k == STRUCT or k == UNION:
            if name and not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                fail(tid, t, "name is not a valid identifier")
            size_bits = t.size * 8
            top = 0
            for m in t.members:
                ref = m.type
                if ref > top:
                    top = ref
                elif not ref:
                    fail(tid, t, f"member {m.name!r} has type void")
                if ref in sizeless or (ref < start and value_kind(ref) in _NOT_VALUE_KINDS):
                    fail(tid, t, f"member {m.name!r} has type [{ref}], which has no size")
                if m.offset + m.bitfield_size > size_bits:
                    fail(tid, t, f"member {m.name!r} at bit {m.offset} lies outside the {t.size}-byte type")
                if m.offset and k == UNION:
                    fail(tid, t, f"union member {m.name!r} at bit {m.offset}, not 0")
                if m.name and not (m.name.isidentifier() and m.name.isascii()) and not is_identifier(m.name):
                    fail(tid, t, f"member name {m.name!r} is not a valid identifier")
            check_ref(tid, t, top, "a member")
            if top > tid:
                forward.append(tid)
        elif k in REF_KINDS:
            ref = t.type
            check_ref(tid, t, ref, "it")
            if ref > tid:
                forward.append(tid)
            if k == TYPEDEF:
                if not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                    fail(tid, t, "name is not a valid identifier")
            elif k == VAR:
                if not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                    fail(tid, t, "name is not a valid identifier")
                if t.linkage > VAR_GLOBAL_EXTERN:
                    fail(tid, t, f"unknown linkage {t.linkage}")
                if ref == 0 or value_kind(ref) in _NOT_VALUE_KINDS:
                    fail(tid, t, f"type [{ref}] is not the type of a variable")
            elif k == DECL_TAG or k == TYPE_TAG:
                if not name or not name.isprintable():
                    fail(tid, t, "name must be non-empty printable text")
                if k == DECL_TAG:
                    _check_decl_tag(btf, tid, t, kind_of, fail)
            elif name:
                fail(tid, t, "this kind must not have a name")
        elif k == ARRAY:
            if name:
                fail(tid, t, "this kind must not have a name")
            check_ref(tid, t, max(t.type, t.index_type), "it")
            if t.type == 0 or value_kind(t.type) in _NOT_VALUE_KINDS:
                fail(tid, t, f"element type [{t.type}] is not a value type")
            if t.type > tid:
                forward.append(tid)
        elif k == ENUM or k == ENUM64:
            if name and not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                fail(tid, t, "name is not a valid identifier")
            if t.size not in _ENUM_SIZES:
                fail(tid, t, f"size {t.size} is not 1, 2, 4 or 8")
            for e in t.enums:
                if not (e.name.isidentifier() and e.name.isascii()) and not is_identifier(e.name):
                    fail(tid, t, f"enumerator name {e.name!r} is not a valid identifier")
        elif k == FWD:
            if not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                fail(tid, t, "name is not a valid identifier")
        elif k == INT:
            bits, off = t.int_bits, t.int_offset
            if not name.isprintable():
                fail(tid, t, "name must be printable text")
            if t.size not in _INT_SIZES:
                fail(tid, t, f"size {t.size} is not 1, 2, 4, 8 or 16")
            if t.int_encoding not in _INT_ENC:
                fail(tid, t, f"unknown encoding 0x{t.int_encoding:x}")
            if off + bits > 128 or off + bits > t.size * 8:
                fail(tid, t, f"{bits} bits at offset {off} do not fit in {t.size} bytes")
        elif k == DATASEC:
            if not name or not name.isprintable():
                fail(tid, t, "name must be non-empty printable text")
            _check_datasec(btf, t, tid, limit, kind_of, fail)
            if any(v.type > tid for v in t.secinfo):
                forward.append(tid)
        elif k == FLOAT:
            if not name.isprintable():
                fail(tid, t, "name must be printable text")
            if t.size not in _FLOAT_SIZES:
                fail(tid, t, f"size {t.size} is not 2, 4, 8, 12 or 16")
    if forward:
        _check_loops(btf, path, forward)


def _check_datasec(btf: Btf, t: BtfType, tid: int, limit: int, kind_of, fail) -> None:
    for v in t.secinfo:
        if not 0 < v.type < limit or kind_of(v.type) not in (VAR, FUNC):
            fail(tid, t, f"entry type [{v.type}] is not a VAR or FUNC")
    problem = datasec_layout_problem(t, btf)
    if problem:
        fail(tid, t, problem)


def datasec_layout_problem(t: BtfType, btf: "Btf") -> Optional[str]:
    """Why the entries of a laid-out DATASEC overlap or leave the section, or None.

    Clang leaves sizes and offsets of an object's sections at 0 for libbpf to fill in: the rules
    apply once the section is laid out (size > 0), to the entries with storage (an extern
    declaration has none: libbpf drops it before loading). Linked objects may list entries out
    of offset order (libbpf sorts them when loading), so they are compared sorted."""
    if not t.size:
        return None
    stored = [v for v in t.secinfo if not _is_extern(btf.get(v.type))]
    end = 0
    for v in sorted(stored, key=lambda v: (v.offset, v.size)):
        if v.offset < end:
            return f"entry [{v.type}] at offset {v.offset} overlaps another"
        end = v.offset + v.size
        if end > t.size:
            return f"entry [{v.type}] ({v.size} bytes at {v.offset}) exceeds the {t.size}-byte section"
    return None


def _is_extern(t: Optional[BtfType]) -> bool:
    return t is not None and ((t.kind == VAR and t.linkage == VAR_GLOBAL_EXTERN)
                              or (t.kind == FUNC and t.linkage == FUNC_EXTERN))


def _check_decl_tag(btf: Btf, tid: int, t: BtfType, kind_of, fail) -> None:
    target_kind = kind_of(t.type) if t.type else 0
    if target_kind not in (STRUCT, UNION, VAR, FUNC, TYPEDEF):
        fail(tid, t, f"target [{t.type}] is not a STRUCT, UNION, VAR, FUNC or TYPEDEF")
    idx = t.component_idx
    if idx < -1:
        fail(tid, t, f"component index {idx} is below -1")
    if idx >= 0:
        target = btf.get(t.type)
        if target_kind == FUNC:
            proto = btf.get(target.type)
            count = len(proto.params) if proto is not None else 0
        elif target_kind in (STRUCT, UNION):
            count = len(target.members)
        else:
            count = 0
        if idx >= count:
            fail(tid, t, f"component index {idx} is not a member or parameter of [{t.type}]")


# The two searches of _check_loops: references not followed, and what a cycle found lacks. A
# cycle through a function prototype but no pointer needs a function-typed member or parameter,
# which has no size: walkers stop there, so the first search need not enter prototypes.
_LOOP_PASSES = ((frozenset({PTR, FUNC, FUNC_PROTO}), "without a pointer"),
                (frozenset({STRUCT, UNION}), "without a struct or union"))


def _check_loops(btf: Btf, path, roots: List[int]) -> None:
    """Every reference cycle must pass through a PTR and a STRUCT/UNION (``struct A { struct
    A *next; }``). A cycle without a pointer is a type containing itself; one without a struct
    is a pointer or modifier loop (``const * const * ...``): both have no size and no C
    spelling, and walking them never ends.

    A cycle contains at least one reference to a higher type id; ids refer mostly backwards,
    so the depth-first searches start only at ``roots``, the types with such a reference, and
    finish every type once. Base types never refer to split types: no cycle leaves this BTF."""
    start = btf.start_id
    own = btf.types
    n = len(own)
    for cut_kinds, rule in _LOOP_PASSES:
        state = bytearray(n)  # 0 new, 1 on the current path, 2 finished
        for root in roots:
            root -= start
            if state[root] or own[root].kind in cut_kinds:
                continue
            stack = [(root, iter(_own_refs(own[root], cut_kinds, start, n)))]
            state[root] = 1
            while stack:
                node, refs = stack[-1]
                for ref in refs:
                    st = state[ref]
                    if st == 1:
                        t = own[ref]
                        raise BtfError(path, f"type [{ref + start}] {t.kind_name} {t.name!r}: "
                                             f"refers back to itself {rule} (reference loop)")
                    if st == 0:
                        state[ref] = 1
                        stack.append((ref, iter(_own_refs(own[ref], cut_kinds, start, n))))
                        break
                else:
                    state[node] = 2
                    stack.pop()


def _own_refs(t: BtfType, cut_kinds, start: int, n: int) -> List[int]:
    """Indexes (id - start) of the own types ``t`` refers to; none from a kind in ``cut_kinds``."""
    if t.kind in cut_kinds:
        return []
    return [r - start for r in t.referenced_ids() if start <= r < start + n]


# ----------------------------------------------------------------------------------------------
# Encoding

def _encode(btf: Btf) -> bytes:
    bo = "<" if btf.byteorder == "little" else ">"
    strings = btf.strings
    add = strings.add
    get = strings.get

    at_offset = strings._index().get  # exact string starts (untouched names hit this)

    def off_of(name: str, name_off: Optional[int]) -> int:
        if name_off is not None and (at_offset(name_off) == name or get(name_off) == name):
            return name_off
        return add(name)

    pack3 = struct.Struct(bo + "III").pack
    pack1 = struct.Struct(bo + "I").pack
    pack1s = struct.Struct(bo + "i").pack
    pack2 = struct.Struct(bo + "II").pack
    pack2s = struct.Struct(bo + "Ii").pack
    out: List[bytes] = []
    append = out.append
    for tid, t in btf.items():
        k = t.kind
        vlen = (len(t.members) if k == STRUCT or k == UNION else len(t.params) if k == FUNC_PROTO
                else t.vlen)
        if vlen > _MAX_VLEN:
            raise BtfError(None, f"type [{tid}] {t.kind_name} '{t.name}': {vlen} entries exceed BTF's limit")
        info = (int(t.kflag) << 31) | (k << 24) | vlen
        n = t.name_off
        if n is None or at_offset(n) != t.name:
            n = off_of(t.name, n)
        append(pack3(n, info,
                     t.size if k in SIZED_KINDS else (0 if k == ARRAY else t.type)))
        if k == INT:
            append(pack1((t.int_encoding << 24) | (t.int_offset << 16) | t.int_bits))
        elif k == ARRAY:
            append(pack3(t.type, t.index_type, t.nelems))
        elif k in (STRUCT, UNION):
            kflag = t.kflag
            for m in t.members:
                n = m.name_off
                if n is None or at_offset(n) != m.name:
                    n = off_of(m.name, n)
                append(pack3(n, m.type, (m.bitfield_size << 24) | m.offset if kflag else m.offset))
        elif k == ENUM:
            for e in t.enums:
                n = off_of(e.name, e.name_off)
                append(pack2s(n, e.value) if t.kflag and e.value < 0 else pack2(n, e.value & 0xFFFFFFFF))
        elif k == ENUM64:
            for e in t.enums:
                v = e.value & 0xFFFFFFFFFFFFFFFF
                append(pack3(off_of(e.name, e.name_off), v & 0xFFFFFFFF, v >> 32))
        elif k == FUNC_PROTO:
            for p in t.params:
                n = p.name_off
                if n is None or at_offset(n) != p.name:
                    n = off_of(p.name, n)
                append(pack2(n, p.type))
        elif k == VAR:
            append(pack1(t.linkage))
        elif k == DATASEC:
            for v in t.secinfo:
                append(pack3(v.type, v.offset, v.size))
        elif k == DECL_TAG:
            append(pack1s(t.component_idx))
    type_data = b"".join(out)
    str_data = strings.data()
    hdr_len = HEADER_SIZE + len(btf.header_extra)
    header = _HDR[bo].pack(BTF_MAGIC, BTF_VERSION, btf.flags, hdr_len, 0, len(type_data),
                           len(type_data), len(str_data))
    return header + btf.header_extra + type_data + str_data + btf.trailer


# ----------------------------------------------------------------------------------------------
# Text form (bpftool's "format raw" style), one type per line plus indented entries.

_INT_ENC = {0: "(none)", INT_SIGNED: "SIGNED", INT_CHAR: "CHAR", INT_BOOL: "BOOL"}
_FUNC_LINKAGE = {FUNC_STATIC: "static", FUNC_GLOBAL: "global", FUNC_EXTERN: "extern"}
_VAR_LINKAGE = {VAR_STATIC: "static", VAR_GLOBAL_ALLOCATED: "global", VAR_GLOBAL_EXTERN: "extern"}


def _q(name: str) -> str:
    return f"'{name or '(anon)'}'"


def format_type(btf: "Btf", tid: int, t: BtfType) -> List[str]:
    k = t.kind
    head = f"[{tid}] {t.kind_name} {_q(t.name)}"
    if k == INT:
        return [f"{head} size={t.size} bits_offset={t.int_offset} nr_bits={t.int_bits} "
                f"encoding={_INT_ENC.get(t.int_encoding, hex(t.int_encoding))}"]
    if k in (PTR, TYPEDEF, VOLATILE, CONST, RESTRICT):
        return [f"{head} type_id={t.type}"]
    if k == TYPE_TAG:
        return [f"{head} type_id={t.type}" + (" kflag=1" if t.kflag else "")]
    if k == ARRAY:
        return [f"{head} type_id={t.type} index_type_id={t.index_type} nr_elems={t.nelems}"]
    if k in (STRUCT, UNION):
        lines = [f"{head} size={t.size} vlen={len(t.members)}"]
        for m in t.members:
            bf = f" bitfield_size={m.bitfield_size}" if m.bitfield_size else ""
            lines.append(f"\t{_q(m.name)} type_id={m.type} bits_offset={m.offset}{bf}")
        return lines
    if k in (ENUM, ENUM64):
        enc = "SIGNED" if t.kflag else "UNSIGNED"
        suffix = ("LL" if t.kflag else "ULL") if k == ENUM64 else ""
        return [f"{head} encoding={enc} size={t.size} vlen={len(t.enums)}"] + \
               [f"\t{_q(e.name)} val={e.value}{suffix}" for e in t.enums]
    if k == FWD:
        return [f"{head} fwd_kind={'union' if t.kflag else 'struct'}"]
    if k == FUNC:
        return [f"{head} type_id={t.type} linkage={_FUNC_LINKAGE.get(t.linkage, t.linkage)}"]
    if k == FUNC_PROTO:
        return [f"{head} ret_type_id={t.type} vlen={len(t.params)}"] + \
               [f"\t{_q(p.name)} type_id={p.type}" for p in t.params]
    if k == VAR:
        return [f"{head} type_id={t.type}, linkage={_VAR_LINKAGE.get(t.linkage, t.linkage)}"]
    if k == DATASEC:
        return [f"{head} size={t.size} vlen={len(t.secinfo)}"] + \
               [f"\ttype_id={v.type} offset={v.offset} size={v.size}{_secinfo_note(btf, v.type)}"
                for v in t.secinfo]
    if k == FLOAT:
        return [f"{head} size={t.size}"]
    if k == DECL_TAG:
        return [f"{head} type_id={t.type} component_idx={t.component_idx}" + (" kflag=1" if t.kflag else "")]
    return [head]


def _secinfo_note(btf: "Btf", type_id: int) -> str:
    t = btf.get(type_id)
    return f" ({t.kind_name} {_q(t.name)})" if t is not None else ""


def dump_raw(btf: Btf) -> str:
    lines: List[str] = []
    for tid, t in btf.items():
        lines.extend(format_type(btf, tid, t))
    return "\n".join(lines) + ("\n" if lines else "")


def kind_counts(btf: Btf) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    for t in btf.types:
        counts[t.kind_name] = counts.get(t.kind_name, 0) + 1
    return dict(sorted(counts.items()))


def load_vmlinux(path: str = "/sys/kernel/btf/vmlinux") -> Btf:
    return Btf.from_file(path)
