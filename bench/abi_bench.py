"""Time `bpf-abi diff` against `abidiff` on the same library pairs.

    python bench/abi_bench.py [--runs 7] [--functions 2000] [--json]

Pairs:
  libbpf-self     Debian's libbpf.so.1 against itself (no DWARF: symbols and versions only)
  synthetic       two gcc -g builds of a generated libbpf-style library (N functions, each with
                  its own opts struct; the second build adds a version node), so abidiff reads DWARF

Each tool runs as a separate process, like in CI, several times; we print medians and the ratio
abidiff / bpf-abi. `bpf-abi --no-types` is the symbol/version check; plain `bpf-abi` also reads
DWARF with pyelftools. The in-process row times only bpf-abi's work (reading both libraries and
diffing), without the interpreter start and the ~0.45 s it takes to import lief.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

LIBBPF = "/usr/lib/x86_64-linux-gnu/libbpf.so.1"
BPF_ABI = [sys.executable, "-m", "bpf_build.cli.abi"]


def median_seconds(action: Callable[[], None], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_process(argv: List[str], ok_codes=(0, 1)) -> Callable[[], None]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def action():
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        if proc.returncode not in ok_codes:
            raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.decode()[:500]}")

    return action


def in_process(old: str, new: str, with_types: bool) -> Callable[[], None]:
    from bpf_build.abi.diff import diff_snapshots
    from bpf_build.abi.snapshot import load_snapshot

    def action():
        diff_snapshots(load_snapshot(old, with_types), load_snapshot(new, with_types))

    return action


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
    count = functions + (1 if extra_node else 0)
    if extra_node:
        header.append('__attribute__((visibility("default"))) int bpf_extra(void);\n')
        source.append("int bpf_extra(void) { return 0; }\n")
    names = [f"bpf_thing{i}__run" for i in range(functions)] + (["bpf_extra"] if extra_node else [])
    chunks = [names[i:i + 100] for i in range(0, functions, 100)]
    if extra_node:
        chunks.append(["bpf_extra"])
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
    assert count == sum(len(c) for c in chunks)
    return str(out)


def bench_pair(label: str, old: str, new: str, runs: int) -> Dict[str, float]:
    row = {
        "abidiff": median_seconds(run_process(["abidiff", old, new], ok_codes=(0, 4, 12)), runs),
        "bpf-abi --no-types": median_seconds(run_process(BPF_ABI + ["diff", "--no-types", old, new]), runs),
        "bpf-abi": median_seconds(run_process(BPF_ABI + ["diff", old, new]), runs),
        "in-process --no-types": median_seconds(in_process(old, new, False), runs),
        "in-process": median_seconds(in_process(old, new, True), runs),
        "python + lief import": median_seconds(run_process([sys.executable, "-c", "import lief"]), runs),
    }
    print(f"\n{label}: {old} -> {new}  (median of {runs} runs)")
    for name, seconds in row.items():
        ratio = row["abidiff"] / seconds if seconds else float("inf")
        print(f"  {name:24s} {seconds * 1000:9.1f} ms   abidiff/this = {ratio:6.2f}x")
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--functions", type=int, default=2000, help="size of the synthetic library")
    parser.add_argument("--json", action="store_true", help="also print the medians as JSON")
    args = parser.parse_args()
    for tool in ("abidiff", "gcc"):
        if shutil.which(tool) is None:
            print(f"abi_bench: {tool} not installed", file=sys.stderr)
            return 2
    results = {}
    if os.path.exists(LIBBPF):
        results["libbpf-self"] = bench_pair("libbpf-self", LIBBPF, LIBBPF, args.runs)
    with tempfile.TemporaryDirectory(prefix="abi-bench-") as tmp:
        old = synthetic_library(Path(tmp) / "old", args.functions, extra_node=False)
        new = synthetic_library(Path(tmp) / "new", args.functions, extra_node=True)
        results[f"synthetic-{args.functions}"] = bench_pair(f"synthetic ({args.functions} functions, -g)",
                                                            old, new, args.runs)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
