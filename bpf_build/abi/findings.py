"""A finding is one ABI problem a maintainer must act on; bad input is an AbiError instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional


@dataclass(frozen=True)
class Finding:
    code: str  # stable kebab-case identifier, e.g. "map-entry-not-exported"
    message: str
    file: str  # the file to fix (the map for map findings, else the library or baseline)
    line: Optional[int] = None
    symbol: Optional[str] = None
    node: Optional[str] = None

    def sort_key(self):
        return (self.file, self.line or 0, self.code, self.symbol or "", self.message)

    def to_json(self) -> dict:
        out = {"code": self.code, "file": self.file, "message": self.message}
        if self.line is not None:
            out["line"] = self.line
        if self.symbol is not None:
            out["symbol"] = self.symbol
        if self.node is not None:
            out["node"] = self.node
        return out


@dataclass
class Outcome:
    """What a command found: findings (exit 1 when any) and notes (context, never a failure)."""

    command: str
    findings: List[Finding] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    summary: str = ""

    def sorted_findings(self) -> List[Finding]:
        unique = {f.sort_key(): f for f in self.findings}
        return [unique[k] for k in sorted(unique)]

    @property
    def clean(self) -> bool:
        return not self.findings
