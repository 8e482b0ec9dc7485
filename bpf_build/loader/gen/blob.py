"""The loader's data blob: where each thing the loader needs sits, and the fd table at its start.

The blob is a small *head* (fd table, attrs, names, keys, scratch), addressed by the loader as
r8 + offset with 16-bit offsets, followed by a *tail* (BTF, program instructions, func/line info,
CO-RE records, global-data values) only ever addressed through pointers. Things are added in the
order the planner meets them; offsets are final once ``finish()`` has put the two together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


def c_bytes(text: str) -> bytes:
    """Names as the object spelled them (bytes that are not UTF-8 round-trip unchanged)."""
    return text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class BlobRef:
    """Where one added item sits: in the head or the tail, at ``off`` within it."""

    in_tail: bool
    off: int
    size: int


class Blob:
    def __init__(self) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.head_size: Optional[int] = None  # known once finished

    def add(self, data: bytes, tail: bool = False, align: int = 8) -> BlobRef:
        buf = self.tail if tail else self.head
        buf += bytes((-len(buf)) % align)
        ref = BlobRef(tail, len(buf), len(data))
        buf += data
        return ref

    def off(self, ref: BlobRef) -> int:
        """The offset of ``ref`` in the finished blob."""
        if not ref.in_tail:
            return ref.off
        if self.head_size is None:
            raise RuntimeError("the blob's tail has no offsets before finish()")
        return self.head_size + ref.off

    def finish(self) -> bytes:
        self.head += bytes((-len(self.head)) % 8)
        self.head_size = len(self.head)
        out = bytes(self.head) + bytes(self.tail)
        return out + bytes((-len(out)) % 8)


@dataclass
class FdTable:
    """The fds the loader creates, one 4-byte slot each at the start of the blob: map fds (which
    is also the ``fd_array`` every program load gets), program fds, the BTF fd, the inner-map fd
    (only if a map has one); then one slot per kfunc use for its module BTF fd. The clean-up on
    error closes every *owned* slot (all but the kfunc ones, which are closed after each load)."""

    nr_maps: int
    nr_progs: int
    has_inner: bool
    nr_kfunc_slots: int
    kfunc_slots_used: int = 0

    @property
    def owned_slots(self) -> int:
        return self.nr_maps + self.nr_progs + 1 + (1 if self.has_inner else 0)

    @property
    def size(self) -> int:
        return 4 * (self.owned_slots + self.nr_kfunc_slots)

    @property
    def btf_slot(self) -> int:
        return self.nr_maps + self.nr_progs

    @property
    def inner_slot(self) -> int:
        return self.nr_maps + self.nr_progs + 1

    def prog_slot(self, prog_index: int) -> int:
        return self.nr_maps + prog_index

    def take_kfunc_slot(self) -> int:
        slot = self.owned_slots + self.kfunc_slots_used
        self.kfunc_slots_used += 1
        return slot

    @staticmethod
    def offset(slot: int) -> int:
        """Blob offset of a slot (the table starts the blob)."""
        return 4 * slot
