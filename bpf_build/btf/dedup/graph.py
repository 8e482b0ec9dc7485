"""The per-type description the struct pass compares (``TypeGraph``), and the finer table key
of a STRUCT/UNION that lets it skip candidates whose graph walk could only fail."""

from __future__ import annotations

from array import array
from itertools import chain
from typing import AbstractSet, Callable, Dict, Hashable, List, Optional, Sequence, Set, Tuple

from ...model.btf import ARRAY, ENUM, ENUM64, FLOAT, FUNC_PROTO, FWD, INT, STRUCT, UNION
from .state import ANY_ENUM, COMPOSITE, SINGLE_REF, WALKED, Key, TypeGraph


def describe_types(words: List[int], offsets: List[int], kinds: bytes, start: int) -> TypeGraph:
    """Describe every type from its words (``offsets[tid]``: where type ``tid`` begins, void
    at 0); ``start`` is the first id of the BTF being deduplicated (those before it belong to
    its base). A shape is the tuple of the record's words a graph walk compares, the info word
    (kind, kind_flag, vlen) first, without the ids it refers to, interned as the first id
    that has it (a single-reference kind's two words packed in one int instead); a type's
    children are listed last to first (see TypeGraph)."""
    # A shape's id is the first type id that has it (unique per shape, and no count to keep).
    interned: Dict[Hashable, int] = {}
    intern = interned.setdefault
    n = len(offsets)
    names = list(map(words.__getitem__, offsets))
    shapes = [0] * n
    children: List[Tuple[int, ...]] = [()] * n
    enum_fwd = [False] * n
    composite_ids: List[int] = []
    primitive_ids: List[int] = []
    fwd_names: Set[int] = set()
    enum_fwd_names: Set[int] = set()
    unwalkable: List[int] = []
    single_ref = SINGLE_REF
    # Where every name offset is in ``words``, in the order the string pass meets them (a
    # type's, then its entries').
    name_at = array("I")
    add_name, add_names = name_at.append, name_at.extend
    for tid, off in enumerate(offsets):
        k = kinds[tid]
        info = words[off + 1]
        add_name(off)
        if k in single_ref:  # name, info (FUNC: its linkage in vlen); not the referenced id
            # Both packed in one int, not interned (no tuple, no look-up): above 2**56 (the
            # info word holds a kind), so never another kind's shape, the id that first has it.
            shapes[tid] = info << 32 | words[off]
            children[tid] = (words[off + 2],)
        elif k == STRUCT or k == UNION:
            # name, info, size and each member's name and offset; not the members' types
            end = off + 3 + 3 * (info & 0xFFFF)
            shapes[tid] = intern((info, words[off], words[off + 2], *words[off + 3:end:3], *words[off + 5:end:3]),
                                 tid)
            children[tid] = tuple(words[end - 2:off + 3:-3])
            add_names(range(off + 3, end, 3))
            composite_ids.append(tid)
        elif k == FUNC_PROTO:  # name, info and the parameters' names; not the ids
            end = off + 3 + 2 * (info & 0xFFFF)
            shapes[tid] = intern((info, words[off], *words[off + 3:end:2]), tid)
            children[tid] = (*words[end - 1:off + 3:-2], words[off + 2])
            add_names(range(off + 3, end, 2))
        elif k == ARRAY:  # name, info, nelems; not the element and index types
            shapes[tid] = intern((info, words[off], words[off + 5]), tid)
            children[tid] = (words[off + 3], words[off + 4])
        elif k == INT:  # the whole record
            shapes[tid] = intern((info, words[off], words[off + 2], words[off + 3]), tid)
            primitive_ids.append(tid)
        elif k == FWD:
            shapes[tid] = intern((info, words[off], words[off + 2]), tid)
            primitive_ids.append(tid)
            fwd_names.add(words[off])
        elif k == ENUM or k == ENUM64:  # the whole record, enumerators included
            vlen = info & 0xFFFF
            step = 2 if k == ENUM else 3
            shapes[tid] = intern((info, *words[off:off + 3 + step * vlen]), tid)
            add_names(range(off + 3, off + 3 + step * vlen, step))
            primitive_ids.append(tid)
            if not vlen:
                enum_fwd[tid] = True
                enum_fwd_names.add(words[off])
        else:  # FLOAT; DECL_TAG, VAR, DATASEC and void never take part in a walk
            shapes[tid] = intern((info, words[off], words[off + 2]), tid)
            if k == FLOAT:
                primitive_ids.append(tid)
            elif tid:
                unwalkable.append(tid)
    struct_key = struct_key_function(kinds, names, shapes, children, fwd_names, enum_fwd_names, unwalkable)
    return TypeGraph(kinds, names, shapes, children, enum_fwd, composite_ids,
                     [tid for tid in composite_ids if tid >= start],
                     [tid for tid in primitive_ids if tid >= start], unwalkable, struct_key, name_at, enum_fwd_names)


def struct_key_function(kinds: Sequence[int], names: List[int], shapes: List[int], children: List[Tuple[int, ...]],
                        fwd_names: AbstractSet[int], enum_fwd_names: AbstractSet[int],
                        unwalkable: List[int]) -> Callable[[int], Key]:
    """A function giving the table key of a STRUCT/UNION (called only for those still
    unresolved when the struct phase reaches them): its shape, refined by a summary of what
    its members refer to that any equivalent type graph shares ("graph class").

    A successful walk visits every pair it pushes, and each visit passes only if the two
    types are the same canonical type, or were already paired in this walk (or are
    identical arrays/structs), or have equal names, compatible kinds and equal shapes. So
    in a successful walk both sides of every pair have the same graph class, where the
    class of
      - a STRUCT/UNION is its shape, but only (struct-like, name) if some FWD has its name
        (a FWD stands for any struct/union of its name);
      - a FWD is (struct-like, name);
      - an enum is its shape, but only (enum, name) if a forward-declared enum has its name;
      - INT and FLOAT is the shape;
      - a reference kind (PTR, modifiers, TYPEDEF, FUNC, ARRAY, FUNC_PROTO) is its shape
        and the classes of the types it refers to, one level deep.
    Candidates of another refined key would fail is_equiv: skipping them keeps the result,
    and they keep their relative order (a key's list is a subsequence of the shape's).

    If some walked type refers to a kind a walk must not meet (VAR, DATASEC, DECL_TAG),
    is_equiv raises on it; then keys stay plain shapes so that the same walks happen."""
    # only walked kinds have children here
    if unwalkable and not set(unwalkable).isdisjoint(chain.from_iterable(children)):
        return shapes.__getitem__

    def shallow_class(tid: int) -> Key:
        k = kinds[tid]
        if k in COMPOSITE or k == FWD:
            return ("C", names[tid]) if names[tid] in fwd_names else shapes[tid]
        if k in ANY_ENUM:
            return ("E", names[tid]) if names[tid] in enum_fwd_names else shapes[tid]
        return shapes[tid]

    def graph_class(tid: int) -> Key:
        if kinds[tid] in COMPOSITE or kinds[tid] not in WALKED:
            return shallow_class(tid)
        return (shapes[tid],) + tuple([shallow_class(c) for c in children[tid]])

    classes: List[Optional[Key]] = [None] * len(kinds)

    def struct_key(tid: int) -> Key:
        key: List[Key] = [shapes[tid]]
        for c in children[tid]:
            cls = classes[c]
            if cls is None:
                cls = classes[c] = graph_class(c)
            key.append(cls)
        return tuple(key)

    return struct_key
