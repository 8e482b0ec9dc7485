"""Debian's libbpf.so.1 (package libbpf1) as a real subject: 304 exports in 19 version nodes."""

from __future__ import annotations

import json
import os

import pytest

from bpf_build.abi.snapshot import Snapshot, load_snapshot

LIBBPF = "/usr/lib/x86_64-linux-gnu/libbpf.so.1"

pytestmark = pytest.mark.skipif(not os.path.exists(LIBBPF), reason=f"{LIBBPF} not installed (package libbpf1)")


def map_from_library(snap: Snapshot) -> str:
    """The version script the library implies: each node lists what the library versions by it."""
    nodes = []
    for i, v in enumerate(snap.versions):
        names = sorted({r.name for r in snap.symbols.values() if r.version == v.name})
        body = "".join(f"\t\t{n};\n" for n in names) + ("\tlocal: *;\n" if i == 0 else "")
        parent = "".join(f" {p}" for p in v.parents)
        nodes.append(f"{v.name} {{\n\tglobal:\n{body}}}{parent};\n")
    return "\n".join(nodes)


def test_dump_and_self_diff_are_clean(bpf_abi, tmp_path):
    baseline = tmp_path / "libbpf.json"
    r = bpf_abi("dump", LIBBPF, "--no-types", "-o", baseline)
    assert r.code == 0 and r.out == ""
    data = json.loads(baseline.read_text())
    assert data["soname"] == "libbpf.so.1"
    assert data["types"] is None  # Debian ships the debug info separately
    assert data["versions"][0] == {"name": "LIBBPF_0.0.1", "parents": []}
    assert data["symbols"]["bpf_object__open@@LIBBPF_0.0.1"] == {"kind": "func"}
    assert len(data["symbols"]) >= 300
    # Every node after the first inherits the one before it in this (1.1.2) build.
    for prev, node in zip(data["versions"], data["versions"][1:]):
        assert node["parents"] == [prev["name"]]
    for old, new in [(LIBBPF, LIBBPF), (baseline, LIBBPF), (LIBBPF, baseline), (baseline, baseline)]:
        r = bpf_abi("diff", old, new, "--no-types", "--json")
        assert r.code == 0 and r.json()["findings"] == [], r.out
    # Debian ships the debug info separately: comparing types is asked for and impossible.
    r = bpf_abi("diff", LIBBPF, LIBBPF)
    assert r.code == 2 and r.err == f"error: {LIBBPF}: no DWARF debug info (build with -g, or pass --no-types to " \
                                    "compare symbols only)\n"
    again = tmp_path / "again.json"
    bpf_abi("dump", LIBBPF, "--no-types", "-o", again)
    assert again.read_bytes() == baseline.read_bytes()


def test_check_against_the_map_it_implies_is_clean(bpf_abi, tmp_path):
    """No false positives on a real library: names, prefixes, nodes, release 1.1, SONAME."""
    mp = tmp_path / "libbpf.map"
    mp.write_text(map_from_library(load_snapshot(LIBBPF, with_types=False)))
    r = bpf_abi("check", "--map", mp, LIBBPF, "--release", "1.1")
    assert r.code == 0, r.out
    assert r.lines[0].startswith("bpf-abi check: clean (")


def test_libbpf_1_1_map_entries_that_were_never_exported(bpf_abi, tmp_path):
    """libbpf 1.1.2's libbpf.map lists btf__new_split (LIBBPF_0.3.0), btf_ext__raw_data and
    libbpf_set_memlock_rlim (LIBBPF_0.7.0), none of which libbpf.so.1.1.2 exports. Re-create those
    three entries in the map the library implies; bpf-abi must name all three, with map lines."""
    text = map_from_library(load_snapshot(LIBBPF, with_types=False))
    text = text.replace("LIBBPF_0.3.0 {\n\tglobal:\n", "LIBBPF_0.3.0 {\n\tglobal:\n\t\tbtf__new_split;\n")
    text = text.replace("LIBBPF_0.7.0 {\n\tglobal:\n",
                        "LIBBPF_0.7.0 {\n\tglobal:\n\t\tbtf_ext__raw_data;\n\t\tlibbpf_set_memlock_rlim;\n")
    mp = tmp_path / "libbpf.map"
    mp.write_text(text)
    r = bpf_abi("check", "--map", mp, LIBBPF, "--release", "1.1", "--json")
    assert r.code == 1
    lines = mp.read_text().splitlines()
    got = [(f["code"], f["symbol"], f["node"], lines[f["line"] - 1].strip()) for f in r.json()["findings"]]
    assert got == [
        ("map-entry-not-exported", "btf__new_split", "LIBBPF_0.3.0", "btf__new_split;"),
        ("map-entry-not-exported", "btf_ext__raw_data", "LIBBPF_0.7.0", "btf_ext__raw_data;"),
        ("map-entry-not-exported", "libbpf_set_memlock_rlim", "LIBBPF_0.7.0", "libbpf_set_memlock_rlim;"),
    ]
