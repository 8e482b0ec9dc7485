"""C names: which names C accepts, and the de-duplicated names one writer gives types.

Duplicate names (kernel BTF has several ``struct foo`` from different compilation units) get
``___2``, ``___3`` suffixes in the order they are first written. Tags (struct/union/enum) and
ordinary identifiers (typedefs, enumerators) are separate namespaces, as in C.
"""

from __future__ import annotations

import re
from itertools import repeat
from typing import Dict, List, Set

from ...model.btf import ENUM, FWD, TYPEDEF
from .context import TypeTable

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic "
    "_Imaginary _Noreturn _Static_assert _Thread_local".split())


def all_identifiers(names: List[str], empty_too: bool = False) -> bool:
    """Whether each of ``names`` (at least one) is an identifier C accepts (or, ``empty_too``,
    empty), found at once: an enum's enumerators, a struct's member names (empty: anonymous)."""
    # IDENTIFIER's rule by str methods (what ``Names.checked`` tests one name at a time), a third
    # quicker than one regex over the names joined: on ASCII text isidentifier is that rule.
    if empty_too:
        present = list(filter(None, names)) if "" in names else names
    elif not names:
        return False
    else:
        present = names
    return "".join(present).isascii() and all(map(str.isidentifier, present)) and C_KEYWORDS.isdisjoint(present)


def sanitize_identifier(name: str) -> str:
    """bpftool's rule for turning a section or variable name into a C identifier."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


class Names:
    """The names one writer has given: per namespace, how often each was used, and the name
    each type got."""

    def __init__(self, table: TypeTable):
        self.table = table
        self.tag_counts: Dict[str, int] = {}
        self.ident_counts: Dict[str, int] = {}
        self.resolved: Dict[int, str] = {}
        self.checked_names: Set[str] = set()  # names known to be usable in C

    def checked(self, name: str, tid: int, what: str = "", base_type: bool = False) -> str:
        """``name`` if it is usable in C, else a BtfError naming it as ``what`` (default: the kind
        of type ``tid``, spelled only for the error). Names are checked once per writer."""
        if name in self.checked_names:
            return name
        # str.isidentifier on ASCII text is IDENTIFIER's rule, at a fraction of a regex's cost
        # (a kernel has ~60k distinct names). Base type names are one or more words separated by
        # one space: "long unsigned int", "__int128 unsigned", "_Bool".
        if base_type:
            valid = name.isascii() and all(word.isidentifier() for word in name.split(" "))
        else:
            valid = name.isascii() and name.isidentifier() and name not in C_KEYWORDS
        if not valid:
            what = what or self.table.kind_name(tid).lower()
            raise self.table.error(tid, f"{what} name {name!r} is not a valid C identifier")
        self.checked_names.add(name)
        return name

    def _resolve(self, tid: int, counts: Dict[str, int]) -> str:
        name = self.resolved.get(tid)
        if name is not None:
            return name
        table = self.table
        name = table.type_names[tid]
        if name:
            self.checked(name, tid)
            # Forward declarations and empty enums never clash: they declare, not define.
            kind = table.kinds[tid]
            if not (kind == FWD or (kind == ENUM and not table.vlen(tid))):
                dups = counts.get(name, 0) + 1
                counts[name] = dups
                if dups > 1:
                    name = f"{name}___{dups}"
        self.resolved[tid] = name
        return name

    def tag(self, tid: int) -> str:
        """The name of a struct, union, enum or forward declaration (without the keyword)."""
        return self._resolve(tid, self.tag_counts)

    def ident(self, tid: int) -> str:
        """The name of a typedef."""
        return self._resolve(tid, self.ident_counts)

    def type_name(self, tid: int) -> str:
        return self.ident(tid) if self.table.kinds[tid] == TYPEDEF else self.tag(tid)

    def enumerators(self, names: List[str], tid: int) -> List[str]:
        """The names of the enumerators of enum ``tid``, given their BTF names: enumerators share
        the ordinary namespace."""
        checked = all_identifiers(names)  # else each checked as it is named, the first bad one failing
        counts = self.ident_counts
        if checked and counts.keys().isdisjoint(names) and len(set(names)) == len(names):
            counts.update(zip(names, repeat(1)))  # the usual: each name new, used once
            return names
        resolved = []
        for name in names:
            if not checked:
                self.checked(name, tid, "enumerator")
            dups = counts.get(name, 0) + 1
            counts[name] = dups
            resolved.append(f"{name}___{dups}" if dups > 1 else name)
        return resolved
