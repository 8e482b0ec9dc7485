"""In which order definitions are written: dependencies first.

A struct/union/typedef that is *embedded* (reached without a pointer, or through an anonymous
type that must be written inline) has to be complete before its container; one reached through
a pointer only needs a forward declaration. A cycle that no pointer to a named type breaks
cannot be written in C and is an error.
"""

from __future__ import annotations

from itertools import chain, compress
from typing import Callable, List, Set

from ...model.btf import ARRAY, DATASEC, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, PTR, SIZED_KINDS, TYPEDEF
from .context import COMPOSITES, DONE, ENUMS, IN_PROGRESS, MODIFIERS, NOT_TYPES, TypeTable


_ENUMS_OR_FWD = (ENUM, ENUM64, FWD)
# Kinds whose one reference is their ``refs`` column (the others list entries, or have a size).
_ONE_REF = bytes(int(k not in SIZED_KINDS and k not in (0, FUNC_PROTO, DATASEC)) for k in range(256))
_MEMBERS = bytes(int(k in COMPOSITES) for k in range(256))
_PARAMS = bytes(int(k == FUNC_PROTO) for k in range(256))


class UnsatisfiableCycle(Exception):
    """A cycle through ``type_id`` that no pointer to a named type breaks."""

    def __init__(self, type_id: int):
        self.type_id = type_id


class DependencyOrder:
    """Which named types have been ordered (queued) by one writer, across its ``add`` calls."""

    def __init__(self, table: TypeTable):
        self.table = table
        self.state = bytearray(len(table))
        self.referenced = self._referenced_anonymous_enums()
        self.queue: List[int] = []
        self.order = self._orderer()

    def _referenced_anonymous_enums(self) -> Set[int]:
        """Anonymous enums/forwards that some type refers to (the others are written at top level).

        As libbpf counts references: a FUNC_PROTO's parameters but not its return type."""
        table = self.table
        kinds = table.kinds
        anon: Set[int] = set()
        for kind in _ENUMS_OR_FWD:
            tid = kinds.find(kind, 1)
            while tid > 0:
                if not table.type_names[tid]:
                    anon.add(tid)
                tid = kinds.find(kind, tid + 1)
        if not anon:
            return anon
        # Each reference looked up in the (small) set of candidates, none kept otherwise.
        words, offsets = table.words, table.offsets
        referenced = anon.intersection(compress(table.refs, kinds.translate(_ONE_REF)))
        referenced.update(anon.intersection(chain.from_iterable(
            words[off + 4:off + 3 + 3 * (words[off + 1] & 0xFFFF):3]
            for off in compress(offsets, kinds.translate(_MEMBERS)))))
        referenced.update(anon.intersection(chain.from_iterable(
            words[off + 4:off + 3 + 2 * (words[off + 1] & 0xFFFF):2]
            for off in compress(offsets, kinds.translate(_PARAMS)))))
        tid = kinds.find(DATASEC, 1)
        while tid > 0:
            referenced.update(anon.intersection(entry[0] for entry in table.secinfo(tid)))
            tid = kinds.find(DATASEC, tid + 1)
        return referenced

    def _orderer(self) -> Callable[[int, bool], int]:
        """``order`` as a closure over the columns it reads (it runs ~100k times for a kernel:
        locals, not attribute look-ups)."""
        table = self.table
        state, kinds, refs, words, offsets = self.state, table.kinds, table.refs, table.words, table.offsets
        type_names, referenced = table.type_names, self.referenced
        queue = self.queue.append

        def order(tid: int, through_ptr: bool) -> int:
            """Queue named definitions ``tid`` needs, dependencies first.

            Returns 1 if ``tid`` must be complete before a type that embeds it (a strong link)
            and 0 if a forward declaration is enough (a weak link: through a pointer to a named
            type)."""
            if state[tid] == DONE:
                return 1
            kind = kinds[tid]
            if tid == 0:
                return 0
            if state[tid] == IN_PROGRESS:
                if kind in COMPOSITES and through_ptr and type_names[tid]:
                    return 0
                raise UnsatisfiableCycle(tid)
            # Below, a referenced type already done (1) or void (0) is answered without a call:
            # most references are to types ordered before.
            if kind == PTR:
                target = refs[tid]
                strong = 1 if state[target] == DONE else order(target, True) if target else 0
                state[tid] = DONE
                return strong
            if kind in COMPOSITES:
                # A named struct behind a pointer is a weak link; an anonymous one is written
                # inline, so its members matter even behind a pointer.
                named = type_names[tid]
                if through_ptr and named:
                    return 0
                state[tid] = IN_PROGRESS
                off = offsets[tid]
                for target in words[off + 4:off + 3 + 3 * (words[off + 1] & 0xFFFF):3]:
                    if state[target] != DONE:
                        order(target, False)
                if named:
                    queue(tid)
                state[tid] = DONE
                return 1
            if kind == FUNC_PROTO:
                target = refs[tid]
                strong = state[target] == DONE or (target and order(target, through_ptr) > 0)
                off = offsets[tid]
                for target in words[off + 4:off + 3 + 2 * (words[off + 1] & 0xFFFF):2]:
                    if state[target] == DONE or (target and order(target, through_ptr) > 0):
                        strong = True
                return int(strong)
            if kind == TYPEDEF:
                target = refs[tid]
                strong = 1 if state[target] == DONE else order(target, through_ptr) if target else 0
                if through_ptr and not strong:
                    return 0
                queue(tid)
                state[tid] = DONE
                return 1
            if kind == INT or kind == FLOAT:
                state[tid] = DONE
                return 0
            if kind == ARRAY:
                target = refs[tid]
                strong = order(target, False)
                if state[target] == DONE:
                    state[tid] = DONE  # answers as its element type will from now on: 1
                return strong
            if kind in ENUMS or kind == FWD:
                if tid not in referenced or type_names[tid]:
                    queue(tid)
                state[tid] = DONE
                return 1
            if kind in MODIFIERS:
                target = refs[tid]
                strong = order(target, through_ptr)
                if state[target] == DONE:
                    state[tid] = DONE
                return strong
            if kind in NOT_TYPES:
                raise table.error(tid, f"a {table.kind_name(tid)} cannot be part of a type declaration")
            raise table.error(tid, "unknown kind")
        return order
