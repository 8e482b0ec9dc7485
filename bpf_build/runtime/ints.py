"""Integers as BPF's fixed-width fields hold them, and ``Number``, the IntEnum base of uapi.py's enums
and the BTF model's; the build side (model/ints.py) uses these too. Here, not in uapi.py: a command
that needs the model but none of the kernel's BPF numbers (bpf-build vmlinux, btf dump) does not
load uapi.py's ~40 enums (~2 ms of its start)."""

from __future__ import annotations

import enum


def s32(value: int) -> int:
    """``value``'s low 32 bits read as a signed 32-bit number (what an instruction's ``imm``, a
    32-bit enumerator or a loader's return value holds)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


class Number(enum.IntEnum):
    """An IntEnum that prints as its number on every Python (3.9 and 3.10 print ``MapType.HASH``
    otherwise), so text made from these values is the same whatever the interpreter; ``repr``
    names the member."""

    def __str__(self) -> str:
        return str(int(self))

    def __format__(self, spec: str) -> str:
        return format(int(self), spec)
