"""Whole-column proof that structs, unions and function prototypes keep validate.py's rules.

validate.py's record loop states each rule once and names the first one broken. For most kinds
it is as quick as Python gets (a FUNC: ~170 ns), but a record with entries costs it a dozen
calls (vmlinux: ~13k structs and unions with ~67k members, ~29k prototypes with ~83k
parameters: over half the loop). Here the entries of all of them are read as columns (every
member's name offset, type id and bit offset; every parameter's name offset and type id) and
each rule asked of a whole column at once with ``max``, ``in`` and ``any`` at C speed. The
answer is only ever "certainly all good": a broken rule, a base type to look up or a name to
read leaves the records of that kind to the loop, which then finds the same first problem,
worded the same, as it would alone.

Measured and left out: columns for the kinds without entries (FUNC, PTR, TYPEDEF, ...), which
cost more than the loop's own test (gathering a column is ~20 ns a record a word), and for
framing's entry-name bounds (the same).

tests/model/test_btf_validate_columns.py breaks each column's rule and compares the answers with
the loop's alone.
"""

from __future__ import annotations

import array
import sys
from bisect import bisect_left, bisect_right
from itertools import chain, compress, repeat
from operator import add, and_, gt, itemgetter, mul, rshift
from typing import Callable, List, NamedTuple, Optional, Sequence, Set, Tuple, Union, cast

from .kinds import FUNC_PROTO, STRUCT, UNION
from .words import TypeWords

# kind_flag in a record's top info byte (framing refused the reserved bits beside it).
_KFLAG = 0x80
# The top info bytes proven here: (top, kind_flag, union).
_TOPS = ((STRUCT, False, False), (STRUCT | _KFLAG, True, False), (UNION, False, True), (UNION | _KFLAG, True, True))


class Proof(NamedTuple):
    """Which records all keep their rules, by top info byte, and which of those refer to a
    higher id."""

    proven: bytes  # by top info byte (kind_flag and kind): 1 where the loop may skip the records
    forward: List[int]  # the proven records' ids that refer to a higher id (sorted)


def tops_of(types: TypeWords) -> bytes:
    """The top byte of each record's info word (kind_flag, reserved bits, kind), in id order."""
    infos = types.infos
    if infos is None:
        infos = array.array("I", _at(types.words, types.offsets, 1))
    raw = infos.tobytes() if isinstance(infos, array.array) else array.array("I", infos).tobytes()
    return raw[3::4] if sys.byteorder == "little" else raw[0::4]


def prove(types: TypeWords, tops: bytes, plain: Union[bytes, bytearray], sizeless: bytearray) -> Proof:
    """The STRUCT, UNION and FUNC_PROTO records that certainly keep validate.py's rules, by top
    info byte (see _members and _params). ``plain``: NameTable.plain_starts(); ``sizeless``:
    validate.py's table of own ids without a size, directly or behind typedefs and qualifiers.

    Read _CHUNK records at a time: a kernel's columns whole would hold ~5 MiB of ints."""
    proven = bytearray(256)
    forward: Set[int] = set()
    for top, kflag, union in _TOPS:
        at = _find_all(tops, top)
        found = _in_chunks(at, lambda part: _members(types, part, plain, sizeless, kflag, union))
        if found is not None:
            proven[top] = 1
            forward |= found
    if tops.find(FUNC_PROTO) >= 0:
        at = list(compress(range(len(tops)), tops.translate(_IS_FUNC_PROTO)))
        by_id = _offsets_by_id(types)
        found = _in_chunks(at, lambda part: _params(types, part, plain, by_id))
    else:
        found = set()
    if found is not None:
        proven[FUNC_PROTO] = 1
        forward |= found
    return Proof(bytes(proven), sorted(forward))


_CHUNK = 1024


def _in_chunks(at: List[int], prover: Callable[[List[int]], Optional[Set[int]]]) -> Optional[Set[int]]:
    """What ``prover`` finds for all of ``at``, asked _CHUNK at a time; None if any part fails."""
    found: Set[int] = set()
    for i in range(0, len(at), _CHUNK):
        part = prover(at[i:i + _CHUNK])
        if part is None:
            return None
        found |= part
    return found


def _all_plain_or_none(plain: Union[bytes, bytearray], name_offs: Sequence[int]) -> bool:
    """Every name offset 0 (no name) or at a plain identifier (plain[0] is 0: "" is not one)."""
    return _gather(plain, name_offs).count(0) == name_offs.count(0)


_IS_FUNC_PROTO = bytes(int(t == FUNC_PROTO) for t in range(256))


def _members(types: TypeWords, at: List[int], plain: Union[bytes, bytearray], sizeless: bytearray,
             kflag: bool, union: bool) -> Optional[Set[int]]:
    """The ids of these STRUCTs or UNIONs (``at``: their indexes) that refer to a higher id, if
    each certainly has a name that is a plain identifier or none, and members of an existing
    own type with a size, named by plain identifiers or not at all, inside the type (a union's
    at bit 0); None if any may not."""
    words = types.words
    offs = _gather(types.offsets, at)
    if not offs:
        return set()
    if not _all_plain_or_none(plain, _gather(words, offs)):
        return None  # a name to read
    vlens = list(map(and_, _at(words, offs, 1), repeat(0xFFFF)))
    firsts = list(map(add, offs, repeat(3)))
    members = list(chain.from_iterable(map(words.__getitem__, map(slice, firsts, map(
        add, firsts, map(mul, vlens, repeat(3)))))))
    names, refs, bits = members[0::3], members[1::3], members[2::3]
    if not refs:
        return set()
    if min(refs) < types.start_id or max(refs) >= types.limit:
        return None  # void, a base type to look up, or no such type
    if 1 in _gather(sizeless, refs) or not _all_plain_or_none(plain, names):
        return None
    if kflag:  # a bitfield's size in the top byte, its offset below
        offsets = list(map(and_, bits, repeat(0xFFFFFF)))
        reach = list(map(add, offsets, map(rshift, bits, repeat(24))))
    else:
        offsets = reach = bits
    if union and any(offsets):
        return None
    size_bits = map(mul, _at(words, offs, 2), repeat(8))
    if any(map(gt, reach, chain.from_iterable(map(repeat, size_bits, vlens)))):
        return None
    tids = list(chain.from_iterable(map(repeat, map(add, at, repeat(types.start_id)), vlens)))
    return set(compress(tids, map(gt, refs, tids)))


def _params(types: TypeWords, at: List[int], plain: Union[bytes, bytearray],
            offsets_by_id: Sequence[int]) -> Optional[Set[int]]:
    """The ids of these FUNC_PROTOs (``at``: their indexes) that refer to a higher id, if each
    certainly has no name, an existing return type and parameters of existing types named by
    plain identifiers or not at all, void only as an unnamed last one (varargs); None if any
    may not."""
    words = types.words
    offs = _gather(types.offsets, at)
    if not offs:
        return set()
    returns = _at(words, offs, 2)
    if any(_gather(words, offs)) or max(returns) >= types.limit:
        return None  # a name to read, no such return type
    tids = list(map(add, at, repeat(types.start_id)))
    found = set(compress(tids, map(gt, returns, tids)))
    vlens = list(map(and_, _at(words, offs, 1), repeat(0xFFFF)))
    firsts = list(map(add, offs, repeat(3)))
    ends = list(map(add, firsts, map(mul, vlens, repeat(2))))
    names = list(chain.from_iterable(map(range, firsts, ends, repeat(2))))
    if not names:
        return found
    refs = _at(words, names, 1)
    if max(refs) >= types.limit or not _all_plain_or_none(plain, _gather(words, names)):
        return None
    void = _index(refs, 0, 0)
    while void >= 0:  # varargs: only an unnamed last parameter may be void
        at_word = names[void]
        if words[at_word] or ends[bisect_left(ends, at_word)] != at_word + 2:
            return None
        void = _index(refs, 0, void + 1)
    # A parameter refers to a higher id than its prototype's where it refers to a type that
    # starts after it (ids and offsets rise together): its prototype is found for those only.
    for at_word in compress(names, map(gt, _gather(offsets_by_id, refs), names)):
        found.add(tids[bisect_right(offs, at_word) - 1])
    return found


def _offsets_by_id(types: TypeWords) -> Sequence[int]:
    """Where each type starts, by id (0 for void and the base's)."""
    offsets = types.offsets
    if isinstance(offsets, array.array):
        return array.array(offsets.typecode, bytes(offsets.itemsize * types.start_id)) + offsets
    return [0] * types.start_id + list(offsets)


def _index(values: Sequence[int], value: int, start: int) -> int:
    """Where ``value`` is in ``values`` from ``start`` on, -1 if nowhere."""
    try:
        return values.index(value, start)
    except ValueError:
        return -1


def _find_all(tops: bytes, top: int) -> List[int]:
    """Where ``top`` is in ``tops`` (a find each: the kinds here are a tenth of a kernel's)."""
    found = []
    at = tops.find(top)
    while at >= 0:
        found.append(at)
        at = tops.find(top, at + 1)
    return found


def _at(words: Sequence[int], offs: Sequence[int], delta: int) -> Sequence[int]:
    """``words[off + delta]`` for each off of ``offs``."""
    if isinstance(words, array.array):  # a view from word delta on: no copy, no addition
        return _gather(cast(Sequence[int], memoryview(words)[delta:]), offs)
    return _gather(words, list(map(add, offs, repeat(delta))))


def _gather(view: Sequence[int], at: Sequence[int]) -> Sequence[int]:
    """``view[i]`` for each i of ``at`` (itemgetter: C speed, no call an item)."""
    if len(at) > 1:
        return cast(Tuple[int, ...], itemgetter(*at)(view))
    return [view[i] for i in at]
