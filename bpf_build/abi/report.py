"""Render an Outcome as readable text, JSON, or GitHub workflow annotations."""

from __future__ import annotations

import json
from typing import List

from .findings import Finding, Outcome

FORMATS = ("text", "json", "github")


def render(outcome: Outcome, fmt: str) -> str:
    if fmt == "json":
        return render_json(outcome)
    if fmt == "github":
        return render_github(outcome)
    return render_text(outcome)


def _location(f: Finding) -> str:
    return f"{f.file}:{f.line}" if f.line else f.file


def render_text(outcome: Outcome) -> str:
    lines: List[str] = [f"{_location(f)}: error: {f.message} [{f.code}]" for f in outcome.sorted_findings()]
    lines += [f"note: {n}" for n in outcome.notes]
    count = len(outcome.sorted_findings())
    if count:
        lines.append(f"bpf-abi {outcome.command}: {count} ABI problem{'s' if count != 1 else ''}")
    else:
        lines.append(f"bpf-abi {outcome.command}: clean{f' ({outcome.summary})' if outcome.summary else ''}")
    return "\n".join(lines) + "\n"


def render_json(outcome: Outcome) -> str:
    doc = {
        "command": outcome.command,
        "clean": outcome.clean,
        "findings": [f.to_json() for f in outcome.sorted_findings()],
        "notes": list(outcome.notes),
        "summary": outcome.summary,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(outcome: Outcome) -> str:
    """One `::error` workflow command per finding; GitHub shows it on the named file and line."""
    lines = []
    for f in outcome.sorted_findings():
        props = [f"file={_escape_property(f.file)}"]
        if f.line:
            props.append(f"line={f.line}")
        props.append(f"title={_escape_property('bpf-abi ' + f.code)}")
        lines.append(f"::error {','.join(props)}::{_escape_data(f.message)}")
    for n in outcome.notes:
        lines.append(f"::notice title=bpf-abi::{_escape_data(n)}")
    return "\n".join(lines) + ("\n" if lines else "")
