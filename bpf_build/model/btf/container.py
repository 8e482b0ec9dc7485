"""``Btf``: the types of one BTF blob (ids 1..N, 0 is void) with their string table, optionally
split on a base BTF (kernel module BTF on top of vmlinux), and the lookups every user needs.

Reading and writing live in parse.py and encode.py; ``Btf.parse``/``from_file``/``encode`` are
their entry points, imported when called because those modules build and read ``Btf`` too.
"""

from __future__ import annotations

import os
import struct
from typing import Iterator, List, Optional, Tuple, Union

from ...errors import BtfError, PathLike
from .kinds import ARRAY, CONST, MODIFIER_KINDS, PTR, RESTRICT, SIZED_KINDS, TYPE_TAG, TYPEDEF, VAR, VOLATILE
from .records import BtfType
from .strings import StringTable

class Btf:
    """Types (id 1..N, id 0 is void) and their string table; optionally split on a base."""

    def __init__(self, types: Optional[List[BtfType]] = None, strings: Optional[StringTable] = None,
                 *, byteorder: str = "little", base: Optional[Btf] = None, flags: int = 0,
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
        self.strings: StringTable = strings
        self.types: List[BtfType] = types if types is not None else []
        # The file this BTF was read from: errors found later (a size that cannot be resolved)
        # name it too.
        self.path: PathLike = None

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

    def copy(self) -> Btf:
        new = Btf([t.copy() for t in self.types], None, byteorder=self.byteorder, base=self.base,
                  flags=self.flags, header_extra=self.header_extra, trailer=self.trailer)
        new.strings = StringTable(self.strings.data(), start=self.strings.start, base=self.strings.base)
        return new

    # -- (de)serialisation ---------------------------------------------------------------------
    @classmethod
    def parse(cls, data: bytes, path: PathLike = None, base: Optional[Btf] = None, *,
              check_rules: bool = True) -> Btf:
        """``check_rules=False``: only for bytes this program wrote (see ``parse_btf``)."""
        from .parse import parse_btf
        return parse_btf(bytes(data), path, base, check_rules=check_rules)

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike[str]], base: Optional[Btf] = None) -> Btf:
        from ...fileio import read_bytes
        from .parse import parse_btf
        return parse_btf(read_bytes(path, BtfError), path, base)

    def encode(self) -> bytes:
        from .encode import encode_btf
        try:
            return encode_btf(self)
        except struct.error as e:  # a model edited past what BTF's 32-bit fields hold
            raise BtfError(self.path, f"cannot encode BTF: a value does not fit its field ({e})") from None

    def __iter__(self) -> Iterator[BtfType]:
        return iter(self.types)
