"""BTF records: ``BtfType`` (one type) and the entries it lists (struct members, enumerators,
function parameters, DATASEC entries).

Each name keeps the string offset it was read at (``name_off``) so an untouched record
re-encodes against the very same string table; records compare by their names as text.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Generic, List, Optional, Tuple, TypeVar, cast, overload

from .kinds import ARRAY, DATASEC, ENUM, ENUM64, FUNC, FUNC_PROTO, KIND_NAMES, REF_KINDS, STRUCT, UNION

T = TypeVar("T")


class Member:
    """A STRUCT/UNION member; ``offset`` is in bits, ``bitfield_size`` 0 unless a bitfield."""

    __slots__ = ("name", "name_off", "type", "offset", "bitfield_size")

    def __init__(self, name: str, type: int, offset: int = 0, bitfield_size: int = 0,
                 name_off: Optional[int] = None):
        # One assignment a field: a tuple packed and unpacked costs the parser's ~100k members
        # of a link (or vmlinux) a few ms.
        self.name = name
        self.type = type
        self.offset = offset
        self.bitfield_size = bitfield_size
        self.name_off = name_off

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Member) and self.name == other.name and self.type == other.type
                and self.offset == other.offset and self.bitfield_size == other.bitfield_size)

    def __repr__(self) -> str:
        bf = f":{self.bitfield_size}" if self.bitfield_size else ""
        return f"Member({self.name!r}, type={self.type}, offset={self.offset}{bf})"


class EnumValue:
    __slots__ = ("name", "name_off", "value")

    def __init__(self, name: str, value: int, name_off: Optional[int] = None):
        self.name = name
        self.value = value
        self.name_off = name_off

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumValue) and (self.name, self.value) == (other.name, other.value)

    def __repr__(self) -> str:
        return f"EnumValue({self.name!r}, {self.value})"


class Param:
    __slots__ = ("name", "name_off", "type")

    def __init__(self, name: str, type: int, name_off: Optional[int] = None):
        self.name = name
        self.type = type
        self.name_off = name_off

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Param) and (self.name, self.type) == (other.name, other.type)

    def __repr__(self) -> str:
        return f"Param({self.name!r}, type={self.type})"


class VarSecinfo:
    """A DATASEC entry: the VAR (or FUNC for .ksyms) type id, its offset and size in the section."""

    __slots__ = ("type", "offset", "size")

    def __init__(self, type: int, offset: int, size: int):
        self.type = type
        self.offset = offset
        self.size = size

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, VarSecinfo)
                and (self.type, self.offset, self.size) == (other.type, other.offset, other.size))

    def __repr__(self) -> str:
        return f"VarSecinfo(type={self.type}, offset={self.offset}, size={self.size})"


class _RareField(Generic[T]):
    """A BtfType field kept in its ``rare`` dict, ``default`` where unset (a data descriptor,
    like a property, that mypy types)."""

    __slots__ = ("field", "default")

    def __init__(self, field: str, default: T):
        self.field, self.default = field, default

    @overload
    def __get__(self, obj: None, owner: Any) -> _RareField[T]: ...
    @overload
    def __get__(self, obj: BtfType, owner: Any) -> T: ...

    def __get__(self, obj: Optional[BtfType], owner: Any) -> Any:
        if obj is None:
            return self
        rare = obj.rare
        return self.default if rare is None else rare.get(self.field, self.default)

    def __set__(self, obj: BtfType, value: T) -> None:
        rare = obj.rare
        if rare is None:
            obj.rare = {self.field: value}
        else:
            rare[self.field] = value


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

    # Slots only: the fields most records use are slots, which every record sets (the parser
    # too, after object.__new__); the few only INT, ARRAY, DECL_TAG and DATASEC use are
    # descriptors over ``rare``, a dict of the ones set (None for the ~97% of vmlinux's records
    # without). A record is one 120-byte object; with an instance dict it was ~190 bytes (3.11
    # allocates the dict's values for every field name with the object). ``secinfo`` reads as an
    # empty tuple where unset so a kind without entries cannot be appended to by accident.
    __slots__ = ("kind", "name", "name_off", "type", "size", "kflag", "linkage", "members", "enums",
                 "params", "rare")
    kind: int
    name: str
    name_off: Optional[int]
    type: int
    size: int
    kflag: bool
    linkage: int
    members: List[Member]
    enums: List[EnumValue]
    params: List[Param]
    rare: Optional[Dict[str, Any]]
    int_encoding = _RareField("int_encoding", 0)
    int_offset = _RareField("int_offset", 0)
    int_bits = _RareField("int_bits", 0)
    index_type = _RareField("index_type", 0)
    nelems = _RareField("nelems", 0)
    component_idx = _RareField("component_idx", -1)
    secinfo = _RareField("secinfo", cast(List[VarSecinfo], ()))

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
        self.members = members if members is not None else []
        self.enums = enums if enums is not None else []
        self.params = params if params is not None else []
        self.rare = None
        # The rare fields only when they differ from their default: most records have none.
        if int_encoding or int_offset or int_bits:
            self.int_encoding, self.int_offset, self.int_bits = int_encoding, int_offset, int_bits
        if index_type or nelems:
            self.index_type, self.nelems = index_type, nelems
        if component_idx != -1:
            self.component_idx = component_idx
        if secinfo is not None or kind == DATASEC:
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

    def remap_ids(self, mapping: Callable[[int], int]) -> None:
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

    def copy(self) -> BtfType:
        t = BtfType(self.kind, self.name, type=self.type, size=self.size, kflag=self.kflag,
                    linkage=self.linkage, name_off=self.name_off)
        t.members = [Member(m.name, m.type, m.offset, m.bitfield_size, m.name_off) for m in self.members]
        t.enums = [EnumValue(e.name, e.value, e.name_off) for e in self.enums]
        t.params = [Param(p.name, p.type, p.name_off) for p in self.params]
        rare = self.rare
        if rare is not None:
            t.rare = dict(rare)
            secinfo = rare.get("secinfo")
            if secinfo is not None:
                t.secinfo = [VarSecinfo(v.type, v.offset, v.size) for v in secinfo]
        return t

    def key(self) -> Tuple[object, ...]:
        """Everything that makes two records equal (names compared as text, not offsets)."""
        return (self.kind, self.name, self.type, self.size, self.kflag, self.linkage,
                self.int_encoding, self.int_offset, self.int_bits, self.index_type, self.nelems,
                self.component_idx,
                tuple((m.name, m.type, m.offset, m.bitfield_size) for m in self.members),
                tuple((e.name, e.value) for e in self.enums),
                tuple((p.name, p.type) for p in self.params),
                tuple((v.type, v.offset, v.size) for v in self.secinfo))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BtfType) and self.key() == other.key()

    def __repr__(self) -> str:
        return f"BtfType({self.kind_name}, {self.name!r})"
