"""The per-type description the struct pass compares (``TypeGraph``), and the finer table key
of a STRUCT/UNION that lets it skip candidates whose graph walk could only fail."""

from __future__ import annotations

from itertools import chain
from operator import attrgetter
from typing import AbstractSet, Callable, Dict, Hashable, List, Optional, Set, Tuple

from ...model.btf import ARRAY, FLOAT, FUNC, FUNC_PROTO, FWD, INT, BtfType
from .state import ANY_ENUM, COMPOSITE, SINGLE_REF, WALKED, Key, TypeGraph, common_sig, enum_members, int_tag_sig


def describe_types(types: List[BtfType], start: int) -> TypeGraph:
    """Describe every type (``types[tid]`` for each id, void at 0); ``start`` is the first id
    of the BTF being deduplicated (those before it belong to its base). A type's children are
    listed last to first (see TypeGraph)."""
    # A shape's id is the first type id that has it (unique per shape, and no count to keep).
    interned: Dict[Hashable, int] = {}
    intern = interned.setdefault
    n = len(types)
    kinds = [t.kind for t in types]
    names = [t.name for t in types]
    shapes = [0] * n
    children: List[Tuple[int, ...]] = [()] * n
    enum_fwd = [False] * n
    composite_ids: List[int] = []
    primitive_ids: List[int] = []
    fwd_names: Set[str] = set()
    enum_fwd_names: Set[str] = set()
    unwalkable: List[int] = []
    member_sig = attrgetter("name", "offset", "bitfield_size")
    type_of, name_of = attrgetter("type"), attrgetter("name")
    for tid, t in enumerate(types):
        k = t.kind
        if k in SINGLE_REF:  # common_sig(t) but the referenced id
            shapes[tid] = intern((t.name, k, t.kflag, t.linkage if k == FUNC else 0), tid)
            children[tid] = (t.type,)
        elif k in COMPOSITE:
            ms = t.members
            # common_sig(t) and the members but their referenced ids
            shapes[tid] = intern((t.name, k, t.kflag, len(ms), t.size, *map(member_sig, ms)), tid)
            children[tid] = tuple(map(type_of, reversed(ms)))
            composite_ids.append(tid)
        elif k == FUNC_PROTO:  # common_sig(t) and the params but the referenced ids
            ps = t.params
            shapes[tid] = intern((t.name, FUNC_PROTO, t.kflag, *map(name_of, ps)), tid)
            children[tid] = (*map(type_of, reversed(ps)), t.type)
        elif k == ARRAY:  # array_sig(t) but the referenced ids
            shapes[tid] = intern((t.name, ARRAY, t.kflag, 0, 0, t.nelems), tid)
            children[tid] = (t.type, t.index_type)
        elif k == INT:
            shapes[tid] = intern(int_tag_sig(t), tid)
            primitive_ids.append(tid)
        elif k == FWD:  # common_sig(t)
            shapes[tid] = intern((t.name, FWD, t.kflag, 0, t.type), tid)
            primitive_ids.append(tid)
            fwd_names.add(t.name)
        elif k in ANY_ENUM:
            shapes[tid] = intern(common_sig(t) + enum_members(t), tid)
            primitive_ids.append(tid)
            if not t.enums:
                enum_fwd[tid] = True
                enum_fwd_names.add(t.name)
        else:  # FLOAT; DECL_TAG, VAR, DATASEC and void never take part in a walk
            shapes[tid] = intern(common_sig(t), tid)
            if k == FLOAT:
                primitive_ids.append(tid)
            elif tid:
                unwalkable.append(tid)
    struct_key = struct_key_function(kinds, names, shapes, children, fwd_names, enum_fwd_names, unwalkable)
    return TypeGraph(kinds, names, shapes, children, enum_fwd, composite_ids,
                     [tid for tid in composite_ids if tid >= start],
                     [tid for tid in primitive_ids if tid >= start], unwalkable, struct_key)


def struct_key_function(kinds: List[int], names: List[str], shapes: List[int], children: List[Tuple[int, ...]],
                        fwd_names: AbstractSet[str], enum_fwd_names: AbstractSet[str],
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
