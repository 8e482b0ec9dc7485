"""Integers as BPF's fixed-width fields hold them: the signed view of a 32-bit value (an
instruction's ``imm``), and the IntEnum base the model's enums share."""

from __future__ import annotations

from enum import IntEnum


def s32(value: int) -> int:
    """``value``'s low 32 bits read as a signed 32-bit number (what an ``imm`` field holds)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class IntText(IntEnum):
    """An IntEnum whose ``str`` and ``format`` are its number's on every Python (3.9 and 3.10
    print ``Kind.INT`` otherwise): messages and generated text stay as they were with plain ints,
    while ``repr`` names the member."""

    def __str__(self) -> str:
        return str(int(self))

    def __format__(self, spec: str) -> str:
        return format(int(self), spec)
