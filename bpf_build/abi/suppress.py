"""Suppressions: findings a project has reviewed and accepted, kept in a TOML file under version
control next to its baseline::

    [[suppress]]
    code = "field-type-changed"           # the finding's kind
    type = "struct bpf_map_create_opts"   # or symbol = "bpf_map__*" (globs allowed)
    field = "map_flags"
    reason = "int -> __u32: same size, flags never negative"   # mandatory

Every key given must match (``fnmatch`` globs); at least one of code, symbol, type, field is
required, so an entry cannot accept everything. A suppressed finding is kept as a note with its
reason. An entry that matched nothing is reported (a compatible change, so ``--strict`` fails on
it): a stale suppression would otherwise hide the next real break of the same name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import List, Optional

from ..errors import AbiError
from .findings import COMPATIBLE, NOTE, Finding
from .inputs import read_input, read_toml

SELECTORS = ("code", "symbol", "type", "field")
_TYPE_PREFIXES = ("struct ", "union ", "enum ")


@dataclass(frozen=True)
class Suppression:
    line: int
    reason: str
    code: Optional[str] = None
    symbol: Optional[str] = None
    type: Optional[str] = None
    field: Optional[str] = None

    def matches(self, f: Finding) -> bool:
        subject = f.symbol or ""
        is_type = subject.startswith(_TYPE_PREFIXES)
        if self.code is not None and not fnmatchcase(f.code, self.code):
            return False
        if self.type is not None and not (is_type and fnmatchcase(subject, self.type)):
            return False
        if self.symbol is not None:
            bare = re.split("@", subject, 1)[0]
            if is_type or not (fnmatchcase(subject, self.symbol) or fnmatchcase(bare, self.symbol)):
                return False
        if self.field is not None and not (f.field is not None and fnmatchcase(f.field, self.field)):
            return False
        return True

    def describe(self) -> str:
        return ", ".join(f"{k} = {getattr(self, k)!r}" for k in SELECTORS if getattr(self, k) is not None)


@dataclass
class Suppressions:
    path: str
    entries: List[Suppression]

    def apply(self, findings: List[Finding]) -> List[Finding]:
        used = set()
        out = []
        for f in findings:
            entry = next((e for e in self.entries if f.severity != NOTE and e.matches(f)), None)
            if entry is None:
                out.append(f)
                continue
            used.add(entry.line)
            out.append(f._replace(severity=NOTE, message=f"{f.message} (suppressed by {self.path}:{entry.line}: "
                                                          f"{entry.reason})"))
        for e in self.entries:
            if e.line not in used:
                out.append(Finding("unused-suppression", f"suppression ({e.describe()}) matched no finding; "
                                   "remove it", self.path, e.line, severity=COMPATIBLE))
        return out


def load_suppressions(path: str) -> Suppressions:
    data = read_toml(path)
    text = read_input(path).decode("utf-8")
    unknown = sorted(set(data) - {"suppress"})
    if unknown:
        raise AbiError(path, f"unknown top-level key {unknown[0]!r}; expected [[suppress]] tables")
    tables = data.get("suppress", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise AbiError(path, "'suppress' must be an array of tables ([[suppress]])")
    lines = [i for i, line in enumerate(text.splitlines(), 1) if re.match(r"\s*\[\[\s*suppress\s*\]\]", line)]
    entries = []
    for index, table in enumerate(tables):
        line = lines[index] if index < len(lines) else 0
        where = f"{path}:{line}" if line else path
        unknown = sorted(set(table) - set(SELECTORS) - {"reason"})
        if unknown:
            raise AbiError(where, f"unknown key {unknown[0]!r} (expected {', '.join(SELECTORS)}, reason)")
        if not all(isinstance(v, str) for v in table.values()):
            raise AbiError(where, "every value must be a string")
        if not table.get("reason", "").strip():
            raise AbiError(where, "a suppression needs a reason")
        if not any(k in table for k in SELECTORS):
            raise AbiError(where, f"a suppression needs at least one of {', '.join(SELECTORS)}")
        entries.append(Suppression(line, table["reason"].strip(), *(table.get(k) for k in SELECTORS)))
    return Suppressions(path, entries)


