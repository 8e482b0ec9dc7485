"""Parse a GNU ld version script (the ``libbpf.map`` kind) keeping the line of every name.

The grammar is the subset ld accepts for version scripts::

    script  := node*
    node    := [NAME] '{' body '}' NAME* ';'
    body    := ( ('global' | 'local') ':' | pattern ';' | 'extern' STRING '{' pattern* '}' [';'] )*

Comments are ``/* ... */`` and ``# ...``. Anything else is an AbiError naming ``file:line``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Iterator, List, NoReturn, Optional, Tuple

from ..errors import AbiError
from .inputs import read_input

PUNCTUATION = "{};:"
_GLOB = re.compile(r"[*?\[]")
_WORD = re.compile(r'(?:[^\s{};:"/]|/(?!\*))+')
_WORD_CHARS = re.compile(r"[\w.$*?\[\]!\-@+<>~,&=]+")


@dataclass(frozen=True)
class MapEntry:
    """One name or glob pattern listed in a node, in its ``global:`` or ``local:`` section."""

    pattern: str
    line: int
    scope: str  # "global" or "local"
    language: Optional[str] = None  # "C++" inside extern "C++" { ... }

    @property
    def is_glob(self) -> bool:
        return _GLOB.search(self.pattern) is not None

    def matches(self, name: str) -> bool:
        return fnmatchcase(name, self.pattern) if self.is_glob else name == self.pattern


@dataclass
class VersionNode:
    name: Optional[str]  # None for an anonymous node
    line: int  # line of the node's name (or of its '{')
    end_line: int = 0  # line of the closing '}' (where the parent is written)
    entries: List[MapEntry] = field(default_factory=list)
    parents: List[str] = field(default_factory=list)

    @property
    def globals(self) -> List[MapEntry]:
        return [e for e in self.entries if e.scope == "global"]

    @property
    def locals(self) -> List[MapEntry]:
        return [e for e in self.entries if e.scope == "local"]

    @property
    def label(self) -> str:
        return self.name if self.name is not None else "<anonymous>"


@dataclass
class VersionScript:
    path: str
    nodes: List[VersionNode]
    _exact: Optional[dict] = field(default=None, init=False, repr=False, compare=False)
    _globs: List[Tuple[VersionNode, MapEntry]] = field(default_factory=list, init=False, repr=False, compare=False)

    def node(self, name: str) -> Optional[VersionNode]:
        for n in self.nodes:
            if n.name == name:
                return n
        return None

    def global_listings(self, name: str) -> List[Tuple[VersionNode, MapEntry]]:
        """Where the script exports ``name``: exact listings first, glob matches only if none."""
        if self._exact is None:  # indexed once: checks ask for every export and every object symbol
            self._exact, self._globs = {}, []
            for node in self.nodes:
                for entry in node.globals:
                    if entry.is_glob:
                        self._globs.append((node, entry))
                    else:
                        self._exact.setdefault(entry.pattern, []).append((node, entry))
        exact = self._exact.get(name)
        if exact:
            return list(exact)
        return [(node, entry) for node, entry in self._globs if entry.matches(name)]


@dataclass(frozen=True)
class Token:
    kind: str  # "word", "string", or one of PUNCTUATION
    text: str
    line: int


def tokenize(text: str, path: str) -> Iterator[Token]:
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise AbiError(f"{path}:{line}", "unterminated /* comment")
            line += text.count("\n", i, end)
            i = end + 2
        elif c == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif c in PUNCTUATION:
            yield Token(c, c, line)
            i += 1
        elif c == '"':
            end = text.find('"', i + 1)
            if end < 0 or "\n" in text[i:end]:
                raise AbiError(f"{path}:{line}", "unterminated string")
            yield Token("string", text[i + 1:end], line)
            i = end + 1
        else:
            m = _WORD.match(text, i)  # one regex step: names may be megabytes long
            word = m.group(0) if m else c  # always a match: c starts no space, comment, string or punctuation
            i += len(word)
            if not _WORD_CHARS.fullmatch(word):
                raise AbiError(f"{path}:{line}", f"unexpected character in {_shorten(word)!r}")
            yield Token("word", word, line)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


class _Parser:
    def __init__(self, text: str, path: str):
        self.path = path
        self.tokens = list(tokenize(text, path))
        self.pos = 0
        # Errors at end of input point at the last thing written, not at a trailing blank line.
        self.last_line = self.tokens[-1].line if self.tokens else 1

    def peek(self, offset: int = 0) -> Optional[Token]:
        i = self.pos + offset
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def peek_kind(self) -> Optional[str]:
        tok = self.peek()
        return tok.kind if tok is not None else None

    def fail(self, tok: Optional[Token], reason: str) -> NoReturn:
        line = tok.line if tok is not None else self.last_line
        raise AbiError(f"{self.path}:{line}", reason)

    def expect(self, kind: str, reason: str) -> Token:
        tok = self.peek()
        if tok is None or tok.kind != kind:
            found = "end of file" if tok is None else repr(tok.text)
            self.fail(tok, f"{reason}, found {found}")
        return self.take()

    def script(self) -> List[VersionNode]:
        nodes = []
        while self.peek() is not None:
            nodes.append(self.node())
        return nodes

    def node(self) -> VersionNode:
        tok = self.peek()
        if tok is None:  # script() stops before the end; kept for any other caller
            self.fail(None, "expected a version node, found end of file")
        if tok.kind == "word":
            self.take()
            node = VersionNode(name=tok.text, line=tok.line)
            self.expect("{", f"expected '{{' after version node name {tok.text!r}")
        elif tok.kind == "{":
            self.take()
            node = VersionNode(name=None, line=tok.line)
        else:
            self.fail(tok, f"expected a version node name or '{{', found {tok.text!r}")
        self.body(node)
        close = self.peek()
        node.end_line = close.line if close else self.last_line
        self.expect("}", f"version node {node.label} is not closed with '}}'")
        while self.peek_kind() == "word":
            node.parents.append(self.take().text)
        self.expect(";", f"expected ';' after the closing '}}' of version node {node.label}")
        return node

    def body(self, node: VersionNode) -> None:
        scope = "global"
        while True:
            tok = self.peek()
            if tok is None:
                self.fail(None, f"version node {node.label} (line {node.line}) is not closed with '}}'")
            if tok.kind == "}":
                return
            nxt = self.peek(1)
            if tok.kind == "word" and tok.text in ("global", "local") and nxt and nxt.kind == ":":
                self.pos += 2
                scope = tok.text
            elif tok.kind == "word" and tok.text == "extern" and nxt and nxt.kind == "string":
                self.pos += 2
                self.extern_block(node, scope, nxt.text)
            elif tok.kind == "word":
                self.take()
                self.expect(";", f"expected ';' after {tok.text!r}")
                node.entries.append(MapEntry(tok.text, tok.line, scope))
            else:
                self.fail(tok, f"unexpected {tok.text!r} in version node {node.label}")

    def extern_block(self, node: VersionNode, scope: str, language: str) -> None:
        self.expect("{", f"expected '{{' after extern \"{language}\"")
        while True:
            tok = self.peek()
            if tok is None:
                self.fail(None, f"extern \"{language}\" block is not closed with '}}'")
            if tok.kind == "}":
                self.take()
                break
            if tok.kind not in ("word", "string"):
                self.fail(tok, f"unexpected {tok.text!r} in extern \"{language}\" block")
            self.take()
            node.entries.append(MapEntry(tok.text, tok.line, scope, language))
            if self.peek_kind() == ";":
                self.take()
        if self.peek_kind() == ";":
            self.take()


def parse_version_script(text: str, path: str) -> VersionScript:
    return VersionScript(path=path, nodes=_Parser(text, path).script())


def read_version_script(path) -> VersionScript:
    path = os.fspath(path)
    raw = read_input(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise AbiError(f"{path}:{line}", "not a text file (invalid UTF-8)") from None
    if "\0" in text:
        raise AbiError(f"{path}:{text[: text.index(chr(0))].count(chr(10)) + 1}",
                       "not a text file (NUL byte)")
    return parse_version_script(text, path)
