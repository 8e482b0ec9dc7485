"""A finding is one ABI change a maintainer should know about; bad input is an AbiError instead.

Every finding has a severity, which decides the exit status:

- ``incompatible``: binaries or sources built against the old release break (exit 1);
- ``compatible``: a change callers can live with, reported so it is reviewed (exit 0, or 1 with
  ``--strict``);
- ``note``: context that never fails (what a SONAME bump removed, suppressed findings).
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional

INCOMPATIBLE, COMPATIBLE, NOTE = "incompatible", "compatible", "note"
SEVERITIES = (INCOMPATIBLE, COMPATIBLE, NOTE)
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


class Finding(NamedTuple):
    code: str  # stable kebab-case identifier, e.g. "map-entry-not-exported"
    message: str
    file: str  # the file to fix (the map for map findings, the header for types, else the library)
    line: Optional[int] = None
    symbol: Optional[str] = None  # exported symbol (name or name@@VERSION) or type ("struct foo")
    node: Optional[str] = None
    severity: str = INCOMPATIBLE
    field: Optional[str] = None  # the struct field or enumerator concerned

    def sort_key(self):
        return (_RANK[self.severity], self.file, self.line or 0, self.code, self.symbol or "", self.message)

    def with_severity(self, severity: str) -> "Finding":
        return self._replace(severity=severity)

    def to_json(self) -> dict:
        out = {"code": self.code, "file": self.file, "message": self.message, "severity": self.severity}
        for key in ("line", "symbol", "node", "field"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


class Outcome:
    """What a command found: findings of every severity, and free-form notes (never a failure)."""

    def __init__(self, command: str, findings: Optional[List[Finding]] = None, notes: Optional[List[str]] = None,
                 summary: str = ""):
        self.command = command
        self.findings: List[Finding] = findings if findings is not None else []
        self.notes: List[str] = notes if notes is not None else []
        self.summary = summary

    def sorted_findings(self) -> List[Finding]:
        unique = {f.sort_key(): f for f in self.findings}
        return [unique[k] for k in sorted(unique)]

    def count(self, severity: str) -> int:
        return sum(1 for f in self.sorted_findings() if f.severity == severity)

    @property
    def clean(self) -> bool:
        """Nothing incompatible (compatible changes and notes may be present)."""
        return self.count(INCOMPATIBLE) == 0

    def exit_code(self, strict: bool = False) -> int:
        """0 compatible, 1 incompatible; with strict, compatible changes fail as well."""
        failing = self.count(INCOMPATIBLE) + (self.count(COMPATIBLE) if strict else 0)
        return 1 if failing else 0
