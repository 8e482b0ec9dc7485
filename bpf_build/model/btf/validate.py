"""Checking BTF as the kernel's btf_check_* and libbpf's btf_validate do, once, when it is read:
each rule broken is a BtfError naming the type and the rule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, List, NoReturn, Optional

from ...errors import BtfError, PathLike
from .kinds import (ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_EXTERN, FUNC_PROTO, FWD,
    INT, INT_BOOL, INT_CHAR, INT_SIGNED, PTR, REF_KINDS, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION, VAR,
    VAR_GLOBAL_EXTERN, VOLATILE, is_identifier)
from .records import BtfType

if TYPE_CHECKING:
    from .container import Btf

# How a check reports a broken rule (it raises), and how it learns the kind of a type id.
Fail = Callable[[int, BtfType, str], NoReturn]
KindOf = Callable[[int], int]

# The INT encodings the kernel accepts (one bit at most).
_INT_ENC = frozenset({0, INT_SIGNED, INT_CHAR, INT_BOOL})
# Which kinds may set kind_flag, and the sizes INT, ENUM/ENUM64 and FLOAT may have.
_KFLAG_KINDS = frozenset({STRUCT, UNION, FWD, ENUM, ENUM64, DECL_TAG, TYPE_TAG})
_INT_SIZES = frozenset({1, 2, 4, 8, 16})
_ENUM_SIZES = frozenset({1, 2, 4, 8})
_FLOAT_SIZES = frozenset({2, 4, 8, 12, 16})
# Kinds that are not the type of a value, directly or behind typedefs and qualifiers: a VAR,
# member or array element cannot have them (the kernel's btf_type_nosize: no size to lay out).
_NOT_VALUE_KINDS = frozenset({FWD, FUNC, FUNC_PROTO, VAR, DATASEC, DECL_TAG})
_SEE_THROUGH = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG})


def validate(btf: Btf, path: PathLike = None) -> None:
    """Check the rules the kernel's btf_check_* and libbpf's btf_validate apply, once, at read
    time; raise BtfError naming the type and the rule it breaks.

    Rules: referenced type ids exist; each kind has the name it must have (none, an identifier,
    printable text), members, parameters and enumerators identifiers; kind_flag only where a
    kind defines it; INT size/encoding/bit ranges, ENUM and FLOAT sizes; member bit offsets
    inside their struct (unions: at 0); FUNC/VAR linkage, FUNC pointing at a FUNC_PROTO, VAR and
    array elements at a value type; void only as the last parameter (varargs); DATASEC entries
    naming a VAR or FUNC and, once the section is laid out (size > 0), sorted, not overlapping
    and inside it; DECL_TAG targets and components; no reference loop (_check_loops).
    ``path`` defaults to the file the BTF was read from.

    This runs on every parse (vmlinux: ~300k records), hence the branches by kind frequency and
    the inline identifier test (str.isidentifier), whose rare misses (dots) go to is_identifier."""
    path = path if path is not None else btf.path
    limit = len(btf)
    start = btf.start_id
    own = btf.types
    kinds = [t.kind for t in own]

    def kind_of(ref: int) -> int:
        if ref >= start:
            return kinds[ref - start]
        t = btf.get(ref)
        return t.kind if t is not None else 0

    seen_through: Dict[int, int] = {}

    def value_kind(ref: int) -> int:
        """The kind behind typedefs and qualifiers (0 for void; a loop is _check_loops' to
        report, so a long chain ends the walk)."""
        k = kind_of(ref)
        if k not in _SEE_THROUGH:
            return k
        found = seen_through.get(ref)
        if found is None:
            r = ref
            for _ in range(64):
                t = btf.get(r)
                if t is None or t.kind not in _SEE_THROUGH or t.type >= limit:
                    break
                r = t.type
            found = seen_through[ref] = kind_of(r) if r < limit else 0
        return found

    # Own ids of types without a size (directly or behind typedefs and qualifiers), for the
    # per-member test to be one set lookup.
    sizeless = {tid for tid, k in enumerate(kinds, start)
                if k in _NOT_VALUE_KINDS or (k in _SEE_THROUGH and value_kind(tid) in _NOT_VALUE_KINDS)}

    def fail(tid: int, t: BtfType, rule: str) -> NoReturn:
        raise BtfError(path, f"type [{tid}] {t.kind_name} {t.name!r}: {rule}")

    def check_ref(tid: int, t: BtfType, ref: int, what: str) -> None:
        if ref >= limit:
            fail(tid, t, f"{what} refers to type id {ref}, but only {limit - 1} types exist")

    forward: List[int] = []  # types referring to a higher id: where reference loops can start
    for tid, t in enumerate(own, start):
        k = t.kind
        name = t.name
        if t.kflag and k not in _KFLAG_KINDS:
            fail(tid, t, "kind_flag must be 0 for this kind")
        if k == FUNC:
            ref = t.type
            if not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                fail(tid, t, "name is not a valid identifier")
            if ref >= limit or (kinds[ref - start] if ref >= start else kind_of(ref)) != FUNC_PROTO:
                fail(tid, t, f"type [{ref}] must be a FUNC_PROTO")
            if t.linkage > FUNC_EXTERN:
                fail(tid, t, f"unknown linkage {t.linkage}")
            if ref > tid:
                forward.append(tid)
        elif k == FUNC_PROTO:
            if name:
                fail(tid, t, "this kind must not have a name")
            check_ref(tid, t, t.type, "return type")
            top = t.type
            params = t.params
            for i, p in enumerate(params):
                ref = p.type
                if ref > top:
                    top = ref
                if p.name and not (p.name.isidentifier() and p.name.isascii()) and not is_identifier(p.name):
                    fail(tid, t, f"parameter {i} name {p.name!r} is not a valid identifier")
                if not ref and (p.name or i != len(params) - 1):
                    fail(tid, t, f"parameter {i} is void (only an unnamed last parameter may be: varargs)")
            check_ref(tid, t, top, "a parameter")
            if top > tid:
                forward.append(tid)
        elif k == STRUCT or k == UNION:
            if name and not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                fail(tid, t, "name is not a valid identifier")
            size_bits = t.size * 8
            top = 0
            for m in t.members:
                ref = m.type
                if ref > top:
                    top = ref
                elif not ref:
                    fail(tid, t, f"member {m.name!r} has type void")
                if ref in sizeless or (ref < start and value_kind(ref) in _NOT_VALUE_KINDS):
                    fail(tid, t, f"member {m.name!r} has type [{ref}], which has no size")
                if m.offset + m.bitfield_size > size_bits:
                    fail(tid, t, f"member {m.name!r} at bit {m.offset} lies outside the {t.size}-byte type")
                if m.offset and k == UNION:
                    fail(tid, t, f"union member {m.name!r} at bit {m.offset}, not 0")
                if m.name and not (m.name.isidentifier() and m.name.isascii()) and not is_identifier(m.name):
                    fail(tid, t, f"member name {m.name!r} is not a valid identifier")
            check_ref(tid, t, top, "a member")
            if top > tid:
                forward.append(tid)
        elif k in REF_KINDS:
            ref = t.type
            check_ref(tid, t, ref, "it")
            if ref > tid:
                forward.append(tid)
            if k == TYPEDEF:
                if not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                    fail(tid, t, "name is not a valid identifier")
            elif k == VAR:
                if not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                    fail(tid, t, "name is not a valid identifier")
                if t.linkage > VAR_GLOBAL_EXTERN:
                    fail(tid, t, f"unknown linkage {t.linkage}")
                if ref == 0 or value_kind(ref) in _NOT_VALUE_KINDS:
                    fail(tid, t, f"type [{ref}] is not the type of a variable")
            elif k == DECL_TAG or k == TYPE_TAG:
                if not name or not name.isprintable():
                    fail(tid, t, "name must be non-empty printable text")
                if k == DECL_TAG:
                    _check_decl_tag(btf, tid, t, kind_of, fail)
            elif name:
                fail(tid, t, "this kind must not have a name")
        elif k == ARRAY:
            if name:
                fail(tid, t, "this kind must not have a name")
            check_ref(tid, t, max(t.type, t.index_type), "it")
            if t.type == 0 or value_kind(t.type) in _NOT_VALUE_KINDS:
                fail(tid, t, f"element type [{t.type}] is not a value type")
            if t.type > tid:
                forward.append(tid)
        elif k == ENUM or k == ENUM64:
            if name and not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                fail(tid, t, "name is not a valid identifier")
            if t.size not in _ENUM_SIZES:
                fail(tid, t, f"size {t.size} is not 1, 2, 4 or 8")
            for e in t.enums:
                if not (e.name.isidentifier() and e.name.isascii()) and not is_identifier(e.name):
                    fail(tid, t, f"enumerator name {e.name!r} is not a valid identifier")
        elif k == FWD:
            if not (name.isidentifier() and name.isascii()) and not is_identifier(name):
                fail(tid, t, "name is not a valid identifier")
        elif k == INT:
            bits, off = t.int_bits, t.int_offset
            if not name.isprintable():
                fail(tid, t, "name must be printable text")
            if t.size not in _INT_SIZES:
                fail(tid, t, f"size {t.size} is not 1, 2, 4, 8 or 16")
            if t.int_encoding not in _INT_ENC:
                fail(tid, t, f"unknown encoding 0x{t.int_encoding:x}")
            if off + bits > 128 or off + bits > t.size * 8:
                fail(tid, t, f"{bits} bits at offset {off} do not fit in {t.size} bytes")
        elif k == DATASEC:
            if not name or not name.isprintable():
                fail(tid, t, "name must be non-empty printable text")
            _check_datasec(btf, t, tid, limit, kind_of, fail)
            if any(v.type > tid for v in t.secinfo):
                forward.append(tid)
        elif k == FLOAT:
            if not name.isprintable():
                fail(tid, t, "name must be printable text")
            if t.size not in _FLOAT_SIZES:
                fail(tid, t, f"size {t.size} is not 2, 4, 8, 12 or 16")
    if forward:
        _check_loops(btf, path, forward)


def _check_datasec(btf: Btf, t: BtfType, tid: int, limit: int, kind_of: KindOf, fail: Fail) -> None:
    for v in t.secinfo:
        if not 0 < v.type < limit or kind_of(v.type) not in (VAR, FUNC):
            fail(tid, t, f"entry type [{v.type}] is not a VAR or FUNC")
    problem = datasec_layout_problem(t, btf)
    if problem:
        fail(tid, t, problem)


def datasec_layout_problem(t: BtfType, btf: Btf) -> Optional[str]:
    """Why the entries of a laid-out DATASEC overlap or leave the section, or None.

    Clang leaves sizes and offsets of an object's sections at 0 for libbpf to fill in: the rules
    apply once the section is laid out (size > 0), to the entries with storage (an extern
    declaration has none: libbpf drops it before loading). Linked objects may list entries out
    of offset order (libbpf sorts them when loading), so they are compared sorted."""
    if not t.size:
        return None
    stored = [v for v in t.secinfo if not _is_extern(btf.get(v.type))]
    end = 0
    for v in sorted(stored, key=lambda v: (v.offset, v.size)):
        if v.offset < end:
            return f"entry [{v.type}] at offset {v.offset} overlaps another"
        end = v.offset + v.size
        if end > t.size:
            return f"entry [{v.type}] ({v.size} bytes at {v.offset}) exceeds the {t.size}-byte section"
    return None


def _is_extern(t: Optional[BtfType]) -> bool:
    return t is not None and ((t.kind == VAR and t.linkage == VAR_GLOBAL_EXTERN)
                              or (t.kind == FUNC and t.linkage == FUNC_EXTERN))


def _check_decl_tag(btf: Btf, tid: int, t: BtfType, kind_of: KindOf, fail: Fail) -> None:
    target_kind = kind_of(t.type) if t.type else 0
    if target_kind not in (STRUCT, UNION, VAR, FUNC, TYPEDEF):
        fail(tid, t, f"target [{t.type}] is not a STRUCT, UNION, VAR, FUNC or TYPEDEF")
    idx = t.component_idx
    if idx < -1:
        fail(tid, t, f"component index {idx} is below -1")
    if idx >= 0:
        if target_kind == FUNC:
            proto = btf.get(btf.type(t.type).type)
            count = len(proto.params) if proto is not None else 0
        elif target_kind in (STRUCT, UNION):
            count = len(btf.type(t.type).members)
        else:
            count = 0
        if idx >= count:
            fail(tid, t, f"component index {idx} is not a member or parameter of [{t.type}]")


# The two searches of _check_loops: references not followed, and what a cycle found lacks. A
# cycle through a function prototype but no pointer needs a function-typed member or parameter,
# which has no size: walkers stop there, so the first search need not enter prototypes.
_LOOP_PASSES = ((frozenset({PTR, FUNC, FUNC_PROTO}), "without a pointer"),
                (frozenset({STRUCT, UNION}), "without a struct or union"))


def _check_loops(btf: Btf, path: PathLike, roots: List[int]) -> None:
    """Every reference cycle must pass through a PTR and a STRUCT/UNION (``struct A { struct
    A *next; }``). A cycle without a pointer is a type containing itself; one without a struct
    is a pointer or modifier loop (``const * const * ...``): both have no size and no C
    spelling, and walking them never ends.

    A cycle contains at least one reference to a higher type id; ids refer mostly backwards,
    so the depth-first searches start only at ``roots``, the types with such a reference, and
    finish every type once. Base types never refer to split types: no cycle leaves this BTF.
    Both searches follow the same references (only where they stop differs), so each type's
    are listed once, when a search first reaches it."""
    start = btf.start_id
    own = btf.types
    n = len(own)
    listed: List[Optional[List[int]]] = [None] * n

    def own_refs(index: int) -> List[int]:
        """Indexes (id - start) of the own types ``own[index]`` refers to (every id is below
        start + n: validate checked that first)."""
        t = own[index]
        k = t.kind
        if k in REF_KINDS:
            refs = [t.type - start] if t.type >= start else []
        elif k == STRUCT or k == UNION:
            refs = [m.type - start for m in t.members if m.type >= start]
        else:
            refs = [r - start for r in t.referenced_ids() if r >= start]
        listed[index] = refs
        return refs

    for cut_kinds, rule in _LOOP_PASSES:
        state = bytearray(n)  # 0 new, 1 on the current path, 2 finished
        for root in roots:
            root -= start
            if state[root] or own[root].kind in cut_kinds:
                continue
            stack = [(root, iter(listed[root] or own_refs(root)))]
            state[root] = 1
            while stack:
                node, refs = stack[-1]
                for ref in refs:
                    st = state[ref]
                    if st == 1:
                        t = own[ref]
                        raise BtfError(path, f"type [{ref + start}] {t.kind_name} {t.name!r}: "
                                             f"refers back to itself {rule} (reference loop)")
                    if st == 0:
                        if own[ref].kind in cut_kinds:
                            state[ref] = 2  # followed no further
                            continue
                        below = listed[ref]
                        if below is None:
                            below = own_refs(ref)
                        if not below:
                            state[ref] = 2
                            continue
                        state[ref] = 1
                        stack.append((ref, iter(below)))
                        break
                else:
                    state[node] = 2
                    stack.pop()
