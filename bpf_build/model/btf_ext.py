""".BTF.ext: per-section func_info, line_info and CO-RE relocation records.

Records keep the record size found in the file; bytes past the fields we know are carried in
``tail`` so that newer, longer records round-trip unchanged. String offsets (section names, file
names, source lines, CO-RE access strings) point into the .BTF string table; ``insn_off`` is in
bytes from the start of the section, as clang emits it.
"""

from __future__ import annotations

import struct
from typing import Callable, ClassVar, Dict, List, Optional, Tuple, Type, Union

from ..errors import BtfError, PathLike
from .btf import StringTable, magic_byteorder

BTF_EXT_MAGIC = 0xEB9F

# CO-RE relocation kinds (libbpf's enum bpf_core_relo_kind).
CORE_RELO_KINDS: Dict[int, str] = {
    0: "field_byte_offset", 1: "field_byte_size", 2: "field_exists", 3: "field_signed",
    4: "field_lshift_u64", 5: "field_rshift_u64", 6: "local_type_id", 7: "target_type_id",
    8: "type_exists", 9: "type_size", 10: "enumval_exists", 11: "enumval_value",
    12: "type_matches",
}


class FuncInfo:
    __slots__ = ("insn_off", "type_id", "tail")
    FIELDS: ClassVar[int] = 2  # the u32 fields before ``tail``

    def __init__(self, insn_off: int, type_id: int, tail: bytes = b""):
        self.insn_off, self.type_id, self.tail = insn_off, type_id, tail

    def values(self) -> Tuple[int, ...]:
        return (self.insn_off, self.type_id)

    def __eq__(self, o: object) -> bool:
        return type(o) is FuncInfo and self.values() == o.values() and self.tail == o.tail

    def __repr__(self) -> str:
        return f"FuncInfo(insn_off={self.insn_off}, type_id={self.type_id})"


class LineInfo:
    __slots__ = ("insn_off", "file_name_off", "line_off", "line_col", "tail")
    FIELDS: ClassVar[int] = 4  # the u32 fields before ``tail``

    def __init__(self, insn_off: int, file_name_off: int, line_off: int, line_col: int, tail: bytes = b""):
        self.insn_off, self.file_name_off, self.line_off, self.line_col = insn_off, file_name_off, line_off, line_col
        self.tail = tail

    @property
    def line(self) -> int:
        return self.line_col >> 10

    @property
    def column(self) -> int:
        return self.line_col & 0x3FF

    def values(self) -> Tuple[int, ...]:
        return (self.insn_off, self.file_name_off, self.line_off, self.line_col)

    def __eq__(self, o: object) -> bool:
        return type(o) is LineInfo and self.values() == o.values() and self.tail == o.tail

    def __repr__(self) -> str:
        return f"LineInfo(insn_off={self.insn_off}, line={self.line})"


class CoreRelo:
    __slots__ = ("insn_off", "type_id", "access_str_off", "kind", "tail")
    FIELDS: ClassVar[int] = 4  # the u32 fields before ``tail``

    def __init__(self, insn_off: int, type_id: int, access_str_off: int, kind: int, tail: bytes = b""):
        self.insn_off, self.type_id, self.access_str_off, self.kind = insn_off, type_id, access_str_off, kind
        self.tail = tail

    def values(self) -> Tuple[int, ...]:
        return (self.insn_off, self.type_id, self.access_str_off, self.kind)

    def __eq__(self, o: object) -> bool:
        return type(o) is CoreRelo and self.values() == o.values() and self.tail == o.tail

    def __repr__(self) -> str:
        return (f"CoreRelo(insn_off={self.insn_off}, type_id={self.type_id}, "
                f"kind={CORE_RELO_KINDS.get(self.kind, self.kind)})")


# A record of any of the three tables.
ExtRecord = Union[FuncInfo, LineInfo, CoreRelo]


class ExtSection:
    """The records of one ELF section: ``name`` resolved from ``name_off`` in .BTF's strings."""

    __slots__ = ("name", "name_off", "records")

    def __init__(self, name: str, records: List[ExtRecord], name_off: Optional[int] = None):
        self.name, self.records, self.name_off = name, records, name_off

    def __repr__(self) -> str:
        return f"ExtSection({self.name!r}, {len(self.records)} records)"


class ExtInfo:
    """One of the three record tables: a record size and the sections."""

    def __init__(self, record_cls: Type[ExtRecord], rec_size: int, sections: Optional[List[ExtSection]] = None):
        self.record_cls = record_cls
        self.rec_size = rec_size
        self.sections: List[ExtSection] = sections if sections is not None else []

    def section(self, name: str) -> Optional[ExtSection]:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def __len__(self) -> int:
        return sum(len(s.records) for s in self.sections)


class BtfExt:
    def __init__(self, *, byteorder: str = "little", flags: int = 0, hdr_len: int = 32,
                 func_info: Optional[ExtInfo] = None, line_info: Optional[ExtInfo] = None,
                 core_relo: Optional[ExtInfo] = None, header_extra: bytes = b""):
        self.byteorder = byteorder
        self.flags = flags
        self.hdr_len = hdr_len
        self.header_extra = header_extra
        # An empty ExtInfo is falsy (it has __len__); only a missing one gets the default.
        self.func_info = func_info if func_info is not None else ExtInfo(FuncInfo, 8)
        self.line_info = line_info if line_info is not None else ExtInfo(LineInfo, 16)
        self.core_relo = core_relo if core_relo is not None else ExtInfo(CoreRelo, 16)

    def tables(self) -> Tuple[ExtInfo, ExtInfo, ExtInfo]:
        """func_info, line_info, core_relo: in the order of the header's fields."""
        return (self.func_info, self.line_info, self.core_relo)

    @classmethod
    def parse(cls, data: bytes, strings: StringTable, path: PathLike = None) -> BtfExt:
        """``strings`` is the owning .BTF's StringTable (section names are resolved through it)."""
        return _parse(bytes(data), strings, path)

    def encode(self, strings: StringTable) -> bytes:
        return _encode(self, strings)


_KNOWN_HDR = 24  # magic..line_info_len
# The size of each kind of record as clang writes it (the fields FIELDS counts).
_MIN_RECORD_SIZE: Dict[Type[ExtRecord], int] = {FuncInfo: 8, LineInfo: 16, CoreRelo: 16}


def _parse(data: bytes, strings: StringTable, path: PathLike) -> BtfExt:
    if len(data) < 8:
        raise BtfError(path, f".BTF.ext too short for its header ({len(data)} bytes)")
    bo, byteorder = magic_byteorder(data, path, ".BTF.ext")
    _, version, flags, hdr_len = struct.unpack_from(bo + "HBBI", data, 0)
    if version != 1:
        raise BtfError(path, f"unsupported .BTF.ext version {version}")
    if hdr_len < _KNOWN_HDR or hdr_len > len(data) or hdr_len % 4:
        raise BtfError(path, f"bad .BTF.ext header length {hdr_len}")
    words = struct.unpack_from(bo + f"{(hdr_len - 8) // 4}I", data, 8)
    ext = BtfExt(byteorder=byteorder, flags=flags, hdr_len=hdr_len,
                 header_extra=data[min(hdr_len, 32):hdr_len] if hdr_len > 32 else b"")
    specs: List[Tuple[str, Type[ExtRecord], int]] = [("func_info", FuncInfo, 8), ("line_info", LineInfo, 16)]
    if hdr_len >= 32:
        specs.append(("core_relo", CoreRelo, 16))
    for i, (attr, rcls, min_size) in enumerate(specs):
        off, length = words[2 * i], words[2 * i + 1]
        if length == 0:
            setattr(ext, attr, ExtInfo(rcls, min_size))
            ext_info_empty = getattr(ext, attr)
            ext_info_empty.rec_size = 0  # absent table: encode writes nothing
            continue
        start = hdr_len + off
        if start + length > len(data):
            raise BtfError(path, f".BTF.ext {attr} ({off}+{length}) exceeds the section ({len(data)} bytes)")
        setattr(ext, attr, _parse_info(data, start, length, bo, rcls, min_size, strings, path, attr))
    return ext


def _parse_info(data: bytes, start: int, length: int, bo: str, rcls: Type[ExtRecord], min_size: int,
                strings: StringTable, path: PathLike, what: str) -> ExtInfo:
    end = start + length
    if length < 4:
        raise BtfError(path, f".BTF.ext {what}: truncated")
    (rec_size,) = struct.unpack_from(bo + "I", data, start)
    if rec_size < min_size or rec_size % 4:
        raise BtfError(path, f".BTF.ext {what}: bad record size {rec_size} (at least {min_size})")
    info = ExtInfo(rcls, rec_size)
    pos = start + 4
    fields = struct.Struct(bo + f"{rcls.FIELDS}I")
    # Each record class takes its FIELDS numbers, then the tail: one call for the three.
    make_record: Callable[..., ExtRecord] = rcls
    known = fields.size
    while pos < end:
        if pos + 8 > end:
            raise BtfError(path, f".BTF.ext {what}: truncated section header")
        sec_name_off, num = struct.unpack_from(bo + "II", data, pos)
        pos += 8
        name = strings.get(sec_name_off)
        if name is None:
            raise BtfError(path, f".BTF.ext {what}: section name offset {sec_name_off} is outside the string table")
        if num == 0:
            raise BtfError(path, f".BTF.ext {what}: section '{name}' has no records")
        if pos + num * rec_size > end:
            raise BtfError(path, f".BTF.ext {what}: section '{name}' records exceed the table")
        records: List[ExtRecord] = []
        for _ in range(num):
            vals = fields.unpack_from(data, pos)
            tail = data[pos + known: pos + rec_size] if rec_size > known else b""
            records.append(make_record(*vals, tail=tail))
            pos += rec_size
        info.sections.append(ExtSection(name, records, sec_name_off))
    return info


def _encode(ext: BtfExt, strings: StringTable) -> bytes:
    bo = "<" if ext.byteorder == "little" else ">"
    blobs: List[bytes] = []
    for info in ext.tables()[: 3 if ext.hdr_len >= 32 else 2]:
        if not info.sections and info.rec_size == 0:
            blobs.append(b"")
            continue
        rec_size = info.rec_size or _MIN_RECORD_SIZE[info.record_cls]
        fields = struct.Struct(bo + f"{info.record_cls.FIELDS}I")
        out = [struct.pack(bo + "I", rec_size)]
        for sec in info.sections:
            name_off = sec.name_off if sec.name_off is not None and strings.get(sec.name_off) == sec.name \
                else strings.add(sec.name)
            out.append(struct.pack(bo + "II", name_off, len(sec.records)))
            pad = rec_size - fields.size
            for r in sec.records:
                tail = r.tail if len(r.tail) == pad else (r.tail + bytes(pad))[:pad]
                out.append(fields.pack(*r.values()) + tail)
        blobs.append(b"".join(out))
    words: List[int] = []
    off = 0
    for b in blobs:
        words += [off, len(b)]
        off += len(b)
    header = struct.pack(bo + "HBBI", BTF_EXT_MAGIC, 1, ext.flags, ext.hdr_len)
    header += struct.pack(bo + f"{len(words)}I", *words)
    header += ext.header_extra
    if len(header) != ext.hdr_len:
        raise BtfError(None, f".BTF.ext header length {ext.hdr_len} does not match its fields")
    return header + b"".join(blobs)
