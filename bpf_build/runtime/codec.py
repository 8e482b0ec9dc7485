"""Converting Python values to the bytes a map key or value holds, and back.

A codec is chosen per map side from a *type*:

- a ctypes type (``ctypes.c_uint32``, a generated Structure...): values are instances of it;
  simple ctypes scalars come back as plain ints/floats;
- ``int``: an unsigned native-endian integer as wide as the map side;
- ``None``: raw ``bytes`` of exactly the map side's size.

Inputs are accepted liberally (an int for a c_uint32 key, bytes for a struct value); outputs have
one type per codec so callers can rely on it. An integer the map side cannot hold raises
OverflowError naming the map, the side, its type and the value (ctypes would truncate it).
"""

from __future__ import annotations

import ctypes
import sys
from typing import TYPE_CHECKING, Any, List, Optional, Sequence, Type, Union

if TYPE_CHECKING:
    from .syscall import CData, CType

from .records import check_int, check_range, type_label

_CTYPES_BASES = (ctypes.Structure, ctypes.Union, ctypes.Array, ctypes._SimpleCData)
# What encoded bytes arrive as: a ctypes buffer's .raw, or a slice of a per-CPU value.
Encoded = Union[bytes, bytearray, memoryview]


def round_up(n: int, to: int) -> int:
    return (n + to - 1) // to * to


class Codec:
    def __init__(self, size: int, type_: Any = None, what: str = "value", owner: str = "map") -> None:
        self.size = size
        self.type = type_
        self.what = what
        self.owner = owner  # "map 'counts'": named in errors
        ctype = type_ if isinstance(type_, type) and issubclass(type_, _CTYPES_BASES) else None
        self._ctype: Optional[CType] = ctype
        # simple scalars (c_uint32...) are read back as their .value, a plain int or float
        self._scalar: Optional[Type[ctypes._SimpleCData[Any]]] = (
            ctype if ctype is not None and issubclass(ctype, ctypes._SimpleCData) else None)
        if self._ctype is not None and ctypes.sizeof(self._ctype) != size:
            raise TypeError(f"{what} type {self._ctype.__name__} is {ctypes.sizeof(self._ctype)} bytes, "
                            f"the map's {what} is {size} bytes")
        if type_ is not None and type_ is not int and self._ctype is None:
            raise TypeError(f"{what} type must be a ctypes type, int or None, not {type_!r}")

    def to_bytes(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            raw = bytes(value)
        elif isinstance(value, int) and not self._ctype:
            # an untyped map side is an unsigned integer as wide as the side
            check_range(value, 0, (1 << (8 * self.size)) - 1, f"u{8 * self.size}", self._label())
            raw = value.to_bytes(self.size, sys.byteorder)
        elif self._ctype is not None and isinstance(value, self._ctype):
            raw = bytes(value)
        elif self._scalar is not None:
            check_int(self._scalar, value, self._label())
            raw = bytes(self._scalar(value))
        elif isinstance(value, _CTYPES_BASES):
            raw = bytes(value)
        else:
            raise TypeError(f"cannot use {type(value).__name__} as a map {self.what} ({self.size} bytes)")
        if len(raw) != self.size:
            raise ValueError(f"map {self.what} must be {self.size} bytes, got {len(raw)}")
        return raw

    def _label(self) -> str:
        return f"{self.owner}: {self.what} of type {type_label(self.type)}"

    def buffer(self, value: Any) -> CData:
        """A ctypes object holding the encoded value, suitable for passing its address."""
        if self._ctype is not None and isinstance(value, self._ctype) and self._scalar is None:
            return value
        raw = self.to_bytes(value)
        return ctypes.create_string_buffer(raw, self.size)

    def from_bytes(self, raw: Encoded) -> Any:
        if self._scalar is not None:
            return self._scalar.from_buffer_copy(raw).value
        if self._ctype is not None:
            return self._ctype.from_buffer_copy(raw)
        if self.type is int:
            return int.from_bytes(raw, sys.byteorder)
        return bytes(raw)


class PerCpuCodec:
    """Per-CPU values: the kernel lays one 8-byte-aligned slot per possible CPU; Python sees a list."""

    def __init__(self, element: Codec, ncpus: int) -> None:
        self.element = element
        self.ncpus = ncpus
        self.stride = round_up(element.size, 8)
        self.size = self.stride * ncpus

    def to_bytes(self, values: Sequence[Any]) -> bytes:
        if isinstance(values, (bytes, bytearray, str)) or not hasattr(values, "__len__"):
            raise TypeError(f"a per-CPU value is a sequence of {self.ncpus} values (one per possible CPU)")
        if len(values) != self.ncpus:
            raise ValueError(f"a per-CPU value needs {self.ncpus} entries (possible CPUs), got {len(values)}")
        pad = b"\0" * (self.stride - self.element.size)
        return b"".join(self.element.to_bytes(v) + pad for v in values)

    def buffer(self, values: Sequence[Any]) -> ctypes.Array[ctypes.c_char]:
        return ctypes.create_string_buffer(self.to_bytes(values), self.size)

    def from_bytes(self, raw: Encoded) -> List[Any]:
        view = memoryview(raw)
        n = self.element.size
        return [self.element.from_bytes(view[i:i + n]) for i in range(0, self.size, self.stride)]


def make_value_codec(size: int, type_: Any, percpu_count: Optional[int],
                     owner: str = "map") -> Union[Codec, PerCpuCodec]:
    element = Codec(size, type_, "value", owner)
    return PerCpuCodec(element, percpu_count) if percpu_count else element
