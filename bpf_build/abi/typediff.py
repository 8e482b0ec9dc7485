"""Type-level ABI changes, under libbpf's conventions, each with its severity.

Incompatible:

- An exported function's return and parameter types change (by canonical type).
- A struct's fields move, change type or disappear.
- A struct changes size, unless it is extensible and grows: libbpf opts structs (first member
  ``size_t sz``, the caller passes sizeof and zeroes the rest), kernel UAPI structs, and
  size-versioned array elements (a sibling ``*_sz`` field, like ``map_skel_sz`` next to
  ``struct bpf_map_skeleton *maps``, tells the library the caller's element size; or declared in
  configuration). Other structs may not even fill their padding: old callers leave it
  uninitialised.
- An enumerator changes value or disappears.

Compatible (reported, exit 0 unless --strict):

- Only qualifiers changed (``void *`` -> ``const void *``): same layout, same calling convention.
- A function that returned void now returns a value: old callers never read it.
- An integer changed only its signedness (``int map_flags`` -> ``__u32 map_flags``, libbpf 0.7):
  same size, same registers; values past the sign bit read differently, so it is still shown.
- A sentinel enumerator (``__MAX_BPF_MAP_TYPE``, ``MAX_BPF_LINK_TYPE``: the enum's last, largest
  value) moved: it counts the enumerators by convention. One that disappeared (UAPI turned
  ``MAX_BPF_LINK_TYPE`` into a ``#define``) is a note.

Types only one side has are not reported (they became opaque or unreachable); added
functions, fields and enumerators are not reported (growth is allowed).
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional, Set

from .findings import COMPATIBLE, INCOMPATIBLE, NOTE, Finding

_QUALIFIER = re.compile(r"\b(?:const|volatile|_Atomic)\b ?")
_SIGNEDNESS = re.compile(r"\b(?:un)?signed (?=(?:char|short|int|long|long long|__int128)\b)")
_SENTINEL = re.compile(r"^__|^MAX_|_MAX$|_MAX_")
_SIZE_FIELD = re.compile(r"^([a-z]+)\w*_sz$")
_RECORD_POINTER = re.compile(r"^((?:struct|union) [\w<>]+) \*+$")


def _bits(offset) -> int:
    if isinstance(offset, int):
        return offset * 8
    byte, bit = str(offset).split(".", 1)
    return int(byte) * 8 + int(bit)


def unqualified(spelling: str) -> str:
    return " ".join(_QUALIFIER.sub("", spelling).split())


def _differing(old: dict, new: dict) -> List[str]:
    """The keys both have whose entries differ, sorted: an equal entry has nothing to report (most of
    them), so only the others are sorted."""
    return sorted(key for key in old.keys() & new.keys() if old[key] != new[key])


def _changed(code: str, what: str, before: str, after: str, where: str, symbol: str,
             field: Optional[str] = None) -> Finding:
    """A type spelling changed: incompatible, unless only qualifiers differ."""
    if unqualified(before) == unqualified(after):
        return Finding("qualifier-changed", f"{what} was {before}, now {after} (qualifiers only: layout and calling "
                       "convention are unchanged)", where, None, symbol, severity=COMPATIBLE, field=field)
    if _SIGNEDNESS.sub("", unqualified(before)) == _SIGNEDNESS.sub("", unqualified(after)):
        return Finding("signedness-changed", f"{what} was {before}, now {after} (same size: layout and calling "
                       "convention are unchanged; values past the sign bit read differently)", where, None, symbol,
                       severity=COMPATIBLE, field=field)
    return Finding(code, f"{what} was {before}, now {after}", where, None, symbol, field=field)


def size_versioned_records(*record_sets: dict) -> Set[str]:
    """Records whose callers say the element size in a sibling field: ``int map_skel_sz;`` next to
    ``struct bpf_map_skeleton *maps;`` (the field named like the size field's first word)."""
    found: Set[str] = set()
    for records in record_sets:
        for entry in records.values():
            fields = entry["fields"]
            stems = {m.group(1) for f in fields
                     if f[0].endswith("_sz") and (m := _SIZE_FIELD.match(f[0].rsplit(".", 1)[-1]))}
            if not stems:  # most records: no size field, so nothing to look for
                continue
            for name, _, spelled in fields:
                m = _RECORD_POINTER.match(spelled)
                if m and any(name.rsplit(".", 1)[-1].startswith(stem) for stem in stems):
                    found.add(m.group(1))
    return found


def diff_types(old: dict, new: dict, where: str, size_versioned: Iterable[str] = ()) -> List[Finding]:
    out: List[Finding] = []

    def add(code, message, symbol=None, severity=INCOMPATIBLE, field=None):
        out.append(Finding(code, message, where, None, symbol, severity=severity, field=field))

    old_f, new_f = old.get("functions", {}), new.get("functions", {})
    for key in _differing(old_f, new_f):
        a, b = old_f[key], new_f[key]
        if a["returns"] != b["returns"]:
            if a["returns"] == "void":
                add("function-return-added", f"{key} returned void, now {b['returns']} (old callers ignore the "
                    "value)", key, COMPATIBLE)
            else:
                out.append(_changed("function-return-changed", f"{key} return type", a["returns"], b["returns"],
                                    where, key))
        pa, pb = a["params"], b["params"]
        if len(pa) != len(pb):
            add("function-params-changed", f"{key} took {len(pa)} parameters ({', '.join(pa) or 'void'}), now "
                f"{len(pb)} ({', '.join(pb) or 'void'})", key)
            continue
        for i, (ta, tb) in enumerate(zip(pa, pb), 1):
            if ta != tb:
                out.append(_changed("function-param-changed", f"{key} parameter {i}", ta, tb, where, key))

    old_v, new_v = old.get("variables", {}), new.get("variables", {})
    for key in _differing(old_v, new_v):
        out.append(_changed("variable-type-changed", key, old_v[key], new_v[key], where, key))

    old_r, new_r = old.get("records", {}), new.get("records", {})
    sized: Optional[Set[str]] = None  # looked for when a record changed: most diffs have none
    for name in _differing(old_r, new_r):
        if sized is None:
            sized = size_versioned_records(old_r, new_r) | set(size_versioned)
        out += _record_findings(name, old_r[name], new_r[name], where, name in sized)

    old_e, new_e = old.get("enums", {}), new.get("enums", {})
    for name in _differing(old_e, new_e):
        before, after = old_e[name], new_e[name]
        largest = max(before.values(), default=None)
        for enumerator in sorted(before):
            value = before[enumerator]
            sentinel = bool(_SENTINEL.search(enumerator)) and (enumerator.startswith("__") or value == largest)
            if enumerator not in after:
                if sentinel:
                    add("sentinel-removed", f"{name}: sentinel {enumerator} (= {value}) is no longer an enumerator "
                        "(a #define now, or gone)", name, NOTE, enumerator)
                else:
                    add("enumerator-removed", f"{name}: {enumerator} (= {value}) was removed", name, field=enumerator)
            elif after[enumerator] != value:
                if sentinel:
                    add("sentinel-changed", f"{name}: sentinel {enumerator} was {value}, now {after[enumerator]} "
                        "(it counts the enumerators)", name, COMPATIBLE, enumerator)
                else:
                    add("enumerator-value-changed", f"{name}: {enumerator} was {value}, now {after[enumerator]}",
                        name, field=enumerator)
    return out


def _record_findings(name: str, a: dict, b: dict, where: str, size_versioned: bool) -> List[Finding]:
    out = []

    def add(code, message, field=None):
        out.append(Finding(code, message, where, None, name, field=field))

    old_fields = {f[0]: f for f in a["fields"]}
    new_fields = {f[0]: f for f in b["fields"]}
    added = {(f[1], f[2]): f[0] for f in b["fields"] if f[0] not in old_fields}
    renamed = set()
    for field, (_, offset, ftype) in sorted(old_fields.items()):
        now = new_fields.get(field)
        if now is None and (offset, ftype) in added:
            new_name = added[(offset, ftype)]
            renamed.add(new_name)
            add("field-renamed", f"{name}: field {field} was renamed to {new_name} (same offset and type: "
                "binaries still work, sources using the old name no longer build)", field)
            continue
        if now is None:
            add("field-removed", f"{name}: field {field} ({ftype} at offset {offset}) was removed", field)
            continue
        if now[1] != offset:
            add("field-moved", f"{name}: field {field} moved from offset {offset} to {now[1]}", field)
        if now[2] != ftype:
            out.append(_changed("field-type-changed", f"{name}: field {field}", ftype, now[2], where, name, field))

    old_size, new_size = a["size"], b["size"]
    growable = b.get("extensible") or a.get("extensible") or size_versioned
    if new_size < old_size:
        add("record-shrank", f"{name}: size shrank from {old_size} to {new_size} bytes")
    elif new_size > old_size and not growable:
        add("record-size-changed", f"{name}: size changed from {old_size} to {new_size} bytes; only opts "
            "structs (first member size_t sz) and size-versioned array elements may grow")
    if growable or new_size != old_size or name.startswith("union "):
        # Extensible structs are zeroed by their callers (LIBBPF_OPTS, memset), so a new field in
        # old padding reads as zero; union members all overlap by design.
        return out
    for field, (_, offset, ftype) in sorted(new_fields.items()):
        if field not in old_fields and field not in renamed and _bits(offset) < old_size * 8:
            add("field-inserted", f"{name}: new field {field} at offset {offset} lies inside the old "
                f"{old_size} bytes of a struct that may not grow; callers built against the old header "
                "leave it uninitialised", field)
    return out
