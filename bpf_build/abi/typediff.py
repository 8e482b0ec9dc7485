"""Type-level ABI changes a maintainer must act on, under libbpf's conventions.

- An exported function's return and parameter types never change (by canonical type).
- A struct's fields never move, change type or disappear.
- Only extensible structs may change size, and only by growing: libbpf opts structs (first
  member ``size_t sz``, the caller passes sizeof and zeroes the rest) and kernel UAPI structs.
  Other structs may not even fill their padding: old callers leave it uninitialised.
- Enumerator values never change and enumerators are never removed; ``__``-prefixed
  sentinels (``__MAX_BPF_MAP_TYPE``) move by design.

Types only one side has are not reported (they became opaque or unreachable); added
functions, fields and enumerators are not reported (growth is allowed).
"""

from __future__ import annotations

from typing import List

from .findings import Finding


def _bits(offset) -> int:
    if isinstance(offset, int):
        return offset * 8
    byte, bit = str(offset).split(".", 1)
    return int(byte) * 8 + int(bit)


def diff_types(old: dict, new: dict, where: str) -> List[Finding]:
    out: List[Finding] = []

    def add(code, message, symbol=None):
        out.append(Finding(code, message, where, None, symbol))

    old_f, new_f = old.get("functions", {}), new.get("functions", {})
    for key in sorted(set(old_f) & set(new_f)):
        a, b = old_f[key], new_f[key]
        if a["returns"] != b["returns"]:
            add("function-return-changed", f"{key} returned {a['returns']}, now {b['returns']}", key)
        pa, pb = a["params"], b["params"]
        if len(pa) != len(pb):
            add("function-params-changed", f"{key} took {len(pa)} parameters ({', '.join(pa) or 'void'}), now "
                f"{len(pb)} ({', '.join(pb) or 'void'})", key)
            continue
        for i, (ta, tb) in enumerate(zip(pa, pb), 1):
            if ta != tb:
                add("function-param-changed", f"{key} parameter {i} was {ta}, now {tb}", key)

    old_v, new_v = old.get("variables", {}), new.get("variables", {})
    for key in sorted(set(old_v) & set(new_v)):
        if old_v[key] != new_v[key]:
            add("variable-type-changed", f"{key} was {old_v[key]}, now {new_v[key]}", key)

    old_r, new_r = old.get("records", {}), new.get("records", {})
    for name in sorted(set(old_r) & set(new_r)):
        out += _record_findings(name, old_r[name], new_r[name], where)

    old_e, new_e = old.get("enums", {}), new.get("enums", {})
    for name in sorted(set(old_e) & set(new_e)):
        before, after = old_e[name], new_e[name]
        for enumerator in sorted(before):
            if enumerator.startswith("__"):
                continue
            if enumerator not in after:
                add("enumerator-removed", f"{name}: {enumerator} (= {before[enumerator]}) was removed", name)
            elif after[enumerator] != before[enumerator]:
                add("enumerator-value-changed", f"{name}: {enumerator} was {before[enumerator]}, now "
                    f"{after[enumerator]}", name)
    return out


def _record_findings(name: str, a: dict, b: dict, where: str) -> List[Finding]:
    out = []

    def add(code, message):
        out.append(Finding(code, message, where, None, name))

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
                "binaries still work, sources using the old name no longer build)")
            continue
        if now is None:
            add("field-removed", f"{name}: field {field} ({ftype} at offset {offset}) was removed")
            continue
        if now[1] != offset:
            add("field-moved", f"{name}: field {field} moved from offset {offset} to {now[1]}")
        if now[2] != ftype:
            add("field-type-changed", f"{name}: field {field} was {ftype}, now {now[2]}")

    old_size, new_size = a["size"], b["size"]
    growable = b.get("extensible") or a.get("extensible")
    if new_size < old_size:
        add("record-shrank", f"{name}: size shrank from {old_size} to {new_size} bytes")
    elif new_size > old_size and not growable:
        add("record-size-changed", f"{name}: size changed from {old_size} to {new_size} bytes; only opts "
            "structs (first member size_t sz) may grow")
    if growable or new_size != old_size or name.startswith("union "):
        # Extensible structs are zeroed by their callers (LIBBPF_OPTS, memset), so a new field in
        # old padding reads as zero; union members all overlap by design.
        return out
    for field, (_, offset, ftype) in sorted(new_fields.items()):
        if field not in old_fields and field not in renamed and _bits(offset) < old_size * 8:
            add("field-inserted", f"{name}: new field {field} at offset {offset} lies inside the old "
                f"{old_size} bytes of a struct that may not grow; callers built against the old header "
                "leave it uninitialised")
    return out
