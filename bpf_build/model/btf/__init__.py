"""BTF: the BPF Type Format, as a list of typed records plus a string table.

Parsing and encoding round-trip byte for byte: each type keeps the string offset its name had
(``name_off``) so an untouched model re-encodes against the very same string table, while types
that are new or renamed get their names appended. Split BTF (kernel module BTF on top of vmlinux)
is a ``Btf`` with a ``base``: its type ids and string offsets continue the base's.

The package, one job a module: ``kinds`` (the format's numbers), ``records`` (``BtfType`` and
its entries), ``strings`` (``StringTable``), ``container`` (``Btf``), ``parse``, ``validate``,
``encode``, ``text`` (bpftool's raw dump) and ``words`` (BTF read as words: framing and lookups
without records, which the parser, the validator, the dump and the C writer share). Every name
is importable from here.
"""

from __future__ import annotations

from .container import Btf
from .encode import encode_btf
from .kinds import (ARRAY, BTF_MAGIC, BTF_VERSION, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC,
    FUNC_EXTERN, FUNC_GLOBAL, FUNC_PROTO, FUNC_STATIC, FWD, HEADER_SIZE, INT, INT_BOOL, INT_CHAR, INT_SIGNED,
    KIND_NAMES, MAX_KIND, MODIFIER_KINDS, PTR, REF_KINDS, RESTRICT, SIZED_KINDS, STRUCT, TYPE_TAG, TYPEDEF,
    UNION, VAR, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN, VAR_STATIC, VOLATILE, FuncLinkage, IntEncoding, Kind,
    VarLinkage, is_identifier)
from .parse import magic_byteorder, parse_btf
from .records import BtfType, EnumValue, Member, Param, VarSecinfo
from .strings import StringTable
from .text import dump_raw, dump_words, kind_counts
from .validate import datasec_layout_problem, validate
from .words import TypeWords, read_words

__all__ = [
    "ARRAY", "BTF_MAGIC", "BTF_VERSION", "CONST", "DATASEC", "DECL_TAG", "ENUM", "ENUM64", "FLOAT",
    "FUNC", "FUNC_EXTERN", "FUNC_GLOBAL", "FUNC_PROTO", "FUNC_STATIC", "FWD", "HEADER_SIZE", "INT",
    "INT_BOOL", "INT_CHAR", "INT_SIGNED", "KIND_NAMES", "MAX_KIND", "MODIFIER_KINDS", "PTR",
    "REF_KINDS", "RESTRICT", "SIZED_KINDS", "STRUCT", "TYPE_TAG", "TYPEDEF", "UNION", "VAR",
    "VAR_GLOBAL_ALLOCATED", "VAR_GLOBAL_EXTERN", "VAR_STATIC", "VOLATILE",
    "Btf", "BtfType", "EnumValue", "FuncLinkage", "IntEncoding", "Kind", "Member", "Param",
    "StringTable", "VarLinkage", "VarSecinfo",
    "TypeWords", "datasec_layout_problem", "dump_raw", "dump_words", "encode_btf", "is_identifier",
    "kind_counts", "load_vmlinux", "magic_byteorder", "parse_btf", "read_words", "validate",
]


def load_vmlinux(path: str = "/sys/kernel/btf/vmlinux") -> Btf:
    """The running kernel's BTF."""
    return Btf.from_file(path)
