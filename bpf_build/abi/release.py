"""The library's release version: from `--release X.Y[.Z]` or LIBBPF_MAJOR_VERSION-style macros."""

from __future__ import annotations

import os
import re
from typing import Dict, Optional, Tuple

from ..errors import AbiError, UsageError
from .inputs import read_input

Release = Tuple[int, ...]

_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+(\w+)_(MAJOR|MINOR|PATCH)_VERSION[ \t]+\(?[ \t]*(\d+)[uUlL]*[ \t]*\)?[ \t]*(?:/[/*].*)?$",
                     re.MULTILINE)


def parse_release(text: str) -> Release:
    if not re.fullmatch(r"\d+\.\d+(\.\d+)?", text):
        raise UsageError(None, f"--release: expected X.Y or X.Y.Z, got {text!r}")
    return tuple(int(p) for p in text.split("."))


def read_release_header(path, preferred_prefix: str = "LIBBPF") -> Release:
    """Find <P>_MAJOR_VERSION and <P>_MINOR_VERSION (and optionally _PATCH_) for one prefix P.

    The node prefix wins when several prefixes define versions (libbpf_version.h style)."""
    path = os.fspath(path)
    text = read_input(path).decode("utf-8", "replace")
    found: Dict[str, Dict[str, int]] = {}
    for prefix, part, value in _DEFINE.findall(text):
        found.setdefault(prefix, {})[part] = int(value)
    complete = {p: parts for p, parts in found.items() if "MAJOR" in parts and "MINOR" in parts}
    chosen: Optional[str] = None
    if preferred_prefix in complete:
        chosen = preferred_prefix
    elif len(complete) == 1:
        chosen = next(iter(complete))
    elif len(complete) > 1:
        raise AbiError(path, "several *_MAJOR_VERSION/*_MINOR_VERSION pairs ("
                       + ", ".join(sorted(complete)) + f"); none is {preferred_prefix}")
    if chosen is None:
        raise AbiError(path, f"no {preferred_prefix}_MAJOR_VERSION and {preferred_prefix}_MINOR_VERSION definitions")
    parts = complete[chosen]
    release = (parts["MAJOR"], parts["MINOR"])
    return release + (parts["PATCH"],) if "PATCH" in parts else release


def format_release(release: Release) -> str:
    return ".".join(str(p) for p in release)
