"""ctypes records that refuse silent truncation, and helpers for C ``char[]`` fields.

ctypes stores an integer into a field or a scalar by cutting it to the field's width: a u64
global set to ``2**70 + 3`` reads back 3, ``-1`` in a u32 key becomes 4294967295. Every integer
the runtime writes for the caller (map keys and values, global variables, event fields, bitfields)
goes through ``check_int`` first, which raises ``OverflowError`` naming what was written, its C
type and the value. Generated skeletons derive their structs and unions from ``Structure`` and
``Union`` below, so the same rule holds for ``skel.bss.counter = ...`` and ``Event(pid=...)``.

C strings: ctypes reads a ``char[N]`` field as bytes cut at the first NUL. ``raw(obj, "comm")``
returns all N bytes, ``text(obj, "comm")`` the string up to the NUL, decoded.
"""

from __future__ import annotations

import ctypes
from typing import Any, Dict, Optional, Tuple, Type

# ctypes simple-type codes of integers: lower case signed, upper case unsigned ('?' is bool).
_SIGNED_CODES = frozenset("bhilq")
_UNSIGNED_CODES = frozenset("BHILQ")


def int_range(ctype: Any) -> Optional[Tuple[int, int]]:
    """(lowest, highest) value of a ctypes integer type; None for anything else."""
    code = getattr(ctype, "_type_", None)
    if not isinstance(code, str):
        return None
    bits = 8 * ctypes.sizeof(ctype)
    if code in _SIGNED_CODES:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if code in _UNSIGNED_CODES:
        return 0, (1 << bits) - 1
    return None


def type_label(ctype: Any) -> str:
    """How errors name a type: ``u32``/``s16`` for integers (ctypes' own names are platform
    aliases such as c_ulong), the class name otherwise."""
    bounds = int_range(ctype)
    if bounds is None:
        return getattr(ctype, "__name__", "bytes")
    return f"{'s' if bounds[0] else 'u'}{8 * ctypes.sizeof(ctype)}"


def check_range(value: int, low: int, high: int, type_name: str, what: str) -> None:
    if not low <= value <= high:
        raise OverflowError(f"{what}: {value} does not fit {type_name} ({low}..{high})")


def check_int(ctype: Any, value: Any, what: str) -> None:
    """Raise OverflowError when ``value`` is an int that ``ctype`` would truncate."""
    if isinstance(value, bool) or not isinstance(value, int):
        return
    bounds = int_range(ctype)
    if bounds is not None:
        check_range(value, bounds[0], bounds[1], type_label(ctype), what)


_FIELD_TYPES: Dict[type, Dict[str, Any]] = {}


def _field_types(cls: type) -> Dict[str, Any]:
    """Field name -> ctypes type of a struct/union class (its own and its bases' fields)."""
    cached = _FIELD_TYPES.get(cls)
    if cached is None:
        cached = _FIELD_TYPES[cls] = {}
        for klass in reversed(cls.__mro__):
            for field in klass.__dict__.get("_fields_", ()):
                cached[field[0]] = field[1]
    return cached


def _checked_setattr(self: object, name: str, value: Any, base: Type[object]) -> None:
    ctype = _field_types(type(self)).get(name)
    if ctype is not None:
        check_int(ctype, value, f"{type(self).__name__}.{name}")
    base.__setattr__(self, name, value)


class Structure(ctypes.Structure):
    """Base of generated structs: integer fields refuse values they cannot hold."""

    def __setattr__(self, name: str, value: Any) -> None:
        _checked_setattr(self, name, value, ctypes.Structure)


class Union(ctypes.Union):
    """Base of generated unions: integer fields refuse values they cannot hold."""

    def __setattr__(self, name: str, value: Any) -> None:
        _checked_setattr(self, name, value, ctypes.Union)


def raw(record: Any, field: str) -> bytes:
    """All bytes of a ``char[N]`` field (ctypes stops at the first NUL)."""
    ctype = _field_types(type(record)).get(field)
    if ctype is None:
        raise AttributeError(f"{type(record).__name__} has no field '{field}'")
    offset = getattr(type(record), field).offset
    return bytes(record)[offset:offset + ctypes.sizeof(ctype)]


def text(record: Any, field: str, encoding: str = "utf-8", errors: str = "replace") -> str:
    """A ``char[N]`` field as a string: up to the first NUL, decoded."""
    return raw(record, field).split(b"\0", 1)[0].decode(encoding, errors)
