"""The comparable ABI of one library, from a .so or from a committed JSON baseline.

The baseline is written for review in pull requests: keys sorted, one symbol (or type) per line,
nothing that changes between two builds of the same source (no addresses, no function sizes,
no paths), so an unchanged ABI dumps byte-identical JSON.
"""

from __future__ import annotations

import json
import os
import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from ..errors import AbiError
from ..collector import paused_gc
from .elfread import SharedLibrary, new_tuple, read_shared_library
from .inputs import map_input, read_input
from .naming import versioned_name
from .public import PublicHeaders

FORMAT_KEY = "bpf_abi_baseline"
FORMAT_VERSION = 1
TYPE_SECTIONS = ("enums", "functions", "records", "variables")


class SymbolRecord(NamedTuple):
    name: str
    version: Optional[str]
    default: bool
    kind: str
    size: Optional[int] = None  # data objects only: copy relocations bake their size into binaries

    @property
    def key(self) -> str:
        return versioned_name(self.name, self.version, self.default)


class NodeRecord(NamedTuple):
    name: str
    parents: Tuple[str, ...]


class Snapshot:
    def __init__(self, source: str, soname: Optional[str], versions: List[NodeRecord],
                 symbols: Dict[str, SymbolRecord], aliases: Optional[List[Tuple[str, ...]]] = None,
                 types: Optional[dict] = None):
        self.source, self.soname, self.versions = source, soname, versions
        self.symbols = symbols  # by key (name@@V)
        self.aliases: List[Tuple[str, ...]] = aliases if aliases is not None else []
        self.types = types  # None: no debug info (or not read)
        # Read from debug info, not stored in baselines: exported functions without type records,
        # and where each type or function was declared (for annotations).
        self.untyped: List[str] = []
        self.locations: Dict[str, Tuple[str, int]] = {}
        self.headers: Optional[PublicHeaders] = None  # the public headers, when given: they locate first

    def locate(self, key: str) -> Optional[Tuple[str, int]]:
        """Where a type or function (by key) is declared: the public header, else DWARF's word."""
        where = self.headers.locate(key) if self.headers is not None else None
        return where or self.locations.get(key)

    def version_names(self) -> List[str]:
        return [v.name for v in self.versions]


NO_DEBUG_INFO = "no DWARF debug info (build with -g, or pass --no-types to compare symbols only)"


def snapshot_from_library(lib: SharedLibrary, with_types: bool = True,
                          headers: Optional[PublicHeaders] = None) -> Snapshot:
    symbols = {}
    first_at: Dict[Tuple[int, int], str] = {}  # the first key at each address
    shared: Dict[Tuple[int, int], List[str]] = {}  # every key at an address more than one has
    for name, version, default, kind, size, address, section in lib.exports:
        key = versioned_name(name, version, default)  # rec.key, spelled once
        symbols[key] = new_tuple(SymbolRecord, (name, version, default, kind,
                                                size if kind in ("object", "tls") else None))
        if address:
            first = first_at.setdefault((section, address), key)
            if first is not key:
                shared.setdefault((section, address), [first]).append(key)
    aliases = sorted(tuple(sorted(keys)) for keys in shared.values())
    snap = Snapshot(lib.path, lib.soname, [NodeRecord(v.name, v.parents) for v in lib.versions],
                    symbols, aliases)
    if with_types:
        from .dwarftypes import read_type_surface  # the DWARF reader is only needed for types

        surface = read_type_surface(lib.path, lib.exports)
        if surface is None:
            raise AbiError(lib.path, NO_DEBUG_INFO)
        snap.types, snap.untyped, snap.locations = surface.types, surface.untyped, surface.locations
    if headers is not None:
        restrict_to_headers(snap, headers)
    return snap


def restrict_to_headers(snap: Snapshot, headers: PublicHeaders) -> None:
    """Keep only the types the public headers expose; locate declarations in those headers."""
    snap.types = headers.restrict(snap.types)
    snap.headers = headers


# -- JSON ---------------------------------------------------------------------------------------

def _line(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(", ", ": "), ensure_ascii=False)


def _dict_block(mapping: dict, indent: str) -> str:
    if not mapping:
        return "{}"
    rows = [f"{indent}  {_line(k)}: {_line(mapping[k])}" for k in sorted(mapping)]
    return "{\n" + ",\n".join(rows) + f"\n{indent}}}"


def _list_block(items: list, indent: str) -> str:
    if not items:
        return "[]"
    return "[\n" + ",\n".join(f"{indent}  {_line(i)}" for i in items) + f"\n{indent}]"


def snapshot_to_json(snap: Snapshot) -> str:
    symbols = {}
    for key, rec in snap.symbols.items():
        entry: Dict[str, object] = {"kind": rec.kind}
        if rec.size is not None:
            entry["size"] = rec.size
        symbols[key] = entry
    top = {
        FORMAT_KEY: _line(FORMAT_VERSION),
        "aliases": _list_block([list(a) for a in snap.aliases], "  "),
        "soname": _line(snap.soname),
        "symbols": _dict_block(symbols, "  "),
        "versions": _list_block([{"name": v.name, "parents": list(v.parents)} for v in snap.versions], "  "),
    }
    if snap.types is None:
        top["types"] = "null"
    else:
        sections = [f'    {_line(s)}: {_dict_block(snap.types.get(s, {}), "    ")}' for s in TYPE_SECTIONS]
        top["types"] = "{\n" + ",\n".join(sections) + "\n  }"
    return "{\n" + ",\n".join(f"  {_line(k)}: {top[k]}" for k in sorted(top)) + "\n}\n"


def _bad(path: str, reason: str) -> AbiError:
    return AbiError(path, f"not a bpf-abi baseline: {reason}")


def snapshot_from_json(text: str, path: str) -> Snapshot:
    if text.startswith("\ufeff"):
        raise _bad(path, "starts with a byte order mark (bpf-abi dump writes plain UTF-8)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise AbiError(f"{path}:{e.lineno}", f"invalid JSON: {e.msg}") from None
    version = data.get(FORMAT_KEY) if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise AbiError(path, f"baseline format {version} is newer than this bpf-abi reads ({FORMAT_VERSION}); "
                       "upgrade bpf-abi")
    if not isinstance(data, dict) or version != FORMAT_VERSION or isinstance(version, bool):
        raise _bad(path, f'expected an object with "{FORMAT_KEY}": {FORMAT_VERSION} (written by bpf-abi dump)')
    for key in ("soname", "symbols", "types", "versions"):
        if key not in data:
            raise _bad(path, f'missing "{key}" (write baselines with bpf-abi dump)')
    try:
        soname = data.get("soname")
        if soname is not None and not isinstance(soname, str):
            raise ValueError("soname must be a string or null")
        versions = []
        for v in data["versions"]:
            if not isinstance(v.get("name"), str) or not _is_str_list(v.get("parents")):
                raise ValueError(f"version {v!r} needs a string name and a list of parent names")
            versions.append(NodeRecord(v["name"], tuple(v["parents"])))
        if not isinstance(data["symbols"], dict):
            raise ValueError('"symbols" must be an object')
        symbols = {}
        for key, entry in data["symbols"].items():
            symbols[key] = _symbol_from_key(key, entry)  # its .key spells key back
        aliases = data.get("aliases", [])
        if not isinstance(aliases, list) or not all(_is_str_list(g) for g in aliases):
            raise ValueError('"aliases" must be a list of lists of symbol keys')
        aliases = [tuple(g) for g in aliases]
        types = _checked_types(data.get("types"))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _bad(path, f"{type(e).__name__}: {e}") from None
    known = set(symbols)
    for group in aliases:
        for key in group:
            if key not in known:
                raise _bad(path, f"alias {key!r} is not in symbols")
    return Snapshot(path, soname, versions, symbols, aliases, types)


def _is_str_list(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_offset(value) -> bool:
    """A byte offset, or "byte.bit" for a bitfield."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and re.fullmatch(r"\d+\.[1-7]", value) is not None


def _is_field(value) -> bool:
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and isinstance(value[2], str)):
        return False
    offset = value[1]
    return (type(offset) is int and offset >= 0) or _is_offset(offset)  # a byte offset, the commonest, inline


# What each entry of a types section must look like, so a hand-edited baseline fails on load.
_TYPE_ENTRY_CHECKS = {
    "functions": lambda e: isinstance(e, dict) and isinstance(e.get("returns"), str) and _is_str_list(e.get("params")),
    "variables": lambda e: isinstance(e, str),
    "records": lambda e: isinstance(e, dict) and _is_offset(e.get("size")) and isinstance(e["size"], int)
    and isinstance(e.get("fields"), list) and all(map(_is_field, e["fields"])),
    "enums": lambda e: isinstance(e, dict) and all(isinstance(v, int) and not isinstance(v, bool) for v in e.values()),
}


def _checked_types(types) -> Optional[dict]:
    if types is None:
        return None
    if not isinstance(types, dict):
        raise ValueError('"types" must be null or an object')
    out = {}
    for section in TYPE_SECTIONS:
        entries = types.get(section, {})
        if not isinstance(entries, dict):
            raise ValueError(f'"types.{section}" must be an object')
        for key, entry in entries.items():
            if not _TYPE_ENTRY_CHECKS[section](entry):
                raise ValueError(f"types.{section} entry {key!r} is malformed")
        out[section] = entries
    return out


def _symbol_from_key(key: str, entry: dict) -> SymbolRecord:
    if not isinstance(entry, dict) or not isinstance(entry.get("kind"), str):
        raise ValueError(f"symbol {key!r} needs a \"kind\"")
    if "@@" in key:
        name, version = key.split("@@", 1)
        default = True
    elif "@" in key:
        name, version = key.split("@", 1)
        default = False
    else:
        name, version, default = key, None, True
    size = entry.get("size")
    if size is not None and not isinstance(size, int):
        raise ValueError(f"symbol {key!r}: size must be an integer")
    return SymbolRecord(name, version, default, entry["kind"], size)


def load_snapshot(path, with_types: bool = True, headers: Optional[PublicHeaders] = None) -> Snapshot:
    """A .so (read now) or a JSON baseline, told apart by content, not by file name."""
    path = os.fspath(path)
    raw = map_input(path)  # a library is mapped, not read: only its needed sections are touched
    if raw[:4] == b"\x7fELF":
        with paused_gc():  # a snapshot is many small objects and no cycles
            return snapshot_from_library(read_shared_library(path, with_symtab=False, raw=raw), with_types, headers)
    head = bytes(raw[:4096])
    if head.lstrip()[:1] in (b"{", b"[") or head.startswith(b"\xef\xbb\xbf"):
        try:
            text = read_input(path).decode("utf-8")  # baselines have the text limit
        except UnicodeDecodeError:
            raise _bad(path, "not UTF-8 text") from None
        snap = snapshot_from_json(text, path)
        if not with_types:
            snap.types = None
        elif snap.types is None:
            raise AbiError(path, "the baseline has no types (dumped with --no-types); pass --no-types to "
                           "compare symbols only")
        if headers is not None:
            restrict_to_headers(snap, headers)
        return snap
    raise AbiError(path, "neither an ELF shared library nor a bpf-abi JSON baseline")
