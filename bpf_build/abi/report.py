"""Render an Outcome as readable text, JSON, or GitHub workflow annotations.

File names are shown relative to ``root`` (the repository) when they lie inside it, so GitHub
puts annotations on the repository's own files (a header line, a map line).
"""

from __future__ import annotations

import json
import os
from typing import List, Optional

from .findings import COMPATIBLE, INCOMPATIBLE, NOTE, Finding, Outcome

FORMATS = ("text", "json", "github")
_TEXT_LABEL = {INCOMPATIBLE: "error", COMPATIBLE: "warning", NOTE: "note"}
_GITHUB_COMMAND = {INCOMPATIBLE: "error", COMPATIBLE: "warning", NOTE: "notice"}


def render(outcome: Outcome, fmt: str, root: Optional[str] = None) -> str:
    if fmt == "json":
        return render_json(outcome, root)
    if fmt == "github":
        return render_github(outcome, root)
    return render_text(outcome, root)


def display_path(path: str, root: Optional[str]) -> str:
    """``path`` relative to ``root`` when it is inside it; otherwise unchanged."""
    if root is None:
        return path
    absolute, top = os.path.abspath(path), os.path.abspath(root)
    if absolute == top or not absolute.startswith(top.rstrip(os.sep) + os.sep):
        return path
    return os.path.relpath(absolute, top).replace(os.sep, "/")


def _location(f: Finding, root: Optional[str]) -> str:
    path = display_path(f.file, root)
    return f"{path}:{f.line}" if f.line else path


def _counts(outcome: Outcome) -> str:
    parts = []
    for severity, noun in ((INCOMPATIBLE, "incompatible change"), (COMPATIBLE, "compatible change"),
                           (NOTE, "note")):
        n = outcome.count(severity)
        if n:
            parts.append(f"{n} {noun}{'' if n == 1 else 's'}")
    return ", ".join(parts)


def render_text(outcome: Outcome, root: Optional[str] = None) -> str:
    lines: List[str] = [f"{_location(f, root)}: {_TEXT_LABEL[f.severity]}: {f.message} [{f.code}]"
                        for f in outcome.sorted_findings()]
    lines += [f"note: {n}" for n in outcome.notes]
    counts = _counts(outcome)
    if not outcome.clean:
        lines.append(f"bpf-abi {outcome.command}: {counts}")
    else:
        detail = "; ".join(p for p in (outcome.summary, counts) if p)
        lines.append(f"bpf-abi {outcome.command}: clean{f' ({detail})' if detail else ''}")
    return "\n".join(lines) + "\n"


def render_json(outcome: Outcome, root: Optional[str] = None) -> str:
    findings = []
    for f in outcome.sorted_findings():
        entry = f.to_json()
        entry["file"] = display_path(f.file, root)
        findings.append(entry)
    doc = {
        "command": outcome.command,
        "clean": outcome.clean,
        "counts": {s: outcome.count(s) for s in (INCOMPATIBLE, COMPATIBLE, NOTE)},
        "findings": findings,
        "notes": list(outcome.notes),
        "summary": outcome.summary,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(outcome: Outcome, root: Optional[str] = None) -> str:
    """`::error` for incompatible changes only, `::warning` for compatible ones, `::notice` for
    notes; GitHub shows each on the named file and line."""
    lines = []
    for f in outcome.sorted_findings():
        props = [f"file={_escape_property(display_path(f.file, root))}"]
        if f.line:
            props.append(f"line={f.line}")
        props.append(f"title={_escape_property('bpf-abi ' + f.code)}")
        lines.append(f"::{_GITHUB_COMMAND[f.severity]} {','.join(props)}::{_escape_data(f.message)}")
    for n in outcome.notes:
        lines.append(f"::notice title=bpf-abi::{_escape_data(n)}")
    return "\n".join(lines) + ("\n" if lines else "")
