"""The public headers filter: only what the installed headers declare is ABI.

A library's DWARF describes every struct its code uses, including internal ones that its public
headers only forward-declare (libbpf's ``struct btf_ext``: ``struct btf_ext;`` in btf.h, defined
in libbpf_internal.h). Callers can never see inside such a struct, so its layout is not ABI;
neither is anything reachable only through it. Like abidiff's ``--hd1/--hd2``, the headers are
the ones a user installs; they are read as text (comments and strings blanked, line numbers
kept) for three things:

- which struct/union/enum tags they define, and which they only forward-declare (opaque);
- the line of each definition and of each function declaration, so findings point at the
  header line a reviewer edits.

Types the headers mention but neither define nor forward-declare come from headers they include
(kernel UAPI ``enum bpf_link_type``) and stay ABI.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Set, Tuple

from ..errors import AbiError
from .inputs import read_input

Location = Tuple[str, int]
HEADER_SUFFIXES = (".h", ".hh", ".hpp")
_BLANKABLE = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.DOTALL)
_DEFINITION = re.compile(r"\b(struct|union|enum)\s+(\w+)\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?\{", re.DOTALL)
_FORWARD = re.compile(r"\b(struct|union|enum)\s+(\w+)\s*;")
_TAG_REFERENCE = re.compile(r"\b(struct|union|enum) (\w+|<\w+>)")


def _blank(match: "re.Match") -> str:
    """A comment or string becomes its newlines only: line numbers stay right."""
    return " " + "\n" * match.group(0).count("\n")


@dataclass
class PublicHeaders:
    files: List[str] = field(default_factory=list)
    defined: Dict[str, Location] = field(default_factory=dict)  # "struct foo" -> where
    forward: Set[str] = field(default_factory=set)  # tags only declared: opaque unless defined
    # Blanked texts, searched for a function's declaration only when a finding needs its line.
    texts: List[Tuple[str, str, List[int]]] = field(default_factory=list)
    declared: Dict[str, Optional[Location]] = field(default_factory=dict)  # memo of those searches

    @classmethod
    def from_paths(cls, paths: Iterable[str]) -> "PublicHeaders":
        headers = cls()
        for path in paths:
            path = os.fspath(path)
            if os.path.isdir(path):
                for directory, subdirs, names in os.walk(path):
                    subdirs.sort()
                    headers.files += [os.path.join(directory, n) for n in sorted(names) if n.endswith(HEADER_SUFFIXES)]
            elif os.path.exists(path):
                headers.files.append(path)
            else:
                raise AbiError(path, "no such header file or directory")
        if not headers.files:
            raise AbiError(", ".join(map(str, paths)) or None, "no header files (*.h) found for --headers")
        for path in headers.files:
            headers._scan(os.path.abspath(path))
        return headers

    def _scan(self, path: str) -> None:
        text = _BLANKABLE.sub(_blank, read_input(path).decode("utf-8", "replace"))
        line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.texts.append((path, text, line_starts))
        for m in _DEFINITION.finditer(text):
            self.defined.setdefault(f"{m.group(1)} {m.group(2)}", (path, bisect.bisect_right(line_starts, m.start())))
        for m in _FORWARD.finditer(text):
            self.forward.add(f"{m.group(1)} {m.group(2)}")

    def function_declaration(self, name: str) -> Optional[Location]:
        if name not in self.declared:
            self.declared[name] = None
            pattern = re.compile(r"(?<!\w)" + re.escape(name) + r"\s*\(")
            for path, text, line_starts in self.texts:
                m = pattern.search(text)
                if m:
                    self.declared[name] = (path, bisect.bisect_right(line_starts, m.start()))
                    break
        return self.declared[name]

    def is_opaque(self, tag: str) -> bool:
        return tag in self.forward and tag not in self.defined

    def locate(self, key: str) -> Optional[Location]:
        """A type ("struct foo") or exported symbol (name, name@@V) -> its public declaration."""
        if key in self.defined:
            return self.defined[key]
        return None if key.startswith(("struct ", "union ", "enum ")) else self.function_declaration(key.split("@", 1)[0])

    def restrict(self, types: Optional[dict]) -> Optional[dict]:
        """The surface without opaque types and what only they reach."""
        if types is None:
            return None
        records = {k: v for k, v in types.get("records", {}).items() if not self.is_opaque(k)}
        enums = types.get("enums", {})
        pending: List[str] = []
        for entry in types.get("functions", {}).values():
            pending += [entry["returns"], *entry["params"]]
        pending += list(types.get("variables", {}).values())
        reached: Set[str] = set()
        while pending:
            for m in _TAG_REFERENCE.finditer(pending.pop()):
                tag = f"{m.group(1)} {m.group(2)}"
                if tag in reached:
                    continue
                reached.add(tag)
                if tag in records:
                    pending += [f[2] for f in records[tag]["fields"]]
        return {**types, "records": {k: v for k, v in records.items() if k in reached},
                "enums": {k: v for k, v in enums.items() if k in reached}}
