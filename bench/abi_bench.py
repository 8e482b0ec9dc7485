"""Time `bpf-abi diff` against `abidiff` on the same library pairs, side by side in one run.

    python bench/abi_bench.py [--runs 5] [--functions 2000] [--libbpf DIR] [--findings] [--json] [--dev-python]

Pairs:
  libbpf vX -> vY  consecutive libbpf releases (v0.6.0 ... v1.5.0) built from source with -g -O2
                   (their `make -C src`), each with its installed public headers, which both tools
                   get (abidiff --hd1/--hd2, bpf-abi --old-headers/--headers). The sources come from
                   the libbpf mirror (fetch github:libbpf/libbpf) and are built once into --libbpf
                   (default /tmp/libbpf-rel; nothing is written into the repository). Skipped with a
                   message when neither the builds nor the mirror are there.
  libbpf-debian    Debian's stripped libbpf.so.1 against itself (symbols and versions only).
  synthetic        two gcc -g builds of a generated libbpf-style library (N functions, each with
                   its own opts struct; the second build adds a version node).

Rows, per pair, each the median of --runs runs, the tools alternating so both see the same load:
  abidiff                 abidiff OLD.so NEW.so (a process)
  bpf-abi .so -> .so      bpf-abi diff OLD.so NEW.so (a process, with types)
  bpf-abi JSON -> .so     bpf-abi diff OLD.json NEW.so (the CI case: a committed baseline)
  in-process .so -> .so   load_snapshot x2 + diff_snapshots, no interpreter start (the public
  in-process JSON -> .so  headers are read and scanned in each run: the header scans bpf-abi
                          keeps per process, for the files old and new share, are forgotten
                          first; what else it keeps per process, the shapes of DWARF
                          abbreviations (with the decoders made for the busiest) and the tables
                          it read, is warm after the first run, as in any long-lived caller: a
                          process row pays for it cold)
The processes run as an installed bpf-abi would (bench.common.installed_python): in a fresh venv without packages (made in a
temporary directory from this interpreter's base), with bytecode compiled once and kept (in that
directory: pip compiles it at install). The development venv's interpreter pays for the editable
install's import hooks (~15 ms a start here) and, with PYTHONDONTWRITEBYTECODE, compiles every
module on every run; --dev-python measures that interpreter as it is.
We print wall time and CPU time (user+sys of the child, or of this process in-process): on a
shared machine CPU time is the steadier measure. Ratios are abidiff / bpf-abi (> 1: bpf-abi faster).
--findings also prints bpf-abi's findings for every libbpf pair.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import installed_python  # noqa: E402

DEBIAN_LIBBPF = "/usr/lib/x86_64-linux-gnu/libbpf.so.1"
LIBBPF_TAGS = ("v0.6.0", "v0.7.0", "v0.8.0", "v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0", "v1.5.0")
LIBBPF_MIRROR = "/work/.mirror/libbpf+libbpf/repo"

Timing = Tuple[float, float]  # (wall, cpu) seconds


def bpf_abi_process(workdir: Path, dev_python: bool) -> List[str]:
    """The argv prefix that runs bpf-abi as a process (see the module's text)."""
    if dev_python:
        return ["env", f"PYTHONPATH={REPO}", sys.executable, "-m", "bpf_build.cli.abi"]
    return installed_python(str(workdir)) + ["-m", "bpf_build.cli.abi"]


BPF_ABI: List[str] = []


def process(argv: List[str], ok_codes=(0, 1)) -> Callable[[], Timing]:
    def run() -> Timing:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode not in ok_codes:
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[:500]}")
        return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    return run


def in_process(old: str, new: str, headers: Optional[Tuple[str, str]], with_types: bool = True) -> Callable[[], Timing]:
    from bpf_build.abi.diff import diff_snapshots
    from bpf_build.abi.public import PublicHeaders, forget_scans
    from bpf_build.abi.snapshot import load_snapshot

    def run() -> Timing:
        forget_scans()  # a header scanned in an earlier run is not known to a fresh bpf-abi diff
        start, cpu = time.perf_counter(), time.process_time()
        new_h = PublicHeaders.from_paths([headers[1]]) if headers else None
        old_h = new_h if headers and headers[0] == headers[1] else (  # read once, as bpf-abi diff does
            PublicHeaders.from_paths([headers[0]]) if headers else None)
        diff_snapshots(load_snapshot(old, with_types, old_h), load_snapshot(new, with_types, new_h))
        return time.perf_counter() - start, time.process_time() - cpu

    return run


def medians(actions: Dict[str, Callable[[], Timing]], runs: int) -> Dict[str, Timing]:
    """Run every action once per round, rounds interleaved, and take medians."""
    samples: Dict[str, List[Timing]] = {name: [] for name in actions}
    for action in actions.values():  # warm the page cache and imports
        action()
    for _ in range(runs):
        for name, action in actions.items():
            samples[name].append(action())
    return {name: (statistics.median(w for w, _ in s), statistics.median(c for _, c in s))
            for name, s in samples.items()}


def bench_pair(label: str, old: str, new: str, runs: int, headers: Optional[Tuple[str, str]] = None,
               types: bool = True) -> Dict[str, Timing]:
    with tempfile.TemporaryDirectory(prefix="abi-bench-") as tmp:
        baseline = os.path.join(tmp, "old.json")
        header_args = ["--headers", headers[0]] if headers else []
        dump = BPF_ABI + ["dump", old, "-o", baseline] + header_args + ([] if types else ["--no-types"])
        subprocess.run(dump, check=True)
        abidiff = ["abidiff", old, new]
        so_args = ["diff"] + ([] if types else ["--no-types"])
        json_args = list(so_args)
        if headers:
            abidiff += ["--hd1", headers[0], "--hd2", headers[1]]
            so_args += ["--old-headers", headers[0], "--headers", headers[1]]
            json_args += ["--headers", headers[1]]  # the baseline was dumped with the old headers
        actions = {
            "abidiff": process(abidiff, ok_codes=(0, 4, 12)),
            "bpf-abi .so -> .so": process(BPF_ABI + so_args + [old, new]),
            "bpf-abi JSON -> .so": process(BPF_ABI + json_args + [baseline, new]),
            "in-process .so -> .so": in_process(old, new, headers, types),
            "in-process JSON -> .so": in_process(baseline, new, headers and (headers[1], headers[1]), types),
        }
        row = medians(actions, runs)
    print(f"\n{label}  (median of {runs} runs)")
    wall_ref, cpu_ref = row["abidiff"]
    for name, (wall, cpu) in row.items():
        print(f"  {name:24s} wall {wall * 1000:8.1f} ms  x{wall_ref / wall:5.2f}   "
              f"cpu {cpu * 1000:8.1f} ms  x{cpu_ref / cpu if cpu else float('inf'):5.2f}")
    return row


# -- libbpf releases built from source --------------------------------------------------------------

def build_libbpf(tag: str, root: Path, mirror: str) -> Optional[Tuple[str, str]]:
    """(libbpf.so, installed headers dir) of one release, built once under root."""
    d = root / tag
    lib, headers = d / "src" / "libbpf.so", d / "inst" / "usr" / "include" / "bpf"
    if (d / "done").exists():
        return str(lib), str(headers)
    if not os.path.isdir(mirror):
        return None
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    archive = subprocess.run(["git", "--git-dir", mirror, "archive", tag], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(d)], input=archive, check=True)
    log = open(d / "build.log", "wb")
    subprocess.run(["nice", "make", "-s", "-C", str(d / "src"), "-j1"], check=True, stdout=log, stderr=log)
    subprocess.run(["make", "-s", "-C", str(d / "src"), "install_headers", f"DESTDIR={d / 'inst'}"],
                   check=True, stdout=log, stderr=log)
    (d / "done").touch()
    return str(lib), str(headers)


def libbpf_releases(root: Path, mirror: str) -> List[Tuple[str, str, str]]:
    built = []
    for tag in LIBBPF_TAGS:
        got = build_libbpf(tag, root, mirror)
        if got is None:
            print(f"abi_bench: libbpf {tag}: neither {root / tag} nor the mirror {mirror} (fetch github:libbpf/libbpf)",
                  file=sys.stderr)
            return []
        built.append((tag, *got))
    return built


def synthetic_library(directory: Path, functions: int, extra_node: bool) -> str:
    """A libbpf-style library: bpf_thingN__run(const struct bpf_thingN_opts *) in nodes of 100."""
    directory.mkdir(parents=True, exist_ok=True)
    header, source, nodes = [], ['#include "lib.h"\n'], []
    for i in range(functions):
        header.append(f"struct bpf_thing{i}_opts {{ size_t sz; int flags; const char *name; long level; }};\n"
                      f"__attribute__((visibility(\"default\"))) int bpf_thing{i}__run("
                      f"const struct bpf_thing{i}_opts *opts, unsigned int id);\n")
        source.append(f"int bpf_thing{i}__run(const struct bpf_thing{i}_opts *opts, unsigned int id)"
                      f" {{ return opts ? opts->flags + (int)id : {i}; }}\n")
    if extra_node:
        header.append('__attribute__((visibility("default"))) int bpf_extra(void);\n')
        source.append("int bpf_extra(void) { return 0; }\n")
    names = [f"bpf_thing{i}__run" for i in range(functions)]
    chunks = [names[i:i + 100] for i in range(0, functions, 100)] + ([["bpf_extra"]] if extra_node else [])
    for n, chunk in enumerate(chunks):
        body = "".join(f"\t\t{name};\n" for name in chunk) + ("\tlocal: *;\n" if n == 0 else "")
        parent = f" LIBBPF_1.{n - 1}.0" if n else ""
        nodes.append(f"LIBBPF_1.{n}.0 {{\n\tglobal:\n{body}}}{parent};\n")
    (directory / "lib.h").write_text("#include <stddef.h>\n" + "".join(header))
    (directory / "lib.c").write_text("".join(source))
    (directory / "lib.map").write_text("\n".join(nodes))
    out = directory / "libsynth.so.1"
    subprocess.run(["gcc", "-g", "-O2", "-fPIC", "-fvisibility=hidden", "-shared",
                    f"-Wl,--version-script={directory / 'lib.map'}", "-Wl,-soname,libsynth.so.1",
                    "-o", str(out), str(directory / "lib.c")], check=True)
    return str(out)


def print_findings(releases: List[Tuple[str, str, str]]) -> None:
    for (old_tag, old, old_h), (new_tag, new, new_h) in zip(releases, releases[1:]):
        proc = subprocess.run(BPF_ABI + ["diff", old, new, "--old-headers", old_h, "--headers", new_h,
                                         "--root", str(Path(new).parents[1])], capture_output=True, text=True)
        print(f"\n=== libbpf {old_tag} -> {new_tag}: exit {proc.returncode}")
        sys.stdout.write(proc.stdout + proc.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--functions", type=int, default=2000, help="size of the synthetic library")
    parser.add_argument("--libbpf", default="/tmp/libbpf-rel", help="where libbpf releases are (or get) built")
    parser.add_argument("--mirror", default=LIBBPF_MIRROR, help="bare git repository of libbpf")
    parser.add_argument("--pairs", default="", help="only libbpf pairs whose new tag contains this")
    parser.add_argument("--findings", action="store_true", help="print bpf-abi's findings per libbpf pair")
    parser.add_argument("--json", action="store_true", help="also print the medians as JSON")
    parser.add_argument("--dev-python", action="store_true",
                        help="run bpf-abi with this interpreter and environment as they are, not as installed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="abi-bench-python-") as workdir:
        BPF_ABI[:] = bpf_abi_process(Path(workdir), args.dev_python)
        print(f"bpf-abi runs as: {' '.join(BPF_ABI)}", file=sys.stderr)
        return run_benchmarks(args)


def run_benchmarks(args) -> int:
    for tool in ("abidiff", "gcc"):
        if shutil.which(tool) is None:
            print(f"abi_bench: {tool} not installed", file=sys.stderr)
            return 2
    results = {}
    releases = libbpf_releases(Path(args.libbpf), args.mirror)
    if args.findings:
        print_findings(releases)
    for (old_tag, old, old_h), (new_tag, new, new_h) in zip(releases, releases[1:]):
        if args.pairs in new_tag:
            label = f"libbpf {old_tag} -> {new_tag}"
            results[label] = bench_pair(label, old, new, args.runs, (old_h, new_h))
    if os.path.exists(DEBIAN_LIBBPF):
        results["libbpf-debian"] = bench_pair("libbpf-debian (stripped, --no-types)", DEBIAN_LIBBPF, DEBIAN_LIBBPF,
                                              args.runs, types=False)
    with tempfile.TemporaryDirectory(prefix="abi-bench-") as tmp:
        old = synthetic_library(Path(tmp) / "old", args.functions, extra_node=False)
        new = synthetic_library(Path(tmp) / "new", args.functions, extra_node=True)
        label = f"synthetic-{args.functions}"
        results[label] = bench_pair(f"synthetic ({args.functions} functions, -g -O2)", old, new, args.runs)
    if results:
        print("\nmedian over pairs of abidiff/bpf-abi (cpu):")
        for row in next(iter(results.values())):
            if row != "abidiff":
                ratios = [r["abidiff"][1] / r[row][1] for r in results.values() if r[row][1]]
                print(f"  {row:24s} x{statistics.median(ratios):5.2f} (min x{min(ratios):5.2f})")
    if args.json:
        print(json.dumps({k: {n: {"wall": w, "cpu": c} for n, (w, c) in v.items()} for k, v in results.items()},
                         indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
