"""Pass 5: reference types (PTR, modifiers, TYPEDEF, ARRAY, FUNC, FUNC_PROTO, DECL_TAG), depth
first: a type once the types it refers to are canonical, its key then being the whole type."""

from __future__ import annotations

from typing import Dict

from ...errors import BtfError
from ...model.btf import ARRAY, DECL_TAG, FUNC_PROTO, KIND_NAMES
from .state import IN_PROGRESS, SINGLE_REF, DedupState, Key, tag_key


def dedup_refs(state: DedupState) -> None:
    """Every reference type of this BTF, in id order (each after what it refers to).

    The keys here are whole types. Without a base BTF, only this pass puts reference types in
    the table and one entry per key at most: the growth of libbpf's table, which reverses a
    key's entries, cannot change which candidate is found, and nothing looks the table up
    after this pass, so the entries are kept in a dict of their own (no other pass's key is
    a reference type's: those start with a reference type's shape, or "tag").
    A base's reference types were added to the table before, possibly several for one key:
    then the table grows as libbpf's does."""
    m, words, offsets = state.map, state.words, state.offsets
    kinds, shapes = state.kinds, state.graph.shapes
    lists = state.table.lists
    add = state.table.add_new if state.start_id > 1 else None
    own: Dict[Key, int] = {}  # without a base: each key's one entry, kept apart from the table
    single_ref = SINGLE_REF

    def ref(tid: int) -> int:
        """The canonical id of reference type ``tid``, its referenced ids made canonical in its
        words first."""
        status = m[tid]
        if status == IN_PROGRESS:
            raise BtfError(None, f"BTF dedup: reference loop through type [{tid}]")
        if status >= 0:
            while status >= 0 and status != tid:  # resolve
                tid, status = status, m[status]
            return tid
        off = offsets[tid]
        m[tid] = IN_PROGRESS
        k = kinds[tid]
        key: Key
        if k in single_ref:
            c = words[off + 2]
            if m[c] != c:
                c = words[off + 2] = ref(c)
            key = (shapes[tid], c)
        elif k == FUNC_PROTO:
            c = words[off + 2]
            if m[c] != c:
                c = words[off + 2] = ref(c)
            end = off + 3 + 2 * (words[off + 1] & 0xFFFF)
            params = words[off + 4:end:2]
            if list(map(m.__getitem__, params)) != params:  # not all canonical yet
                for at in range(off + 4, end, 2):
                    c = words[at]
                    if m[c] != c:
                        words[at] = ref(c)
                params = words[off + 4:end:2]
            key = (shapes[tid], words[off + 2], *params)
        elif k == ARRAY:
            c = words[off + 3]
            if m[c] != c:
                c = words[off + 3] = ref(c)
            i = words[off + 4]
            if m[i] != i:
                i = words[off + 4] = ref(i)
            key = (shapes[tid], c, i)
        elif k == DECL_TAG:
            words[off + 2] = ref(words[off + 2])
            key = tag_key(words, off)
        else:
            raise BtfError(None, f"BTF dedup: unexpected {KIND_NAMES.get(k, f'KIND{k}')} [{tid}]")
        # the key is the whole type: any candidate is equal
        if add is None:
            found = own.setdefault(key, tid)
            m[tid] = found
            return found
        entries = lists.get(key)
        if entries:
            new_id = m[tid] = entries[0]
            return new_id
        m[tid] = tid
        add(key, tid)
        return tid

    try:
        for tid in range(state.start_id, len(offsets)):
            if m[tid] < 0:
                if add is None and kinds[tid] in single_ref:
                    # The common case (vmlinux's FUNCs) without a call: what it refers to is
                    # canonical already, so its key is final.
                    c = words[offsets[tid] + 2]
                    if m[c] == c:
                        m[tid] = own.setdefault((shapes[tid], c), tid)
                        continue
                ref(tid)
    except RecursionError:
        raise BtfError(None, "BTF dedup: reference type chain too deep") from None
    finally:
        ref = _finished  # a recursive closure is a reference cycle: it would keep every type alive


def _finished(tid: int) -> int:
    raise AssertionError("dedup_refs has returned")
