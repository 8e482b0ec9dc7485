"""Integers as BPF's fixed-width fields hold them: the signed view of a 32-bit value (an
instruction's ``imm``), and the IntEnum base the model's enums share. Both live in the runtime,
which the build side may import (never the reverse), so each is written once."""

from __future__ import annotations

from ..runtime.ints import Number as IntText  # an IntEnum that prints as its number on every Python
from ..runtime.ints import s32

__all__ = ["IntText", "s32"]
