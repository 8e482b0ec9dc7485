"""`[tool.bpf-abi]` in the project's pyproject.toml: the settings a release CI passes every time.

    [tool.bpf-abi]
    headers = ["include/bpf"]          # public headers (files or directories), relative to the project
    old-headers = ["abi/headers"]      # the released headers, when they differ
    suppressions = "abi/suppressions.toml"
    size-versioned = ["struct bpf_map_skeleton"]
    strict = false

Command-line options win over these. Paths are relative to the directory of pyproject.toml.
"""

from __future__ import annotations

import os
from typing import List, Optional

from ..errors import AbiError
from .inputs import read_input, read_toml

KEYS = ("headers", "old-headers", "suppressions", "size-versioned", "strict")


class AbiSettings:
    def __init__(self, headers: Optional[List[str]] = None, old_headers: Optional[List[str]] = None,
                 suppressions: Optional[str] = None, size_versioned: Optional[List[str]] = None,
                 strict: bool = False):
        self.headers: List[str] = headers or []
        self.old_headers: List[str] = old_headers or []
        self.suppressions = suppressions
        self.size_versioned: List[str] = size_versioned or []
        self.strict = strict


def load_settings(root: str) -> AbiSettings:
    """The [tool.bpf-abi] table of root/pyproject.toml; defaults when there is none."""
    path = os.path.join(root, "pyproject.toml")
    if not os.path.isfile(path) or b"bpf-abi" not in read_input(path):  # most projects: no TOML parser
        return AbiSettings()
    table = read_toml(path).get("tool", {}).get("bpf-abi")
    if table is None:
        return AbiSettings()
    where = f"{path}: [tool.bpf-abi]"
    if not isinstance(table, dict):
        raise AbiError(where, "must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise AbiError(where, f"unknown key {unknown[0]!r} (expected {', '.join(KEYS)})")

    def strings(key: str) -> List[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AbiError(where, f"{key} must be a list of strings")
        return value

    def relative(p: str) -> str:
        return os.path.normpath(os.path.join(root, p))

    suppressions = table.get("suppressions")
    if suppressions is not None and not isinstance(suppressions, str):
        raise AbiError(where, "suppressions must be a path (a string)")
    strict = table.get("strict", False)
    if not isinstance(strict, bool):
        raise AbiError(where, "strict must be true or false")
    return AbiSettings([relative(p) for p in strings("headers")], [relative(p) for p in strings("old-headers")],
                       relative(suppressions) if suppressions else None, strings("size-versioned"), strict)
