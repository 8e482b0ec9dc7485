"""In which order definitions are written: dependencies first.

A struct/union/typedef that is *embedded* (reached without a pointer, or through an anonymous
type that must be written inline) has to be complete before its container; one reached through
a pointer only needs a forward declaration. A cycle that no pointer to a named type breaks
cannot be written in C and is an error.
"""

from __future__ import annotations

from operator import attrgetter
from typing import List, Set

from ...model.btf import ARRAY, DATASEC, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, PTR, TYPEDEF
from .context import COMPOSITES, DONE, ENUMS, IN_PROGRESS, MODIFIERS, NOT_TYPES, TypeTable


_ENUMS_OR_FWD = frozenset({ENUM, ENUM64, FWD})


class UnsatisfiableCycle(Exception):
    """A cycle through ``type_id`` that no pointer to a named type breaks."""

    def __init__(self, type_id: int):
        self.type_id = type_id


class DependencyOrder:
    """Which named types have been ordered (queued) by one writer, across its ``add`` calls."""

    def __init__(self, table: TypeTable):
        self.table = table
        self.state = bytearray(len(table.types))
        self.referenced = self._referenced_anonymous_enums()
        self.queue: List[int] = []

    def _referenced_anonymous_enums(self) -> Set[int]:
        """Anonymous enums/forwards that some type refers to (the others are written at top level).

        As libbpf counts references: a FUNC_PROTO's parameters but not its return type."""
        types = self.table.types
        anon = {i for i, t in enumerate(types) if t.kind in _ENUMS_OR_FWD and not t.name}
        if not anon:
            return anon
        referenced: Set[int] = set()
        add, add_all = referenced.add, referenced.update
        type_of = attrgetter("type")
        for t in types:
            kind = t.kind
            if kind in COMPOSITES:
                add_all(map(type_of, t.members))
            elif kind == FUNC_PROTO:
                add_all(map(type_of, t.params))
            elif kind == DATASEC:
                add_all(map(type_of, t.secinfo))
            else:  # every other kind refers through `type` (or nothing: 0)
                add(t.type)
        return anon & referenced

    def order(self, tid: int, through_ptr: bool) -> int:
        """Queue named definitions ``tid`` needs, dependencies first.

        Returns 1 if ``tid`` must be complete before a type that embeds it (a strong link) and
        0 if a forward declaration is enough (a weak link: through a pointer to a named type)."""
        state = self.state
        if state[tid] == DONE:
            return 1
        t = self.table.types[tid]
        if tid == 0:
            return 0
        kind = t.kind
        if state[tid] == IN_PROGRESS:
            if kind in COMPOSITES and through_ptr and t.name:
                return 0
            raise UnsatisfiableCycle(tid)
        # Below, a referenced type already done (1) or void (0) is answered without a call: most
        # references are to types ordered before.
        order = self.order
        if kind == PTR:
            target = t.type
            strong = 1 if state[target] == DONE else order(target, True) if target else 0
            state[tid] = DONE
            return strong
        if kind in COMPOSITES:
            # A named struct behind a pointer is a weak link; an anonymous one is written inline,
            # so its members matter even behind a pointer.
            if through_ptr and t.name:
                return 0
            state[tid] = IN_PROGRESS
            for m in t.members:
                if state[m.type] != DONE:
                    order(m.type, False)
            if t.name:
                self.queue.append(tid)
            state[tid] = DONE
            return 1
        if kind == FUNC_PROTO:
            target = t.type
            strong = state[target] == DONE or (target and order(target, through_ptr) > 0)
            for p in t.params:
                target = p.type
                if state[target] == DONE or (target and order(target, through_ptr) > 0):
                    strong = True
            return int(strong)
        if kind == TYPEDEF:
            target = t.type
            strong = 1 if state[target] == DONE else order(target, through_ptr) if target else 0
            if through_ptr and not strong:
                return 0
            self.queue.append(tid)
            state[tid] = DONE
            return 1
        if kind == INT or kind == FLOAT:
            state[tid] = DONE
            return 0
        if kind == ARRAY:
            return order(t.type, False)
        if kind in ENUMS or kind == FWD:
            if t.name or tid not in self.referenced:
                self.queue.append(tid)
            state[tid] = DONE
            return 1
        if kind in MODIFIERS:
            return order(t.type, through_ptr)
        if kind in NOT_TYPES:
            raise self.table.error(tid, f"a {t.kind_name} cannot be part of a type declaration")
        raise self.table.error(tid, "unknown kind")
