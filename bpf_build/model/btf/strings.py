"""The string table of BTF: names by offset, and appending new names."""

from __future__ import annotations

from itertools import accumulate
from typing import Dict, List, Optional


class StringTable:
    """A BTF string table: NUL-separated strings addressed by byte offset, offset 0 is ''.

    Kept as the original bytes plus appended strings so an untouched table re-encodes identically.
    For split BTF, offsets continue after the base table (``start``)."""

    def __init__(self, data: bytes = b"\0", start: int = 0, base: Optional[StringTable] = None):
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

    def starts(self) -> Dict[int, str]:
        """The strings by the offset they start at (built once). The parser and the encoder look
        names up here first: an exact start is the common case and one dict lookup."""
        if self._by_off is None:
            # In bulk: split, then each string's offset is the running sum of lengths + 1. An
            # ASCII table (the usual) is decoded once; character and byte lengths agree there.
            data = self.data()
            texts: List[str]
            if data.isascii():
                texts = data.decode("ascii").split("\0")
                texts.pop()  # what follows the last NUL (nothing, in a well-formed table)
                lengths = map(len, texts)
            else:
                raw = data.split(b"\0")
                raw.pop()
                lengths = map(len, raw)
                texts = [r.decode("utf-8", "surrogateescape") for r in raw]
            self._by_off = dict(zip(accumulate(map((1).__add__, lengths), initial=self.start), texts))
        return self._by_off

    def get(self, off: int) -> Optional[str]:
        """The string at ``off``; None if ``off`` is not inside the table."""
        if off < self.start:
            return self.base.get(off) if self.base is not None else ("" if off == 0 else None)
        s = self.starts().get(off)
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
            for off, text in self.starts().items():
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
        self.starts()[off] = s
        if self._by_str is not None:
            self._by_str[s] = off
        return off
