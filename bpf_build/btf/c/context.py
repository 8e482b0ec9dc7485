"""What every part of the C writer reads: the types by id (void and the base's types included)
with the file they came from, the roles BTF kinds play in C, and the errors that name a type."""

from __future__ import annotations

from typing import Dict, List, Optional, Set

from ...errors import BtfError, PathLike
from ...model.btf import (CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_PROTO, FWD, INT, PTR, RESTRICT,
    STRUCT, TYPE_TAG, TYPEDEF, UNION, VAR, VOLATILE, Btf, BtfType)

MODIFIERS = frozenset({VOLATILE, CONST, RESTRICT, TYPE_TAG})
# Kinds that describe functions, variables and sections rather than types.
NOT_TYPES = frozenset({FUNC, VAR, DATASEC, DECL_TAG})
QUALIFIERS: Dict[int, str] = {VOLATILE: "volatile", CONST: "const", RESTRICT: "restrict"}
COMPOSITES = frozenset({STRUCT, UNION})
ENUMS = frozenset({ENUM, ENUM64})
# Kinds that end a declaration chain: they are written by name (or inline, if anonymous).
TERMINAL_KINDS = frozenset({INT, FLOAT, ENUM, ENUM64, FWD, STRUCT, UNION, TYPEDEF})
# The kinds a declaration chain passes through on its way to a terminal kind.
CHAIN_KINDS = frozenset({PTR, VOLATILE, CONST, RESTRICT, FUNC_PROTO, TYPE_TAG})

# Per-type progress of the ordering and emitting walks.
NOT_DONE, IN_PROGRESS, DONE = 0, 1, 2


class TypeTable:
    """The types of one ``Btf`` and its bases by id; ``types[0]``, void, is a record of kind 0
    (no name, no references) so that every id indexes a ``BtfType``."""

    def __init__(self, btf: Btf, path: PathLike = None):
        self.path = path if path is not None else btf.path
        chain = []
        b: Optional[Btf] = btf
        while b is not None:
            chain.append(b)
            b = b.base
        types: List[BtfType] = [BtfType(0)]
        for part in reversed(chain):
            types.extend(part.types)
        self.types = types

    def error(self, type_id: int, reason: str) -> BtfError:
        t: Optional[BtfType]
        try:
            t = self.types[type_id] if type_id else None
        except IndexError:
            t = None
        what = f"type [{type_id}]" + (f" {t.kind_name} '{t.name}'" if t is not None else "")
        return BtfError(self.path, f"{what}: {reason}")

    def check_id(self, ref: int, owner: Optional[int]) -> None:
        """A BtfError unless type id ``ref`` (referenced by type ``owner``) exists."""
        if not 0 <= ref < len(self.types):
            where = f"type [{owner}] refers to" if owner is not None else "no"
            raise BtfError(self.path, f"{where} type id {ref}; only {len(self.types) - 1} types exist")

    def dangling_reference(self) -> BtfError:
        """The error for a reference to a type id that does not exist. Looked for only once an
        index fails: checking every reference up front would cost every render."""
        limit = len(self.types)
        for tid, t in enumerate(self.types):
            for ref in t.referenced_ids():
                if not 0 <= ref < limit:
                    return BtfError(self.path, f"type [{tid}] refers to type id {ref}; "
                                               f"only {limit - 1} types exist")
        return BtfError(self.path, "a type id is out of range")

    def cycle_text(self, start: int) -> str:
        """A readable path of the cycle through ``start`` (for the error message only)."""
        types = self.types
        path: List[int] = []
        seen: Dict[int, int] = {}
        tid = start
        while tid and tid not in seen and tid < len(types):
            seen[tid] = len(path)
            path.append(tid)
            nxt = self._first_strong_ref(tid, start)
            if nxt is None:
                break
            tid = nxt
        if tid in seen:
            path = path[seen[tid]:] + [tid]
        return " -> ".join(f"[{i}] {types[i].kind_name} '{types[i].name}'"
                           if 0 < i < len(types) else f"[{i}]" for i in path)

    def _first_strong_ref(self, tid: int, target: int) -> Optional[int]:
        """The referenced id leading back to ``target`` without passing a named pointee."""
        refs = [r for r in self.types[tid].referenced_ids() if 0 < r < len(self.types)]
        for r in refs:
            if self._reaches(r, target, set()):
                return r
        return refs[0] if refs else None

    def _reaches(self, tid: int, target: int, seen: Set[int]) -> bool:
        stack = [tid]
        while stack:
            cur = stack.pop()
            if cur == target:
                return True
            if cur in seen or not 0 < cur < len(self.types):
                continue
            seen.add(cur)
            stack.extend(self.types[cur].referenced_ids())
        return False
