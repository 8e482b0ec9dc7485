"""BTF's numbers (include/uapi/linux/btf.h): the type kinds, INT encodings, FUNC and VAR
linkage, and the kind sets the parser, validator and writers branch on.

``Kind``, ``IntEncoding``, ``FuncLinkage`` and ``VarLinkage`` are IntEnums for readable reprs
(``<Kind.STRUCT: 4>``). The module-level names (``B.STRUCT``, ``B.FUNC_GLOBAL``, ...) are the
members, except the kinds: those are plain ints (see below).
"""

from __future__ import annotations

import struct
from typing import Dict

from ..ints import IntText

BTF_MAGIC = 0xEB9F
BTF_VERSION = 1
HEADER_SIZE = 24
# The header: magic, version, flags, hdr_len, type_off, type_len, str_off, str_len; by byte order.
HEADER = {"<": struct.Struct("<HBBIIIII"), ">": struct.Struct(">HBBIIIII")}


class Kind(IntText):
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


# The kinds as plain ints: the names the code compares against. The records hold a kind as
# read, an int; ``Kind(t.kind)`` (or ``t.kind_name``) names it. Members would read better in
# every comparison, but CPython compares exact ints faster: with members, deduplicating and
# encoding vmlinux took 3-5% longer.
(INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FUNC_PROTO, VAR, DATASEC,
 FLOAT, DECL_TAG, TYPE_TAG, ENUM64) = (int(k) for k in Kind)

MAX_KIND = int(max(Kind))
KIND_NAMES: Dict[int, str] = {int(k): k.name for k in Kind}

# Kinds whose single referenced type lives in the `type` field.
REF_KINDS = frozenset({PTR, TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, FUNC, VAR, DECL_TAG})
MODIFIER_KINDS = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG})
# Kinds whose header field is a size rather than a type id.
SIZED_KINDS = frozenset({INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT})
# Kinds whose records refer to no other type.
NO_REF_KINDS = frozenset({INT, ENUM, ENUM64, FWD, FLOAT})


class IntEncoding(IntText):
    """The bits of an INT's encoding."""

    SIGNED = 1
    CHAR = 2
    BOOL = 4


INT_SIGNED, INT_CHAR, INT_BOOL = IntEncoding.SIGNED, IntEncoding.CHAR, IntEncoding.BOOL


class FuncLinkage(IntText):
    STATIC = 0
    GLOBAL = 1
    EXTERN = 2


class VarLinkage(IntText):
    STATIC = 0
    GLOBAL_ALLOCATED = 1
    GLOBAL_EXTERN = 2


FUNC_STATIC, FUNC_GLOBAL, FUNC_EXTERN = FuncLinkage.STATIC, FuncLinkage.GLOBAL, FuncLinkage.EXTERN
VAR_STATIC, VAR_GLOBAL_ALLOCATED, VAR_GLOBAL_EXTERN = (
    VarLinkage.STATIC, VarLinkage.GLOBAL_ALLOCATED, VarLinkage.GLOBAL_EXTERN)

MAX_VLEN = 0xFFFF
# Bits of btf_type.info and of an INT's data word that no kind uses (the kernel refuses them;
# keeping them would also break byte-identical round trips).
INFO_RESERVED = 0x60FF0000
INT_RESERVED = 0xF000FF00


def is_identifier(name: str) -> bool:
    """A BTF identifier as the kernel checks it: ASCII letters, digits, ``_`` and ``.`` (static
    variables are named ``func.var``), not starting with a digit. (The kernel's length limit,
    KSYM_NAME_LEN, is not enforced.)"""
    return name.isascii() and name.replace(".", "_").isidentifier()
