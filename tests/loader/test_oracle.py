"""Oracle: bpftool's light skeleton loader (libbpf's gen_loader) against ours, case by case.

Both loaders run in the kernel; what they create is compared through the kernel's own view
(bpf_map_info / bpf_prog_info: name, type, sizes, max_entries, flags, translated instruction
count) plus the expected attach type each loader's PROG_LOAD attribute carries. Sizes (loader
instructions + blob) are compared too. Run with -s to see one verdict line per case.
"""

import re
import subprocess

import pytest

from bpf_build.model.elf import Object
from bpf_build.loader.gen import find_embedded_loader, generate_loader, read_loader
from bpf_build.model.insn import encode
from bpf_build.loader.open import open_object

from .conftest import ALL_CASES, missing_kfunc
from .runner import LoadFailed, map_info, prog_info, run_libbpf_loader, run_loader

# What bpftool 7.1 (libbpf 1.1) cannot do with a case, and why: the verdict is then "different".
BPFTOOL_CANNOT = {
    "tailcall": "gen fails: PROG_ARRAY initial slots are not supported by libbpf's gen_loader (-ENOTSUP)",
    "tc": "gen fails: libbpf 1.1 does not know SEC(\"tcx/ingress\")",
    "externs": "load fails: libbpf 1.1's loader looks a typed ksym of a function up as a VAR",
    "rejected": None,  # both must fail, at the same program
}


def bpftool_loader(bpftool, path, name):
    out = subprocess.run([bpftool, "gen", "skeleton", "-L", path, "name", name], capture_output=True, text=True)
    if out.returncode != 0:
        return None, out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
    insns, blob = find_embedded_loader(out.stdout)
    body = out.stdout[out.stdout.index(f"struct {name} {{"):]
    body = body[:body.index("\n};")]
    return (insns, blob, body.count("struct bpf_map_desc "), body.count("struct bpf_prog_desc ")), None


def created(map_fds, prog_fds, records):
    attach = {r["name"]: r["expected_attach_type"] for r in records if r["what"] == "prog"}
    maps = {}
    for fd in map_fds:
        i = map_info(fd)
        maps[i["name"]] = (i["type"], i["key_size"], i["value_size"], i["max_entries"], i["map_flags"])
    progs = {}
    for fd in prog_fds:
        if fd > 0:
            i = prog_info(fd)
            progs[i["name"]] = (i["type"], attach.get(i["name"]), i["xlated_insns"])
    return maps, progs


def close_all(fds):
    import os
    for fd in fds:
        if fd > 0:
            os.close(fd)


@pytest.mark.oracle
@pytest.mark.kernel
@pytest.mark.parametrize("case", ALL_CASES)
def test_created_objects_and_size_match_bpftool(corpus_object, bpftool, kernel, case):
    path = corpus_object(case)
    name = f"{case}_bpf"
    ours = generate_loader(open_object(Object.read(path), name))
    ours_size = 8 * len(ours.insns) + len(ours.blob)
    missing = missing_kfunc(case)
    if missing:  # nothing to compare on a kernel without the kfunc: ours must say which
        with pytest.raises(LoadFailed, match=f'"{missing}"'):
            run_loader(ours)
        return
    theirs, why = bpftool_loader(bpftool, path, name)
    if theirs is None:
        assert case in BPFTOOL_CANNOT and BPFTOOL_CANNOT[case].startswith("gen fails"), why
        with run_loader(ours):
            pass
        print(f"\nORACLE {case}: different ({BPFTOOL_CANNOT[case]}); ours {ours_size} bytes")
        return
    insns, blob, nr_maps, nr_progs = theirs
    theirs_size = 8 * len(insns) + len(blob)
    assert ours_size <= theirs_size, f"ours {ours_size} bytes, bpftool's {theirs_size}"
    ret, t_maps, t_progs = run_libbpf_loader(encode(insns), blob, nr_maps, nr_progs)
    try:
        try:
            loaded = run_loader(ours)
        except LoadFailed as e:
            assert case == "rejected" and ret < 0, e
            assert -ret == e.errno == 13
            print(f"\nORACLE {case}: identical (both fail with EACCES at load prog \"out_of_bounds\"); "
                  f"size ours {ours_size} vs bpftool {theirs_size}")
            return
        with loaded:
            if ret < 0:
                assert case in BPFTOOL_CANNOT, f"bpftool's loader failed: {ret}"
                print(f"\nORACLE {case}: different ({BPFTOOL_CANNOT[case]}); "
                      f"size ours {ours_size} vs bpftool {theirs_size}")
                return
            mine = created(loaded.map_fds.values(), loaded.prog_fds.values(), read_loader(ours.insns, ours.blob))
            other = created(t_maps, t_progs, read_loader(insns, blob))
            assert mine == other
            print(f"\nORACLE {case}: identical ({len(mine[0])} maps, {len(mine[1])} progs); "
                  f"size ours {ours_size} vs bpftool {theirs_size} ({100 * ours_size // theirs_size}%)")
    finally:
        close_all(t_maps + t_progs)


@pytest.mark.oracle
@pytest.mark.parametrize("case", ["globals", "maps", "subprogs"])
def test_explain_reads_bpftool_light_skeletons(corpus_object, bpftool, tmp_path, case):
    """`bpf-build loader explain` follows libbpf's loader code too: same bpf() calls as ours, in
    the same order, apart from the steps only one of the two takes."""
    import sys
    header = tmp_path / f"{case}.lskel.h"
    header.write_text(subprocess.run([bpftool, "gen", "skeleton", "-L", corpus_object(case), "name",
                                      f"{case}_bpf"], capture_output=True, text=True, check=True).stdout)
    out = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "loader", "explain", str(header)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    theirs = [re.sub(r"^\s+\d+\s+", "", line) for line in out.stdout.splitlines()[1:]]
    ours = [op.text for op in generate_loader(open_object(Object.read(corpus_object(case)), f"{case}_bpf")).ops]

    def creates(ops):
        return [t for t in ops if t.startswith(("create map", "load prog", "freeze", "load BTF"))]

    assert creates(theirs) == [re.sub(r" \(inner map of .*\)$", "", t) for t in creates(ours)]
