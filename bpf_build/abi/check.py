"""`bpf-abi check`: one library against its version script and libbpf's conventions.

Every rule returns findings; only unreadable input raises. Map findings point at the map line
to edit; library findings point at the library.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

from packaging.version import Version

from .elfread import ObjectSymbol, SharedLibrary
from .findings import Finding
from .naming import NamingPolicy
from .release import Release, format_release
from .versionscript import VersionNode, VersionScript


# (object path, names) -> {name: (source file, line)}; lets findings point at source lines.
Locator = Callable[[str, Sequence[str]], Dict[str, Tuple[str, int]]]


@dataclass(frozen=True)
class CheckInputs:
    script: VersionScript
    library: SharedLibrary
    objects: Sequence[ObjectSymbol] = ()
    release: Optional[Release] = None
    release_source: str = "--release"
    naming: NamingPolicy = NamingPolicy()
    node_prefix: str = "LIBBPF"
    locate: Optional[Locator] = None


def node_version(name: Optional[str], prefix: str) -> Optional[Version]:
    if name is None:
        return None
    m = re.fullmatch(re.escape(prefix) + r"_(\d+)\.(\d+)\.(\d+)", name)
    return Version(".".join(m.groups())) if m else None


def run_check(inp: CheckInputs) -> List[Finding]:
    findings: List[Finding] = []
    findings += check_nodes(inp.script, inp.node_prefix)
    findings += check_entries(inp.script, inp.library)
    findings += check_exports(inp.script, inp.library, inp.naming)
    findings += check_listed_are_exported(inp.script, inp.library, inp.objects)
    if inp.release is not None:
        findings += check_release(inp)
    if inp.objects:
        findings += check_object_globals(inp.script, inp.objects, inp.locate)
    return findings


# -- the script's own structure -------------------------------------------------------------------

def check_nodes(script: VersionScript, prefix: str) -> List[Finding]:
    out: List[Finding] = []
    path = script.path

    def add(code, node, message, line=None):
        out.append(Finding(code, message, path, line or node.line, node=node.name))

    seen: Dict[str, VersionNode] = {}
    previous: Optional[VersionNode] = None
    previous_version: Optional[Version] = None
    for index, node in enumerate(script.nodes):
        version = node_version(node.name, prefix)
        if node.name is None:
            add("anonymous-node", node, f"anonymous version node; name it {prefix}_x.y.z")
        elif version is None:
            add("bad-node-name", node, f"version node {node.name} is not named {prefix}_x.y.z")
        first = seen.get(node.name) if node.name is not None else None
        duplicate = first is not None
        if first is not None:
            add("duplicate-node", node, f"version node {node.name} is defined twice (first at line {first.line})")
        elif node.name is not None:
            seen[node.name] = node
        if (not duplicate and version is not None and previous is not None and previous_version is not None
                and version <= previous_version):
            add("node-order", node, f"{node.name} is not newer than the node before it, "
                f"{previous.name} (line {previous.line}); nodes must be in increasing version order")

        if index == 0:
            if node.parents:
                add("node-parent", node, f"first version node {node.label} inherits {' '.join(node.parents)}; "
                    "the first node has nothing to inherit", node.end_line)
            if not any(e.pattern == "*" for e in node.locals):
                add("missing-local-star", node, f"first version node {node.label} has no 'local: *;', so every "
                    "global symbol the map does not list is exported too")
        elif previous is not None:  # every node after the first
            if not node.parents:
                add("node-without-parent", node, f"{node.label} does not inherit the node before it; "
                    f"close it with '}} {previous.label};'", node.end_line)
            elif node.parents != [previous.name]:
                add("node-parent", node, f"{node.label} inherits {' '.join(node.parents)}; "
                    f"it must inherit exactly the node before it, {previous.label}", node.end_line)
            for entry in node.locals:
                out.append(Finding("local-scope", f"'local: {entry.pattern};' in {node.label}; only the first "
                                   "node hides unlisted symbols with 'local: *;'", path, entry.line, node=node.name))
        for entry in node.globals:
            if entry.is_glob:
                out.append(Finding("map-glob", f"{node.label} exports the glob {entry.pattern!r}; list every "
                                   "exported symbol by name so each one is versioned deliberately",
                                   path, entry.line, entry.pattern, node.name))
        previous = node
        if version is not None:
            previous_version = version
    return out


def check_entries(script: VersionScript, lib: SharedLibrary) -> List[Finding]:
    """A name listed twice is a mistake, unless the library really exports it in each of those
    nodes (libbpf's COMPAT_VERSION/DEFAULT_VERSION: name@OLD and name@@NEW)."""
    exported_in: Dict[str, Set[str]] = {}
    for sym in lib.exports:
        if sym.version is not None:
            exported_in.setdefault(sym.name, set()).add(sym.version)
    listings: Dict[str, List[Tuple[VersionNode, int]]] = {}
    for node in script.nodes:
        for entry in node.globals:
            if not entry.is_glob:
                listings.setdefault(entry.pattern, []).append((node, entry.line))
    out = []
    for name, where in listings.items():
        if len(where) < 2:
            continue
        nodes = [n.label for n, _ in where]
        first_node, first_line = where[0]
        for node, line in where[1:]:
            if node is first_node:
                message = f"{name} is listed twice in {node.label} (first at line {first_line})"
            elif len(set(nodes)) == len(nodes) and set(nodes) <= exported_in.get(name, set()):
                continue  # deliberate symbol versioning: each listing has its own definition
            else:
                message = (f"{name} is listed in both {first_node.label} (line {first_line}) and {node.label}; "
                           f"a symbol belongs to one node unless it has one versioned definition per node")
            out.append(Finding("duplicate-entry", message, script.path, line, name, node.name))
    return out


# -- the library against the script ---------------------------------------------------------------

def check_exports(script: VersionScript, lib: SharedLibrary, naming: NamingPolicy) -> List[Finding]:
    out = []
    map_nodes: Dict[str, VersionNode] = {}
    for n in script.nodes:
        if n.name is not None:
            map_nodes.setdefault(n.name, n)  # a duplicate node is reported by check_nodes
    versioned = [s for s in lib.exports if s.version is not None]
    if lib.exports and not versioned:
        out.append(Finding("unversioned-library", f"{lib.path} exports {len(lib.exports)} symbols without any "
                           f"version; link it with -Wl,--version-script={script.path}", lib.path))
    else:
        lib_nodes = {v.name: v for v in lib.versions}
        for node in script.nodes:
            if node.name is not None and node.name not in lib_nodes:
                out.append(Finding("node-not-in-library", f"{node.name} is not a version of {lib.path}; "
                                   "the library was linked with another version script", script.path,
                                   node.line, node=node.name))
        for v in lib.versions:
            in_map = map_nodes.get(v.name)
            if in_map is None:
                out.append(Finding("node-not-in-map", f"{lib.path} defines version {v.name} which "
                                   f"{script.path} does not have", script.path, node=v.name))
            elif list(v.parents) != in_map.parents:
                out.append(Finding("stale-library", f"{lib.path} has {v.name} inheriting "
                                   f"{' '.join(v.parents) or 'nothing'} but the map says "
                                   f"{' '.join(in_map.parents) or 'nothing'}; rebuild the library",
                                   script.path, in_map.end_line, node=v.name))

    for sym in lib.exports:
        listings = script.global_listings(sym.name)
        line = listings[0][1].line if listings else None
        if not naming.allows(sym.name):
            out.append(Finding("bad-prefix", f"exported symbol {sym.name} has none of the allowed prefixes "
                               f"({naming.describe()})", script.path if line else lib.path, line, sym.name))
        if sym.version is None:
            if versioned:
                out.append(Finding("unversioned-export", f"{sym.name} is exported without a version; list it "
                                   f"in a version node of {script.path}", lib.path, None, sym.name))
            continue
        if not listings:
            in_map = map_nodes.get(sym.version)
            out.append(Finding("export-not-in-map", f"{lib.path} exports {sym.key} but {script.path} does not "
                               "list it; add it to the map or hide it", script.path,
                               in_map.line if in_map else None, sym.name, sym.version))
        elif sym.version not in {n.name for n, _ in listings}:
            node, entry = listings[0]
            out.append(Finding("node-mismatch", f"{lib.path} exports {sym.key} but the map lists {sym.name} in "
                               f"{node.label}; rebuild the library or fix the map", script.path, entry.line,
                               sym.name, node.name))
    return out


def check_listed_are_exported(script: VersionScript, lib: SharedLibrary,
                              objects: Sequence[ObjectSymbol]) -> List[Finding]:
    """Every name the map lists must be a real export: ld silently ignores names it cannot find,
    so a misspelled or never-exported entry ships unnoticed."""
    exported = {s.name for s in lib.exports}
    listed = {e.pattern for n in script.nodes for e in n.globals if not e.is_glob}
    in_objects: Dict[str, ObjectSymbol] = {}
    for sym in objects:
        in_objects.setdefault(sym.name, sym)
    # A misspelling's target is defined but not exported, so it is not listed: look among
    # unlisted definitions (objects know which are global; the .so's .symtab cannot tell a static
    # function from a hidden one, so it is only used without objects).
    defined = set(in_objects) if objects else set(lib.unexported)
    suggest = _Suggester(sorted((exported | defined) - listed))
    out = []
    for node in script.nodes:
        for entry in node.globals:
            name = entry.pattern
            if entry.is_glob or entry.language is not None or name in exported:
                continue
            obj = in_objects.get(name)
            if obj is not None and obj.visibility in ("HIDDEN", "INTERNAL"):
                reason = f"it is defined in {obj.path} with hidden visibility (missing the export macro?)"
            elif obj is not None:
                reason = f"it is defined in {obj.path} but did not reach the library's dynamic symbols"
            elif name in lib.unexported:
                reason = f"it is {lib.unexported[name]}"
            elif lib.has_symtab or objects:
                reason = "it is not defined anywhere"
            else:
                reason = "it is not a dynamic symbol"
            message = f"{name} is listed in {node.label} but {lib.path} does not export it: {reason}"
            close = suggest(name)
            if close:
                message += f"; did you mean {close}?"
            out.append(Finding("map-entry-not-exported", message, script.path, entry.line, name, node.name))
    return out


class _Suggester:
    """"Did you mean" for misspelled map entries, on a fixed budget: candidates are indexed once
    by length (a 0.75 similarity needs lengths within a factor of 0.6), huge names get no
    suggestion, and once the budget of string comparisons is spent the remaining entries go
    without one, so a map with 200k bad entries or a megabyte-long name stays linear."""

    MAX_NAME = 256
    BUDGET = 20000  # comparisons in all; libbpf's ~300 names leave room for ~60 misspellings

    def __init__(self, names: Sequence[str]):
        self.by_length: Dict[int, List[str]] = {}
        for n in names:
            if len(n) <= self.MAX_NAME * 2:
                self.by_length.setdefault(len(n), []).append(n)
        self.budget = self.BUDGET

    def __call__(self, name: str) -> Optional[str]:
        if len(name) > self.MAX_NAME or self.budget <= 0:
            return None
        lengths = range(int(len(name) * 0.6), int(len(name) / 0.6) + 2)
        if sum(len(self.by_length.get(length, ())) for length in lengths) > self.budget:
            self.budget = 0  # counted before building the list: over budget costs nothing
            return None
        candidates = [c for length in lengths for c in self.by_length.get(length, ())]
        self.budget -= len(candidates)
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.75)
        return close[0] if close else None


def check_release(inp: CheckInputs) -> List[Finding]:
    script, release = inp.script, inp.release
    if release is None:
        return []
    named: List[Tuple[Version, VersionNode]] = [
        (v, n) for n in script.nodes if (v := node_version(n.name, inp.node_prefix)) is not None]
    out = []
    wanted = format_release(release)
    if named:
        version, node = max(named, key=lambda vn: vn[0])
        if version.release[:2] != tuple(release[:2]):
            out.append(Finding("release-mismatch", f"the newest version node is {node.name} but the release is "
                               f"{wanted} (from {inp.release_source}); the newest node must be "
                               f"{inp.node_prefix}_{release[0]}.{release[1]}.0", script.path, node.line,
                               node=node.name))
    soname = inp.library.soname
    m = re.search(r"\.so\.(\d+)", soname or "")
    if m and int(m.group(1)) != release[0]:
        out.append(Finding("soname-mismatch", f"SONAME {soname} does not match major version {release[0]} of "
                           f"release {wanted} (from {inp.release_source})", inp.library.path))
    return out


def check_object_globals(script: VersionScript, objects: Sequence[ObjectSymbol],
                         locate: Optional[Locator] = None) -> List[Finding]:
    """A default-visibility global the map does not list is hidden only by 'local: *;' - it should
    be static or hidden in the source, so static linking does not leak it either."""
    leaked: Dict[str, ObjectSymbol] = {}
    for sym in objects:
        if sym.visibility in ("DEFAULT", "PROTECTED") and sym.versioned_as is None and sym.name not in leaked \
                and not script.global_listings(sym.name):
            leaked[sym.name] = sym
    by_object: Dict[str, List[str]] = {}
    for name, sym in leaked.items():
        by_object.setdefault(sym.path, []).append(name)
    out = []
    for path, names in by_object.items():
        where = locate(path, names) if locate else {}
        for name in names:
            source, line = where.get(name, (path, None))
            out.append(Finding("leaked-global", f"{name} is a global with default visibility that the map does "
                               f"not list; make it static or hidden (defined in {path})", source, line, name))
    return out
