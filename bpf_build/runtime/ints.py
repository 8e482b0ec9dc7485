"""Integers as BPF's fixed-width fields hold them; the build side (model/ints.py) uses these too."""

from __future__ import annotations


def s32(value: int) -> int:
    """``value``'s low 32 bits read as a signed 32-bit number (what an instruction's ``imm``, a
    32-bit enumerator or a loader's return value holds)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
