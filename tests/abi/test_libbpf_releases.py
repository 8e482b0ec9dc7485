"""libbpf's real release history as ground truth: consecutive releases v0.6.0 ... v1.5.0, built
from their tags with -g -O2 (`make -C src`) and compared with their installed public headers.

The builds are not in the repository or in CI: `python bench/abi_bench.py` makes them from a libbpf
mirror into /tmp/libbpf-rel (or $BPF_ABI_LIBBPF_RELEASES). Without them these tests skip, saying so.

Every finding's verdict, pair by pair (reviewed by hand against the libbpf sources):

- 0.6 -> 0.7 compatible: ``bpf_map_create_opts`` int fields became __u32 (same size); three batch
  parameters gained const; ``bpf_prog_attach_opts`` was added to released LIBBPF_0.0.8 as an alias
  of ``bpf_prog_attach_xattr``; two sentinels grew; ``bpf_map__get_pin_path`` became an alias.
- 0.7 -> 0.8 compatible: ``bpf_program__set_type``/``set_expected_attach_type`` return int instead of
  void; two sentinels grew.
- 0.8 -> 1.0 major version: 102 removals, 5 symbols lost their compat versions, opts structs
  rearranged: all listed as notes, exit 0.
- 1.0 -> 1.1 incompatible (true breaks): ``bpf_object_open_opts`` fields moved by 8 bytes (a field
  re-added in the middle), and released LIBBPF_1.0.0 changed its parent to LIBBPF_0.8.0.
- 1.1 -> 1.2 and 1.2 -> 1.3 compatible: qualifier changes and sentinels.
- 1.3 -> 1.4 incompatible (true break): ``libbpf_set_memlock_rlim`` added to released LIBBPF_0.7.0
  (abidiff cannot see this); ``MAX_BPF_LINK_TYPE`` became a #define (note).
- 1.4 -> 1.5 compatible: ``bpf_map_skeleton`` grew 24 -> 32 bytes, size-versioned by
  ``map_skel_sz`` (not reported); two sentinels grew.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest

RELEASES = Path(os.environ.get("BPF_ABI_LIBBPF_RELEASES", "/tmp/libbpf-rel"))

EXPECTED = [  # (old, new, exit status, {(severity, code): count})
    ("v0.6.0", "v0.7.0", 0, {("compatible", "new-alias-in-released-node"): 1, ("compatible", "qualifier-changed"): 3,
                             ("compatible", "sentinel-changed"): 2, ("compatible", "signedness-changed"): 4,
                             ("note", "alias-added"): 1}),
    ("v0.7.0", "v0.8.0", 0, {("compatible", "function-return-added"): 2, ("compatible", "sentinel-changed"): 2}),
    ("v0.8.0", "v1.0.0", 0, {("note", "field-moved"): 8, ("note", "field-removed"): 9, ("note", "new-node-parent"): 1,
                             ("note", "record-shrank"): 3, ("note", "sentinel-changed"): 2, ("note", "soname-changed"): 1,
                             ("note", "symbol-moved"): 5, ("note", "symbol-removed"): 102}),
    ("v1.0.0", "v1.1.0", 1, {("compatible", "sentinel-changed"): 1, ("incompatible", "field-moved"): 5,
                             ("incompatible", "node-parent-changed"): 1}),
    ("v1.1.0", "v1.2.0", 0, {("compatible", "qualifier-changed"): 2, ("compatible", "sentinel-changed"): 1}),
    ("v1.2.0", "v1.3.0", 0, {("compatible", "qualifier-changed"): 1, ("compatible", "sentinel-changed"): 2}),
    ("v1.3.0", "v1.4.0", 1, {("compatible", "qualifier-changed"): 1, ("incompatible", "new-symbol-in-released-node"): 1,
                             ("note", "sentinel-removed"): 1}),
    ("v1.4.0", "v1.5.0", 0, {("compatible", "sentinel-changed"): 2}),
]


def release(tag: str):
    d = RELEASES / tag
    if not (d / "done").exists():
        pytest.skip(f"libbpf {tag} not built in {RELEASES} (run python bench/abi_bench.py with the libbpf mirror)")
    return d / "src" / "libbpf.so", d / "inst" / "usr" / "include" / "bpf"


@pytest.mark.parametrize("old_tag,new_tag,code,expected", EXPECTED, ids=[f"{o}-{n}" for o, n, _, _ in EXPECTED])
def test_release_pair(bpf_abi, old_tag, new_tag, code, expected):
    (old, old_headers), (new, new_headers) = release(old_tag), release(new_tag)
    r = bpf_abi("diff", old, new, "--old-headers", old_headers, "--headers", new_headers, "--json")
    got = collections.Counter((f["severity"], f["code"]) for f in r.json()["findings"])
    assert (r.code, dict(got)) == (code, expected), r.out
    # Without the public headers, libbpf's private structs (btf_ext & co.) would be reported.
    assert not [f for f in r.json()["findings"] if f.get("symbol", "").startswith("struct btf_ext")]


def test_bpf_object_open_opts_break_points_at_the_header_line(bpf_abi):
    (old, old_headers), (new, new_headers) = release("v1.0.0"), release("v1.1.0")
    r = bpf_abi("diff", old, new, "--old-headers", old_headers, "--headers", new_headers, "--format", "github",
                "--root", new.parents[1])
    errors = [line for line in r.lines if line.startswith("::error file=inst/usr/include/bpf/libbpf.h,line=")]
    assert len(errors) == 5 and all("struct bpf_object_open_opts: field" in e for e in errors)
    header = (new_headers / "libbpf.h").read_text().splitlines()
    line = int(errors[0].split("line=")[1].split(",")[0])
    assert header[line - 1].startswith("struct bpf_object_open_opts {")
