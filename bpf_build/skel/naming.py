"""The one place that decides how a name from an object reaches generated skeleton text.

An object is input: its map, program, variable, section and BTF names may hold anything a string
table can (newlines, quotes, ``*/``, ``\"\"\"``, bytes that are not UTF-8). Every renderer
(:mod:`.c`, :mod:`.light_c`, :mod:`.python`) puts a name into its output only through this module:

- as an **identifier** (a struct field, a Python attribute or class): the name must be an ASCII C
  identifier, or the skeleton is refused with one error naming the object file, the entity and the
  name (its ``repr``). C skeletons also refuse C keywords (no C source can produce them); C++
  keywords (``new``, ``class``) stay, as bpftool keeps them: such a header compiles as C only. Python
  skeletons rename instead of refusing what is valid C but not usable in Python: keywords get a
  trailing ``_`` (the runtime's :func:`~bpf_build.runtime.skeleton.attribute_name`, so both sides
  agree), and class names never start with ``__`` (Python would mangle them inside class bodies);
- as a **string literal**: through the language's quoting (:func:`c_string_literal`, ``repr``);
- in a Python **comment or docstring**: through :func:`doc_text`, which leaves plain names as they
  are and escapes everything else so that no comment or docstring can be closed early. (The C
  kinds put no name from the object into a comment.)
"""

from __future__ import annotations

import keyword
import os
import re
from typing import Optional

from ..btf.c import C_KEYWORDS, IDENTIFIER, sanitize_identifier
from ..errors import SkeletonError
from ..runtime.skeleton import attribute_name

__all__ = ["c_identifier", "c_skeleton_name", "c_string_literal", "default_skeleton_name", "doc_text",
           "is_identifier", "is_mangled_in_class", "python_attribute", "python_class_name",
           "python_enum_member", "python_skeleton_name", "check_object_names", "datasec_ident"]

# Keywords of C++ (and C23 words C++ has too) that are not C89-C17 keywords: a skeleton name is
# also a C++ struct name (both C headers compile as C++).
_CXX_KEYWORDS = frozenset(
    "alignas alignof and and_eq asm bitand bitor bool catch char8_t char16_t char32_t class compl "
    "concept const_cast consteval constexpr constinit co_await co_return co_yield decltype delete "
    "dynamic_cast explicit export false friend mutable namespace new noexcept not not_eq nullptr "
    "operator or or_eq private protected public reinterpret_cast requires static_assert static_cast "
    "template this thread_local throw true try typeid typename using virtual wchar_t xor xor_eq".split())

# Characters a comment or docstring shows as they are; anything else is escaped (doc_text).
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_.,:;/+=@%<>()\[\]{}|~^$!?&' -]*\Z")


def is_identifier(name: str) -> bool:
    """An ASCII C identifier (Python accepts more, but normalises non-ASCII names: not ours)."""
    return isinstance(name, str) and IDENTIFIER.match(name) is not None


def _refuse(path, entity: str, name: str, why: str) -> SkeletonError:
    return SkeletonError(path, f"{entity} name {name!r} {why}")


def c_identifier(path, entity: str, name: str) -> str:
    """``name`` for use as a C identifier, or a SkeletonError naming the entity and the name."""
    if not is_identifier(name):
        raise _refuse(path, entity, name, "is not a valid C identifier")
    if name in C_KEYWORDS:
        raise _refuse(path, entity, name, "is a C keyword")
    return name


def c_skeleton_name(path, name: str) -> str:
    """The name of a C or light C skeleton: a C identifier that is no C++ keyword either."""
    c_identifier(path, "skeleton", name)
    if name in _CXX_KEYWORDS:
        raise _refuse(path, "skeleton", name, "is a C++ keyword")
    return name


def python_attribute(path, entity: str, name: str) -> str:
    """The Python attribute for a C name from the object (keywords get a trailing ``_``)."""
    if not is_identifier(name):
        raise _refuse(path, entity, name, "is not a valid identifier")
    return attribute_name(name)


def is_mangled_in_class(name: str) -> bool:
    """Python rewrites ``__x`` (not ``__x__``) written inside a class body to ``_Class__x``."""
    return name.startswith("__") and not name.endswith("__")


def python_class_name(name: str) -> str:
    """A module-level class name for an identifier: keywords get a trailing ``_``; a leading
    ``__`` becomes ``_`` so that other class bodies can refer to the class."""
    name = attribute_name(name)
    if is_mangled_in_class(name):
        name = "_" + name.lstrip("_")
    return name


def python_skeleton_name(path, name: str) -> str:
    """The class name of a Python skeleton called ``name`` (refused unless an identifier)."""
    if not is_identifier(name):
        raise _refuse(path, "skeleton", name, "is not a valid identifier")
    return python_class_name(name)


def python_enum_member(name: str) -> str:
    """An enum member name Python's enum module keeps: ``_sunder_`` and ``__dunder__`` names and
    ``mro`` are reserved or dropped by it, so they get a trailing ``_`` (after keywords did)."""
    name = attribute_name(name)
    if name == "mro" or (len(name) > 2 and name[0] == name[-1] == "_"):
        name += "_"
    return name


def check_object_names(opened, path) -> None:
    """Map and program names become skeleton fields and attributes in every kind: each must be
    an identifier. (Global-data maps are named after their section, already sanitised.)"""
    for m in opened.maps:
        if m.ident:
            python_attribute(path, "map", m.ident)
    for p in opened.programs:
        python_attribute(path, "program", p.name)


_DATASEC_PREFIXES = (".data", ".rodata", ".bss", ".kconfig")
_ARENA_SECTION = ".addr_space.1"


def datasec_ident(section_name: str) -> Optional[str]:
    """bpftool's field name for a global-data section (``.data.foo`` -> ``data_foo``), or None
    for sections a skeleton does not expose. Always an identifier: a prefix, then ``_`` for
    every character that is not a letter, digit or ``_``."""
    if section_name == _ARENA_SECTION:
        return "arena"
    if section_name.startswith(_DATASEC_PREFIXES):
        return sanitize_identifier(section_name[1:])
    return None


def default_skeleton_name(object_path: str) -> str:
    """bpftool's rule: the file name without its ``.o``, non-identifier characters as ``_``
    (``x.bpf.o`` gives ``x_bpf``). Unlike bpftool, a name that would be a C, C++ or Python
    keyword (``int.o``, ``class.o``) gets a trailing ``_`` so that every kind of skeleton builds."""
    base = os.path.basename(object_path)
    if base.endswith(".o"):
        base = base[:-2]
    name = sanitize_identifier(base)
    if not name or name[0].isdigit():
        name = "_" + name
    if name in C_KEYWORDS or name in _CXX_KEYWORDS or keyword.iskeyword(name) or name in ("None", "True", "False"):
        name += "_"
    return name


def c_string_literal(text: str) -> str:
    """``text`` as a C string literal (quotes included) that means exactly its bytes: printable
    ASCII as is except ``\\``, ``"`` and ``?`` (trigraphs), every other byte as a 3-digit octal
    escape (names that were not UTF-8 keep their original bytes)."""
    out = ['"']
    for byte in text.encode("utf-8", "surrogateescape"):
        ch = chr(byte)
        if ch in '\\"?':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")
    out.append('"')
    return "".join(out)


def doc_text(text: str) -> str:
    """``text`` for a Python comment or docstring: plain text as is, anything else as Python's
    ``ascii()`` of it with ``"`` escaped: one ASCII line that cannot end the comment or the
    docstring, and that a docstring reads back as the quoted original."""
    if _PLAIN_TEXT.match(text):
        return text
    return ascii(text).replace('"', '\\"')
