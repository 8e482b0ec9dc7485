"""Sizes, alignments and padding as the C compiler would lay the types out.

Member layout is reproduced from the BTF offsets alone: a struct whose members are not
naturally aligned, or whose size is not a multiple of its alignment, is ``packed``; holes the
compiler would not leave by itself are filled with anonymous bitfields (``long: 64;``).
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from ...errors import BtfError
from ...model.btf import (ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, INT, KIND_NAMES, PTR, RESTRICT,
    STRUCT, TYPE_TAG, TYPEDEF, UNION, VAR, VOLATILE)
from .context import COMPOSITES, TypeTable

_INT_WORDS_FOR_LONG = frozenset({"long", "long int", "int long", "unsigned long", "long unsigned",
                                 "unsigned long int", "unsigned int long", "long unsigned int",
                                 "long int unsigned", "int unsigned long", "int long unsigned"})
# Padding types from widest to narrowest, with their natural size in bits ("long" per pointer).
_PAD_NAMES = ("long", "int", "short", "char")
PADDING_BUDGET_BITS = 8 << 22  # 4 MiB of padding in one header (vmlinux: ~40 KiB)


class Layout:
    """Sizes and alignments of one writer's types (cached), and the padding between members."""

    def __init__(self, table: TypeTable):
        self.table = table
        # Bytes by type id, filled as asked; read directly where a loop asks for every member.
        # Alignments by id (0: not known yet), one byte each: a dict took ~1.3 MiB for a kernel.
        self.aligns = bytearray(len(table))
        self.sizes: Dict[int, int] = {}
        self._packed = bytearray(len(table))  # structs and unions by id: 1 laid out, 2 packed too
        self.ptr_size = self._pointer_size()
        # Bits of padding left to spell out (one line per 64 bits, as bpftool): far above any
        # kernel's total, it bounds the output of a huge struct size or member offset.
        self.padding_budget = PADDING_BUDGET_BITS

    def _pointer_size(self) -> int:
        table = self.table
        tid = table.kinds.find(INT, 1)
        while tid > 0:
            if table.refs[tid] in (4, 8) and table.type_names[tid] in _INT_WORDS_FOR_LONG:
                return table.refs[tid]
            tid = table.kinds.find(INT, tid + 1)
        return 8

    def align_of(self, type_id: int) -> int:
        """Alignment in bytes as the layout implies it (1 for a struct that must be packed)."""
        align = self.aligns[type_id]
        if align:
            return align
        table = self.table
        kind = table.kinds[type_id]
        if kind in (INT, ENUM, ENUM64, FLOAT):
            align = min(self.ptr_size, table.refs[type_id])
        elif kind == PTR:
            align = self.ptr_size
        elif kind in (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, ARRAY):
            align = self.align_of(table.refs[type_id])
        elif kind in COMPOSITES:
            align = self._composite_align(type_id)
        else:
            raise self.table.error(type_id, f"{KIND_NAMES.get(kind, 'void')} has no alignment")
        self.aligns[type_id] = align  # at most the pointer size
        return align

    def size_of(self, type_id: int) -> int:
        """Size in bytes, as libbpf's btf__resolve_size computes it."""
        size = self.sizes.get(type_id)
        if size is None:
            size = self.sizes[type_id] = self._resolve_size(type_id)
        return size

    def _resolve_size(self, type_id: int) -> int:
        table = self.table
        kinds, refs = table.kinds, table.refs
        count = 1
        for _ in range(1024):
            if type_id == 0:
                return 0
            kind = kinds[type_id]
            if kind == PTR:
                return count * self.ptr_size
            if kind in (INT, STRUCT, UNION, ENUM, ENUM64, FLOAT, DATASEC):
                return count * refs[type_id]
            if kind == ARRAY:
                count *= table.extra(type_id, 2)
            elif kind not in (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, VAR, DECL_TAG):
                raise self.table.error(type_id, "has no size")
            type_id = refs[type_id]
        raise self.table.error(type_id, "type chain loops")

    def _composite_align(self, tid: int) -> int:
        return self._lay_out(tid, *self.table.member_layout(tid))[0]

    def is_packed(self, tid: int, types: Sequence[int], offsets: Sequence[int], bits: Sequence[int]) -> bool:
        """Packed if a member is not naturally aligned or the size is no multiple of the
        alignment (a struct declared packed but laid out naturally is not detected, nor needed).
        Given the struct's member types, bit offsets and bitfield sizes (its body has them)."""
        known = self._packed[tid]
        return known == 2 if known else self._lay_out(tid, types, offsets, bits)[1]

    def _lay_out(self, tid: int, types: Sequence[int], offsets: Sequence[int],
                 bits: Sequence[int]) -> Tuple[int, bool]:
        """A struct's or union's alignment and whether it is packed, kept: one pass over its
        members for both."""
        biggest = 1
        aligns = self.aligns
        packed = False
        for mtype, offset, mbits in zip(types, offsets, bits):
            align = aligns[mtype] or self.align_of(mtype)
            if align and not mbits and offset % (8 * align):
                packed = True  # a misaligned member
                break
            if align > biggest:
                biggest = align
        else:
            packed = self.table.refs[tid] % biggest != 0
        align = aligns[tid] = 1 if packed else biggest
        self._packed[tid] = 2 if packed else 1
        return align, packed

    def padding(self, cur: int, nxt: int, next_align: int, in_bitfield: bool) -> List[str]:
        """The anonymous bitfields (``"long: 64"``) that move the next member from bit ``cur`` to
        bit ``nxt`` when the compiler's natural alignment would not put it there."""
        fields: List[str] = []
        if cur >= nxt:
            return fields
        self.padding_budget -= nxt - cur
        if self.padding_budget < 0:
            raise BtfError(self.table.path, f"{(nxt - cur) // 8} bytes of padding in one struct: more "
                                            f"than this writer spells out ({PADDING_BUDGET_BITS // 8} "
                                            f"bytes in all)")
        out = fields.append
        widths = (self.ptr_size * 8, 32, 16, 8)
        # The widest padding type whose next natural boundary is not past the target.
        for pad_name, pad_bits in zip(_PAD_NAMES, widths):
            boundary = -(-cur // pad_bits) * pad_bits
            if boundary <= nxt:
                break
        if cur < boundary <= nxt:
            aligned_by_itself = -(-cur // (next_align * 8)) * (next_align * 8) == boundary
            if (in_bitfield or (boundary == nxt and not aligned_by_itself)
                    or (boundary != nxt and nxt - boundary <= boundary - cur)):
                out(f"{pad_name}: {boundary - cur if in_bitfield else 0}")
            cur = boundary
        while cur != nxt:
            gap = min(nxt - cur, pad_bits)
            if gap == pad_bits:
                out(f"{pad_name}: {pad_bits}")
                cur += gap
                continue
            # The rest is narrower than the padding type: spell it with the narrowest that fits.
            for small_name, small_bits in zip(reversed(_PAD_NAMES), reversed(widths)):
                if small_bits >= gap:
                    out(f"{small_name}: {gap}")
                    cur += gap
                    break
        return fields
