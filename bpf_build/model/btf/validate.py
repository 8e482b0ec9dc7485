"""Checking BTF as the kernel's btf_check_* and libbpf's btf_validate do, once, when it is read:
each rule broken is a BtfError naming the type and the rule.

The checks read the type section's words (words.py), not records: the parser runs them before
it builds its records and the raw dump before it prints, with the same rules and error texts."""

from __future__ import annotations

from itertools import count, repeat
from operator import add, and_, rshift
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, NoReturn, Optional, Sequence, Tuple

from ...errors import BtfError, PathLike
from .kinds import (ARRAY, CONST, DATASEC, DECL_TAG, ENUM, ENUM64, FLOAT, FUNC, FUNC_EXTERN, FUNC_PROTO, FWD,
    INT, INT_BOOL, INT_CHAR, INT_SIGNED, KIND_NAMES, PTR, REF_KINDS, RESTRICT, STRUCT, TYPE_TAG, TYPEDEF, UNION,
    NO_REF_KINDS, VAR, VAR_GLOBAL_EXTERN, VOLATILE, is_identifier)
from .records import BtfType
from .words import REFS_AT, TypeWords, frame

if TYPE_CHECKING:
    from .container import Btf

# How a check reports a broken rule for own type id (it raises).
Fail = Callable[[int, str], NoReturn]

# The INT encodings the kernel accepts (one bit at most).
_INT_ENC = frozenset({0, INT_SIGNED, INT_CHAR, INT_BOOL})
# Which kinds may set kind_flag, and the sizes INT, ENUM/ENUM64 and FLOAT may have.
_KFLAG_KINDS = frozenset({STRUCT, UNION, FWD, ENUM, ENUM64, DECL_TAG, TYPE_TAG})
# A FUNC's info word with the highest linkage and no kind_flag (framing refused reserved bits).
_FUNC_LAST_INFO = FUNC << 24 | FUNC_EXTERN
_INT_SIZES = frozenset({1, 2, 4, 8, 16})
_ENUM_SIZES = frozenset({1, 2, 4, 8})
_FLOAT_SIZES = frozenset({2, 4, 8, 12, 16})
# Kinds that are not the type of a value, directly or behind typedefs and qualifiers: a VAR,
# member or array element cannot have them (the kernel's btf_type_nosize: no size to lay out).
_NOT_VALUE_KINDS = frozenset({FWD, FUNC, FUNC_PROTO, VAR, DATASEC, DECL_TAG})
_SEE_THROUGH = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG})
# Byte tables for bytes.translate: kind -> 1 if in the set.
_NOT_VALUE_TABLE = bytes(int(k in _NOT_VALUE_KINDS) for k in range(256))
_SEE_THROUGH_TABLE = bytes(int(k in _SEE_THROUGH) for k in range(256))


def _ident(name: str) -> bool:
    """A BTF identifier (is_identifier), the common case (no dot) tested inline."""
    return (name.isidentifier() and name.isascii()) or is_identifier(name)


def _ident_or_empty(name: str) -> bool:
    return not name or _ident(name)


def validate(types: TypeWords, path: PathLike = None) -> None:
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
    members checked in bulk, one by one only to name what is wrong.

    Words read with ``names_pending`` (read_words) have their name offsets checked here: every
    name is read (a look-up in the names' tables, or the name itself), so one past the string
    table fails a look-up; then, as on any other problem, framing runs again with the names and
    names the first it finds, which read_words would have named, before any rule broken."""
    path = path if path is not None else types.path
    if not types.names_pending:
        _check_rules(types, path)
        return
    try:
        _check_rules(types, path)
    except (BtfError, IndexError, ValueError):  # (the look-ups: a table index, a str.index)
        frame(types.words, 4 * len(types.words), types.names.end, types.start_id, types.path)
        raise
    types.names_pending = False


def _check_rules(types: TypeWords, path: PathLike) -> None:
    """``validate``'s rules over framed words."""
    words, offsets, kinds = types.words, types.offsets, types.kinds
    limit = types.limit
    start = types.start_id
    name_at = types.names.name
    plain = types.names.plain_starts()  # most names pass without being read
    named = bytearray(plain)  # the same, where no name (offset 0) is allowed too
    named[0] = 1
    split = start > 1
    kind_any = types.kind

    def kind_of(ref: int) -> int:
        return kinds[ref - start] if ref >= start else kind_any(ref)

    seen_through: Dict[int, int] = {}

    def value_kind(ref: int) -> int:
        """The kind behind typedefs and qualifiers (0 for void; a loop is _check_loops' to
        report, so a long chain ends the walk)."""
        k = kinds[ref - start] if ref >= start else kind_any(ref)
        if not see_through[k]:
            return k
        found = seen_through.get(ref)
        if found is None:
            r = ref
            for _ in range(64):
                if r >= start:  # an own type read here, a base type asked
                    index = r - start
                    if not see_through[kinds[index]]:
                        break
                    nxt = words[offsets[index] + 2]
                elif see_through[kind_any(r)]:
                    nxt = types.ref(r)
                else:
                    break
                if nxt >= limit:
                    break
                r = nxt
            found = seen_through[ref] = kinds[r - start] if r >= start else kind_any(r)
        return found

    # Which ids are own types without a size (directly or behind typedefs and qualifiers),
    # one byte an id (a set of vmlinux's ~85k would take 7 MiB), for the members of a struct
    # to be tested in one call.
    see_through = _SEE_THROUGH_TABLE
    sizeless = bytearray(start) + kinds.translate(_NOT_VALUE_TABLE)
    sizeless[0] = 1  # void: no member may have it either
    typedefs_and_qualifiers = kinds.translate(see_through)
    index = typedefs_and_qualifiers.find(1)
    while index >= 0:
        if _NOT_VALUE_TABLE[value_kind(index + start)]:
            sizeless[index + start] = 1
        index = typedefs_and_qualifiers.find(1, index + 1)

    def fail(tid: int, rule: str) -> NoReturn:
        index = tid - start
        raise BtfError(path, f"type [{tid}] {KIND_NAMES[kinds[index]]} {name_at(words[offsets[index]])!r}: {rule}")

    def check_ref(tid: int, ref: int, what: str) -> None:
        if ref >= limit:
            fail(tid, f"{what} refers to type id {ref}, but only {limit - 1} types exist")

    forward: List[int] = []  # types referring to a higher id: where reference loops can start
    for tid, off, k in zip(count(start), offsets, kinds):
        info = words[off + 1]
        st = words[off + 2]
        o = words[off]
        if k == FUNC:  # the most common kind: its info word tested once where it is good
            if info > _FUNC_LAST_INFO and info >> 31:
                fail(tid, "kind_flag must be 0 for this kind")
            if not plain[o] and not _ident(name_at(o)):
                fail(tid, "name is not a valid identifier")
            if st >= limit or (kinds[st - start] if st >= start else kind_any(st)) != FUNC_PROTO:
                fail(tid, f"type [{st}] must be a FUNC_PROTO")
            if info > _FUNC_LAST_INFO:
                fail(tid, f"unknown linkage {info & 0xFFFF}")
            if st > tid:
                forward.append(tid)
        elif info >> 31 and k not in _KFLAG_KINDS:  # (the first rule of every other kind)
            fail(tid, "kind_flag must be 0 for this kind")
        elif k == FUNC_PROTO:
            if o and name_at(o):
                fail(tid, "this kind must not have a name")
            if st >= limit:
                check_ref(tid, st, "return type")
            top = 0
            if info & 0xFFFF:
                end = off + 3 + 2 * (info & 0xFFFF)
                refs = words[off + 4:end:2]
                if 0 in refs or not all(map(named.__getitem__, words[off + 3:end:2])):
                    _check_params(types, tid, off, fail)  # void, or a name to read: one by one
                top = max(refs)
            if top > st:
                if top >= limit:
                    check_ref(tid, top, "a parameter")
            elif top < st:
                top = st
            if top > tid:
                forward.append(tid)
        elif k == STRUCT or k == UNION:
            if not named[o] and not _ident_or_empty(name_at(o)):
                fail(tid, "name is not a valid identifier")
            vlen = info & 0xFFFF
            if vlen:
                # All members at once (the common, valid case); one by one only to name the
                # first that is wrong.
                end = off + 3 + 3 * vlen
                refs = words[off + 4:end:3]
                top = max(refs)
                bits = words[off + 5:end:3]
                if info >> 31:  # bitfield sizes in the top byte, offsets below
                    offs = list(map(and_, bits, repeat(0xFFFFFF)))
                    reach = max(map(add, offs, map(rshift, bits, repeat(24))))
                    shifted = k == UNION and any(offs)
                else:
                    reach = max(bits)
                    shifted = k == UNION and any(bits)
                # (void is sizeless: one look-up finds either; base types are asked one by one)
                if (top >= limit or any(map(sizeless.__getitem__, refs)) or reach > st * 8 or shifted
                        or (split and min(refs) < start
                            and any(r < start and value_kind(r) in _NOT_VALUE_KINDS for r in refs))
                        or not all(map(named.__getitem__, words[off + 3:end:3]))):
                    _check_members(types, tid, off, sizeless, value_kind, fail)
                    check_ref(tid, top, "a member")
                if top > tid:
                    forward.append(tid)
        elif k in REF_KINDS:
            if st >= limit:
                check_ref(tid, st, "it")
            if st > tid:
                forward.append(tid)
            if k == TYPEDEF:
                if not plain[o] and not _ident(name_at(o)):
                    fail(tid, "name is not a valid identifier")
            elif k == VAR:
                if not plain[o] and not _ident(name_at(o)):
                    fail(tid, "name is not a valid identifier")
                if words[off + 3] > VAR_GLOBAL_EXTERN:
                    fail(tid, f"unknown linkage {words[off + 3]}")
                if st == 0 or value_kind(st) in _NOT_VALUE_KINDS:
                    fail(tid, f"type [{st}] is not the type of a variable")
            elif k == DECL_TAG or k == TYPE_TAG:
                name = name_at(o)
                if not name or not name.isprintable():
                    fail(tid, "name must be non-empty printable text")
                if k == DECL_TAG:
                    _check_decl_tag(types, tid, st, words[off + 3], kind_of, fail)
            elif o and name_at(o):
                fail(tid, "this kind must not have a name")
        elif k == ARRAY:
            if o and name_at(o):
                fail(tid, "this kind must not have a name")
            element = words[off + 3]
            check_ref(tid, max(element, words[off + 4]), "it")
            if element == 0 or value_kind(element) in _NOT_VALUE_KINDS:
                fail(tid, f"element type [{element}] is not a value type")
            if element > tid:
                forward.append(tid)
        elif k == ENUM or k == ENUM64:
            if o and not plain[o] and not _ident_or_empty(name_at(o)):
                fail(tid, "name is not a valid identifier")
            if st not in _ENUM_SIZES:
                fail(tid, f"size {st} is not 1, 2, 4 or 8")
            step = 2 if k == ENUM else 3
            e_offs = words[off + 3:off + 3 + step * (info & 0xFFFF):step]
            if not all(map(plain.__getitem__, e_offs)):
                for e_off in e_offs:
                    e_name = name_at(e_off)
                    if not _ident(e_name):
                        fail(tid, f"enumerator name {e_name!r} is not a valid identifier")
        elif k == FWD:
            if not plain[o] and not _ident(name_at(o)):
                fail(tid, "name is not a valid identifier")
        elif k == INT:
            v = words[off + 3]
            nr_bits, bit_off, encoding = v & 0xFF, (v >> 16) & 0xFF, (v >> 24) & 0x0F
            if not name_at(o).isprintable():
                fail(tid, "name must be printable text")
            if st not in _INT_SIZES:
                fail(tid, f"size {st} is not 1, 2, 4, 8 or 16")
            if encoding not in _INT_ENC:
                fail(tid, f"unknown encoding 0x{encoding:x}")
            if bit_off + nr_bits > 128 or bit_off + nr_bits > st * 8:
                fail(tid, f"{nr_bits} bits at offset {bit_off} do not fit in {st} bytes")
        elif k == DATASEC:
            name = name_at(o)
            if not name or not name.isprintable():
                fail(tid, "name must be non-empty printable text")
            entries = _entries(words, off + 3, info & 0xFFFF)
            _check_datasec(types, tid, st, entries, kind_of, fail)
            if any(e[0] > tid for e in entries):
                forward.append(tid)
        elif k == FLOAT:
            if not name_at(o).isprintable():
                fail(tid, "name must be printable text")
            if st not in _FLOAT_SIZES:
                fail(tid, f"size {st} is not 2, 4, 8, 12 or 16")
    if forward:
        _check_loops(types, path, forward)


def _check_params(types: TypeWords, tid: int, off: int, fail: Fail) -> None:
    """Check a FUNC_PROTO's parameters one by one, in order, to name the first that is wrong."""
    words = types.words
    end = off + 3 + 2 * (words[off + 1] & 0xFFFF)
    refs = words[off + 4:end:2]
    last = len(refs) - 1
    for i, (p_off, ref) in enumerate(zip(words[off + 3:end:2], refs)):
        p_name = types.name(p_off) if p_off else ""
        if p_name and not _ident(p_name):
            fail(tid, f"parameter {i} name {p_name!r} is not a valid identifier")
        if not ref and (p_name or i != last):
            fail(tid, f"parameter {i} is void (only an unnamed last parameter may be: varargs)")


def _check_members(types: TypeWords, tid: int, off: int, sizeless: bytearray,
                   value_kind: Callable[[int], int], fail: Fail) -> None:
    """Check a STRUCT's or UNION's members one by one, in order, to name the first that is wrong."""
    words = types.words
    info = words[off + 1]
    end = off + 3 + 3 * (info & 0xFFFF)
    size_bits = words[off + 2] * 8
    kflag = info >> 31
    start = types.start_id
    union = (info >> 24) & 0x1F == UNION
    top = 0
    for m_off, ref, o in zip(words[off + 3:end:3], words[off + 4:end:3], words[off + 5:end:3]):
        m_name = types.name(m_off)
        bit_off, bits = (o & 0xFFFFFF, o >> 24) if kflag else (o, 0)
        if ref > top:
            top = ref
        elif not ref:
            fail(tid, f"member {m_name!r} has type void")
        if (ref < len(sizeless) and sizeless[ref]) or (ref < start and value_kind(ref) in _NOT_VALUE_KINDS):
            fail(tid, f"member {m_name!r} has type [{ref}], which has no size")
        if bit_off + bits > size_bits:
            fail(tid, f"member {m_name!r} at bit {bit_off} lies outside the {size_bits // 8}-byte type")
        if bit_off and union:
            fail(tid, f"union member {m_name!r} at bit {bit_off}, not 0")
        if m_name and not _ident(m_name):
            fail(tid, f"member name {m_name!r} is not a valid identifier")


def _entries(words: Sequence[int], at: int, count: int) -> List[Tuple[int, int, int]]:
    """A DATASEC's entries: (type, offset, size)."""
    end = at + 3 * count
    return list(zip(words[at:end:3], words[at + 1:end:3], words[at + 2:end:3]))


def _check_datasec(types: TypeWords, tid: int, size: int, entries: List[Tuple[int, int, int]],
                   kind_of: Callable[[int], int], fail: Fail) -> None:
    limit = types.limit
    for ref, _, _ in entries:
        if not 0 < ref < limit or kind_of(ref) not in (VAR, FUNC):
            fail(tid, f"entry type [{ref}] is not a VAR or FUNC")
    problem = layout_problem(size, entries, lambda ref: _is_extern(types.kind(ref), types.linkage(ref)))
    if problem:
        fail(tid, problem)


def datasec_layout_problem(t: BtfType, btf: Btf) -> Optional[str]:
    """``layout_problem`` of a DATASEC record."""
    def is_extern(ref: int) -> bool:
        v = btf.get(ref)
        return v is not None and _is_extern(v.kind, v.linkage)
    return layout_problem(t.size, [(v.type, v.offset, v.size) for v in t.secinfo], is_extern)


def layout_problem(size: int, entries: List[Tuple[int, int, int]],
                   is_extern: Callable[[int], bool]) -> Optional[str]:
    """Why the entries (type, offset, size) of a laid-out DATASEC of ``size`` bytes overlap or
    leave the section, or None.

    Clang leaves sizes and offsets of an object's sections at 0 for libbpf to fill in: the rules
    apply once the section is laid out (size > 0), to the entries with storage (an extern
    declaration has none: libbpf drops it before loading). Linked objects may list entries out
    of offset order (libbpf sorts them when loading), so they are compared sorted."""
    if not size:
        return None
    stored = [e for e in entries if not is_extern(e[0])]
    end = 0
    for ref, offset, length in sorted(stored, key=lambda e: (e[1], e[2])):
        if offset < end:
            return f"entry [{ref}] at offset {offset} overlaps another"
        end = offset + length
        if end > size:
            return f"entry [{ref}] ({length} bytes at {offset}) exceeds the {size}-byte section"
    return None


def _is_extern(kind: int, linkage: int) -> bool:
    return (kind == VAR and linkage == VAR_GLOBAL_EXTERN) or (kind == FUNC and linkage == FUNC_EXTERN)


def _check_decl_tag(types: TypeWords, tid: int, target: int, component: int,
                    kind_of: Callable[[int], int], fail: Fail) -> None:
    target_kind = kind_of(target) if target else 0
    if target_kind not in (STRUCT, UNION, VAR, FUNC, TYPEDEF):
        fail(tid, f"target [{target}] is not a STRUCT, UNION, VAR, FUNC or TYPEDEF")
    idx = component - 0x100000000 if component & 0x80000000 else component
    if idx < -1:
        fail(tid, f"component index {idx} is below -1")
    if idx >= 0:
        if target_kind == FUNC:
            proto = types.ref(target)
            count = types.count(proto) if types.kind(proto) == FUNC_PROTO else 0
        elif target_kind in (STRUCT, UNION):
            count = types.count(target)
        else:
            count = 0
        if idx >= count:
            fail(tid, f"component index {idx} is not a member or parameter of [{target}]")


# The two searches of _check_loops: by kind, 2 where the search does not enter (the kinds it
# stops at and those that refer to nothing), and what a cycle found lacks. A cycle through a
# function prototype but no pointer needs a function-typed member or parameter, which has no
# size: walkers stop there, so the first search need not enter prototypes.
_LOOP_PASSES = tuple((bytes(2 * (k in stops or k in NO_REF_KINDS) for k in range(256)), rule) for stops, rule in (
    ((PTR, FUNC, FUNC_PROTO), "without a pointer"), ((STRUCT, UNION), "without a struct or union")))


def _check_loops(types: TypeWords, path: PathLike, roots: List[int]) -> None:
    """Every reference cycle must pass through a PTR and a STRUCT/UNION (``struct A { struct
    A *next; }``). A cycle without a pointer is a type containing itself; one without a struct
    is a pointer or modifier loop (``const * const * ...``): both have no size and no C
    spelling, and walking them never ends.

    A cycle contains at least one reference to a higher type id; ids refer mostly backwards,
    so the depth-first searches start only at ``roots``, the types with such a reference, and
    finish every type once. Base types never refer to split types: no cycle leaves this BTF.
    Each search marks by id what it need not enter from the start (void, base types, types
    without references, the kinds it stops at), so a step is one look-up; a type's references
    are one slice of its record (REFS_AT), listed when the search enters it."""
    start = types.start_id
    kinds, words, offsets = types.kinds, types.words, types.offsets
    refs_at = REFS_AT
    for not_entered, rule in _LOOP_PASSES:
        state = bytearray(b"\2") * start + kinds.translate(not_entered)  # 1 on the path, 2 finished
        for node in roots:
            if state[node]:
                continue
            state[node] = 1
            on_path: List[Tuple[int, Iterator[int]]] = []
            off = offsets[node - start]
            first, fixed, per, step = refs_at[kinds[node - start]]
            refs = iter(words[off + first:off + fixed + per * (words[off + 1] & 0xFFFF):step])
            while True:
                for ref in refs:
                    seen = state[ref]
                    if seen == 2:
                        continue
                    if seen == 1:
                        name = types.name(words[offsets[ref - start]])
                        raise BtfError(path, f"type [{ref}] {KIND_NAMES[kinds[ref - start]]} {name!r}: "
                                             f"refers back to itself {rule} (reference loop)")
                    state[ref] = 1
                    on_path.append((node, refs))
                    node = ref
                    off = offsets[node - start]
                    first, fixed, per, step = refs_at[kinds[node - start]]
                    refs = iter(words[off + first:off + fixed + per * (words[off + 1] & 0xFFFF):step])
                    break
                else:
                    state[node] = 2
                    if not on_path:
                        break
                    node, refs = on_path.pop()
