"""The public headers filter: only what the installed headers declare is ABI.

A library's DWARF describes every struct its code uses, including internal ones that its public
headers only forward-declare (libbpf's ``struct btf_ext``: ``struct btf_ext;`` in btf.h, defined
in libbpf_internal.h). Callers can never see inside such a struct, so its layout is not ABI;
neither is anything reachable only through it. Like abidiff's ``--hd1/--hd2``, the headers are
the ones a user installs; they are read as text (comments and strings blanked; a line is counted
in the original text only for a finding that points at it) for three things:

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
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Set, Tuple

from ..errors import AbiError
from .inputs import read_input

Location = Tuple[str, int]
HEADER_SUFFIXES = (".h", ".hh", ".hpp")
# What may start a comment, a string or a character constant; and the last two.
_OPENINGS = "/\"'"
_QUOTED = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.DOTALL)
# A tag keyword at a word boundary starts both; the boundary is checked apart (see _tags), since a
# pattern that starts with \b cannot skip ahead to the keywords.
_DEFINITION = re.compile(r"(struct|union|enum)\s+(\w+)\s*(?:__attribute__\s*\(\(.*?\)\)\s*)?\{", re.DOTALL)
_FORWARD = re.compile(r"(struct|union|enum)\s+(\w+)\s*;")
# Both at once (group 3 is the ';' of a forward declaration), for one pass over the candidates.
# It finds what the two passes find unless a definition's __attribute__ spans another tag keyword
# (only an attribute's lazy .*? can run past one): _scan checks for that and then takes two passes.
_DECLARATION = re.compile(r"(struct|union|enum)\s+(\w+)\s*(?:(;)|(?:__attribute__\s*\(\(.*?\)\)\s*)?\{)",
                          re.DOTALL)
_TAG_KEYWORDS = ("struct", "union", "enum")
_TAG_REFERENCE = re.compile(r"\b(struct|union|enum) (\w+|<\w+>)")


class _Blanked(NamedTuple):
    """A header's text with each comment, string and character constant replaced by one space:
    the patterns see only code, and most of a documented header is comments (libbpf's
    bpf_helper_defs.h shrinks to an eighth), so everything after reads far less. A match's line is
    counted in the original text only when asked for (line_of)."""

    text: str
    original: str
    cuts: List[int]  # the position in text just after each replacement, increasing
    resumes: List[int]  # where the original text resumes there

    def line_of(self, pos: int) -> int:
        cut = bisect.bisect_right(self.cuts, pos) - 1
        original_pos = pos if cut < 0 else self.resumes[cut] + pos - self.cuts[cut]
        return self.original.count("\n", 0, original_pos) + 1


def _blanked(text: str) -> _Blanked:
    """Blank comments, strings and character constants (see _Blanked). Jumping from one to the end
    of the next with str.find is several times faster than a regex over all of the text, and so is
    finding the next opening character as the nearest of three str.find (memchr) results, each kept
    until the scan passes it, rather than by a character-class search."""
    pieces: List[str] = []
    cuts: List[int] = []
    resumes: List[int] = []
    kept, pos, length = 0, 0, 0
    ahead = [text.find(c) for c in _OPENINGS]  # the next of each at or after pos; -1: none left
    while True:
        start = -1
        for i, at in enumerate(ahead):
            if 0 <= at < pos:
                at = ahead[i] = text.find(_OPENINGS[i], pos)
            if at >= 0 and (start < 0 or at < start):
                start = at
        if start < 0:
            break
        if text[start] != "/":
            quoted = _QUOTED.match(text, start)
            end = quoted.end() if quoted else -1
        elif text.startswith("/*", start):
            end = text.find("*/", start + 2)
            end = end + 2 if end >= 0 else -1
        elif text.startswith("//", start):
            end = text.find("\n", start)
            end = end if end >= 0 else len(text)
        else:
            end = -1
        if end < 0:  # not the start of one (an unterminated one is left as it is)
            pos = start + 1
            continue
        pieces += [text[kept:start], " "]
        length += start - kept + 1
        cuts.append(length)
        resumes.append(end)
        kept = pos = end
    pieces.append(text[kept:])
    return _Blanked("".join(pieces), text, cuts, resumes)


def _keyword_positions(text: str) -> List[int]:
    """Where "struct", "union" or "enum" occurs not right after a word character, in order: str.find
    jumps between them far faster than a pattern starting with an alternation searches, and every
    match _tags wants starts at one of them."""
    positions: List[int] = []
    for keyword in _TAG_KEYWORDS:
        pos = text.find(keyword)
        while pos >= 0:
            if not pos or not ((before := text[pos - 1]).isalnum() or before == "_"):  # not after \w
                positions.append(pos)
            pos = text.find(keyword, pos + 1)
    positions.sort()
    return positions


def _tags(pattern: "re.Pattern", text: str, candidates: List[int]) -> Iterator["re.Match"]:
    """The matches \\b + ``pattern`` would find (``candidates``: _keyword_positions(text)): a match
    that follows a word character is not one, and the search goes on from just after its start.
    Trying the pattern at each candidate from where the search stands finds what searching from
    there would, since such a match can only start at one."""
    pos = 0
    for start in candidates:
        if start >= pos:
            m = pattern.match(text, start)
            if m is not None:
                yield m
                pos = m.end() if m.end() > m.start() else m.start() + 1


def _declarations(text: str, candidates: List[int]) -> Tuple[List["re.Match"], List["re.Match"]]:
    """The tag definitions and forward declarations, in order, as _tags finds them with _DEFINITION
    and _FORWARD, in one pass: half the matching. Neither kind of match holds another candidate
    keyword that could match (its tag name is one word), so one pass skips nothing the two would
    have tried, except past a definition's __attribute__; if one spans a keyword, two passes."""
    definitions: List["re.Match"] = []
    forwards: List["re.Match"] = []
    for m in _tags(_DECLARATION, text, candidates):
        if m.group(3) is not None:
            forwards.append(m)
        elif "__attribute__" in m.group(0) and any(keyword in text[m.end(2):m.end()] for keyword in _TAG_KEYWORDS):
            return list(_tags(_DEFINITION, text, candidates)), list(_tags(_FORWARD, text, candidates))
        else:
            definitions.append(m)
    return definitions, forwards


class _Scan(NamedTuple):
    """What one header declares: its blanked text, the position of each tag's first definition in
    it, and the tags it forward-declares."""

    blanked: _Blanked
    definitions: Dict[str, int]
    forwards: Set[str]


# The headers scanned in this process, by content: a diff reads the released headers and the new
# ones, and most files of a release are unchanged in the next (libbpf: 7 of 13). Looked up by
# length and ends, then compared whole (cheaper than hashing every text); dropped past a bound so a
# long-lived caller does not grow without end.
_SCANS: Dict[Tuple[int, bytes, bytes], List[Tuple[bytes, _Scan]]] = {}
_SCANS_KEPT = 512


def forget_scans() -> None:
    """Drop the scans kept (a benchmark run starts as a fresh process would)."""
    _SCANS.clear()


def _scan_of(raw: bytes) -> _Scan:
    key = (len(raw), raw[:64], raw[-64:])
    for known, scan in _SCANS.get(key, ()):
        if known == raw:
            return scan
    blanked = _blanked(raw.decode("utf-8", "replace"))
    text = blanked.text
    definitions: Dict[str, int] = {}
    found, forwards = _declarations(text, _keyword_positions(text))
    for m in found:
        definitions.setdefault(f"{m.group(1)} {m.group(2)}", m.start())
    scan = _Scan(blanked, definitions, {f"{m.group(1)} {m.group(2)}" for m in forwards})
    if len(_SCANS) >= _SCANS_KEPT:
        _SCANS.clear()
    _SCANS.setdefault(key, []).append((raw, scan))
    return scan


class PublicHeaders:
    def __init__(self) -> None:
        self.files: List[str] = []
        # "struct foo" -> its first definition: (index in texts, position); its line is counted
        # only for a finding that points at it.
        self.defined: Dict[str, Tuple[int, int]] = {}
        self.forward: Set[str] = set()  # tags only declared: opaque unless defined
        # Blanked texts, searched for a function's declaration only when a finding needs its line.
        self.texts: List[Tuple[str, _Blanked]] = []
        self.declared: Dict[str, Optional[Location]] = {}  # memo of those searches

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
        scan = _scan_of(read_input(path))
        index = len(self.texts)
        self.texts.append((path, scan.blanked))
        for tag, pos in scan.definitions.items():
            self.defined.setdefault(tag, (index, pos))
        self.forward |= scan.forwards

    def function_declaration(self, name: str) -> Optional[Location]:
        if name not in self.declared:
            self.declared[name] = None
            pattern = re.compile(r"(?<!\w)" + re.escape(name) + r"\s*\(")
            for path, blanked in self.texts:
                m = pattern.search(blanked.text)
                if m:
                    self.declared[name] = (path, blanked.line_of(m.start()))
                    break
        return self.declared[name]

    def is_opaque(self, tag: str) -> bool:
        return tag in self.forward and tag not in self.defined

    def locate(self, key: str) -> Optional[Location]:
        """A type ("struct foo") or exported symbol (name, name@@V) -> its public declaration."""
        if key in self.defined:
            index, pos = self.defined[key]
            path, blanked = self.texts[index]
            return path, blanked.line_of(pos)
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
        spelled: Set[str] = set()  # type spellings already read: most parameters repeat a few
        while pending:
            spelling = pending.pop()
            if spelling in spelled:
                continue
            spelled.add(spelling)
            for m in _TAG_REFERENCE.finditer(spelling):
                tag = f"{m.group(1)} {m.group(2)}"
                if tag in reached:
                    continue
                reached.add(tag)
                if tag in records:
                    pending += [f[2] for f in records[tag]["fields"]]
        return {**types, "records": {k: v for k, v in records.items() if k in reached},
                "enums": {k: v for k, v in enums.items() if k in reached}}
