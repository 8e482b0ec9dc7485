"""`bpf-abi diff OLD NEW`: what NEW breaks or does wrong relative to the released OLD.

OLD is a release; every version node in it is released. Rules (libbpf's README):
nothing is removed within a major version, a released node never changes, new symbols go in
one new node per release, and that node inherits the newest released one.

After a SONAME major bump everything is allowed: the same findings are still listed, as notes.
An alias added for a symbol that already existed is not a new entry point (a note); a new name
in a released node that is only another name for code already exported there is a compatible
change. Findings about a type or function point at its declaration when one is known.
"""

from __future__ import annotations

import re
from typing import Dict, Iterable, List, Optional, Set, Tuple

from ..collector import paused_gc
from .findings import COMPATIBLE, NOTE, Finding
from .snapshot import Snapshot, SymbolRecord
from .typediff import diff_types


def _node_version(name: str) -> Optional[Tuple[int, ...]]:
    """LIBBPF_1.2.0 -> (1, 2, 0): node versions are dotted numbers (compared without packaging,
    which costs more to import than the whole comparison)."""
    m = re.search(r"_(\d{1,9}(?:\.\d{1,9})*)$", name)
    if not m:
        return None
    parts = [int(p) for p in m.group(1).split(".")]
    while len(parts) > 1 and parts[-1] == 0:  # 1.2 and 1.2.0 are the same version
        parts.pop()
    return tuple(parts)


def _major(soname: Optional[str]) -> Optional[str]:
    m = re.search(r"\.so\.(\d+)", soname or "")
    return m.group(1) if m else None


def diff_snapshots(old: Snapshot, new: Snapshot, notes: Optional[List[str]] = None,
                   size_versioned: Iterable[str] = ()) -> List[Finding]:
    with paused_gc():  # the comparison builds sets, lists and findings, never a cycle
        return _diff_snapshots(old, new, notes if notes is not None else [], size_versioned)


def _diff_snapshots(old: Snapshot, new: Snapshot, notes: List[str], size_versioned: Iterable[str]) -> List[Finding]:
    out: List[Finding] = []
    where = new.source

    def add(code, message, symbol=None, node=None):
        out.append(Finding(code, message, where, None, symbol, node))

    new_major = False
    if old.soname != new.soname:
        add("soname-changed", f"SONAME changed from {old.soname} to {new.soname}")
        new_major = _major(old.soname) != _major(new.soname)
        if new_major:
            notes.append(f"major version changed ({old.soname} -> {new.soname}): removals and type changes "
                         "are allowed; they are listed as notes")

    old_nodes = {v.name: v for v in old.versions}
    new_nodes = {v.name: v for v in new.versions}
    for name, node in old_nodes.items():
        if name not in new_nodes:
            add("node-removed", f"version node {name} was removed: binaries that need it fail to load", node=name)
        elif tuple(new_nodes[name].parents) != tuple(node.parents):
            add("node-parent-changed", f"released node {name} inherited {' '.join(node.parents) or 'nothing'}, "
                f"now {' '.join(new_nodes[name].parents) or 'nothing'}", node=name)
    out += _new_node_findings(old, new, where)
    out += _symbol_findings(old, new, where)
    out += _alias_findings(old, new, where)
    if old.types is not None and new.types is not None:
        out += diff_types(old.types, new.types, where, size_versioned)
        untyped = sorted(set(new.untyped) | (set(old.untyped) & set(new.symbols)))
        if untyped:
            notes.append(f"no type information for {len(untyped)} exported function{'s' if len(untyped) != 1 else ''}"
                         f" (not compared): {', '.join(untyped)}")
    else:
        missing = [s.source for s in (old, new) if s.types is None]
        notes.append("types not compared: no DWARF debug info in " + " and ".join(missing))
    if new_major:
        out = [f.with_severity(NOTE) for f in out]
    if not out:
        return out
    exported = {r.name for r in new.symbols.values()}
    return [_located(f, new, exported) for f in out]


def _located(finding: Finding, new: Snapshot, exported: Set[str]) -> Finding:
    """Point a finding about a type or function at its declaration (a header line); a symbol NEW
    no longer exports has none (0.8 -> 1.0 removed 102: no need to search the headers for them)."""
    if finding.line is not None or not finding.symbol:
        return finding
    if not finding.symbol.startswith(("struct ", "union ", "enum ")) and finding.symbol.split("@", 1)[0] not in exported:
        return finding
    where = new.locate(finding.symbol)
    if where is None and finding.node:  # symbol findings name the bare symbol
        where = new.locate(f"{finding.symbol}@@{finding.node}")
    return finding._replace(file=where[0], line=where[1]) if where else finding


def _newest(nodes: List[str]) -> Optional[str]:
    versioned = [(v, n) for n in nodes if (v := _node_version(n)) is not None]
    return max(versioned)[1] if versioned else (nodes[-1] if nodes else None)


def _new_node_findings(old: Snapshot, new: Snapshot, where: str) -> List[Finding]:
    old_names = old.version_names()
    added = [v for v in new.versions if v.name not in set(old_names)]
    out = []
    if len(added) > 1:
        out.append(Finding("multiple-new-nodes", f"{len(added)} new version nodes ({', '.join(v.name for v in added)});"
                           " the ABI version bumps at most once per release", where))
    expected_parent = _newest(old_names)
    newest_old_version = _node_version(expected_parent) if expected_parent else None
    for node in added:
        version = _node_version(node.name)
        if expected_parent is not None and tuple(node.parents) != (expected_parent,):
            found = " ".join(node.parents) or "nothing"
            out.append(Finding("new-node-parent", f"new node {node.name} inherits {found}; it must inherit "
                               f"the newest released node {expected_parent}", where, node=node.name))
        if version is not None and newest_old_version is not None and version <= newest_old_version:
            out.append(Finding("new-node-order", f"new node {node.name} is not newer than the newest released "
                               f"node {expected_parent}", where, node=node.name))
        expected_parent = node.name
        if version is not None:
            newest_old_version = version
    return out


def _changed_names(old: Snapshot, new: Snapshot) -> Set[str]:
    """The names with a symbol record only one side has, or that differs between them: every other
    name has the same records (versions, kinds, sizes) in both, so nothing to report."""
    old_symbols, new_symbols = old.symbols, new.symbols
    changed = {rec.name for key, rec in old_symbols.items() if new_symbols.get(key) != rec}
    changed.update(rec.name for key, rec in new_symbols.items() if key not in old_symbols)
    return changed


def _records_by_name(snap: Snapshot, names: Set[str]) -> Dict[str, List[SymbolRecord]]:
    out: Dict[str, List[SymbolRecord]] = {}
    for rec in snap.symbols.values():
        if rec.name in names:
            out.setdefault(rec.name, []).append(rec)
    return out


def _symbol_findings(old: Snapshot, new: Snapshot, where: str) -> List[Finding]:
    out: List[Finding] = []
    changed = _changed_names(old, new)
    if not changed:
        return out
    old_by_name, new_by_name = _records_by_name(old, changed), _records_by_name(new, changed)
    old_nodes = set(old.version_names())
    old_versioned = any(r.version is not None for r in old.symbols.values())
    aliases_of = _aliases_by_key(new)

    def pair(records: List[SymbolRecord]) -> Dict[Optional[str], SymbolRecord]:
        return {r.version: r for r in records}

    for name in sorted(changed):
        old_records, new_records = old_by_name.get(name, []), new_by_name.get(name, [])
        before, after = pair(old_records), pair(new_records)
        for version, was in sorted(before.items(), key=lambda kv: kv[0] or ""):
            now = after.get(version)
            if now is None:
                elsewhere = sorted(r.key for r in after.values())
                if elsewhere:
                    out.append(Finding("symbol-moved", f"{was.key} is gone, {name} is now {', '.join(elsewhere)}: "
                                       f"binaries linked against {was.key} fail to load", where, None, name, version))
                else:
                    out.append(Finding("symbol-removed", f"{was.key} was removed: binaries using it fail to load; "
                                       "nothing may be removed within a major version", where, None, name, version))
                continue
            if was.default != now.default:
                if was.default:
                    new_default = [r.key for r in after.values() if r.default]
                    detail = (f"new links now bind {new_default[0]}" if new_default
                              else f"{name} has no default version any more, so nothing can link against it")
                    out.append(Finding("default-changed", f"{was.key} became the compat version {now.key}; {detail}",
                                       where, None, name, version))
                else:
                    out.append(Finding("default-changed", f"compat version {was.key} became the default {now.key}",
                                       where, None, name, version))
            if was.kind != now.kind:
                out.append(Finding("symbol-kind-changed", f"{now.key} was a {was.kind}, now a {now.kind}",
                                   where, None, name, version))
            elif was.size is not None and now.size is not None and was.size != now.size:
                out.append(Finding("object-size-changed", f"{now.key} changed size from {was.size} to {now.size} "
                                   "bytes: copy relocations in existing binaries break", where, None, name, version))
        if before:
            continue  # an existing name in a new version: reported above as moved, or deliberate
        for version, now in sorted(after.items(), key=lambda kv: kv[0] or ""):
            if version is None and old_versioned:
                out.append(Finding("unversioned-new-symbol", f"new symbol {name} is exported without a version "
                                   "node", where, None, name))
            elif version in old_nodes:
                existing = sorted(k for k in aliases_of.get(now.key, ()) if k in old.symbols)
                if existing:
                    out.append(Finding("new-alias-in-released-node", f"new name {now.key} was added to released "
                                       f"{version} as an alias of {existing[0]}, which was already exported",
                                       where, None, name, version, severity=COMPATIBLE))
                    continue
                out.append(Finding("new-symbol-in-released-node", f"new symbol {now.key} was added to {version}, "
                                   "which is already released; put it in a new version node", where, None,
                                   name, version))
    return out


def _aliases_by_key(snap: Snapshot) -> Dict[str, Tuple[str, ...]]:
    return {key: group for group in snap.aliases for key in group}


def _alias_pairs(snap: Snapshot) -> Set[Tuple[str, str]]:
    pairs: Set[Tuple[str, str]] = set()
    for group in snap.aliases:
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                pairs.add((a, b) if a <= b else (b, a))
    return pairs


def _alias_findings(old: Snapshot, new: Snapshot, where: str) -> List[Finding]:
    common = set(old.symbols) & set(new.symbols)
    before = {p for p in _alias_pairs(old) if set(p) <= common}
    after = {p for p in _alias_pairs(new) if set(p) <= common}
    out = []
    for a, b in sorted(before - after):
        out.append(Finding("alias-removed", f"{a} and {b} were one function (aliases) and now are different "
                           "code; callers comparing their addresses see a difference", where, None, a,
                           severity=COMPATIBLE))
    for a, b in sorted(after - before):
        out.append(Finding("alias-added", f"{a} and {b} were different code and now are aliases of one "
                           "function (no new entry point)", where, None, a, severity=NOTE))
    return out
