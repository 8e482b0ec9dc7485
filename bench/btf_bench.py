"""Parse /sys/kernel/btf/vmlinux into the model and encode it back, and dump it as text, next to
bpftool's raw dump.

In process: parse, encode, both, and the raw text dump as `bpf-build btf dump` makes it (BTF read
as words, validated, printed: no model), against the whole `bpftool btf dump ... format raw` run.
Then `bpf-build btf dump` as a command next to bpftool's (wall, CPU, peak RSS under GNU time,
medians of runs taken in turn: see bench/vmlinux_bench.py); with ``--old TREE`` (a checkout, e.g.
a `git archive` of HEAD unpacked in /tmp) that tree's command joins the rotation, for an A/B on
a machine others share (compare CPU time there, not wall).

Our commands run as a pip install of bpf_build would (bench.common.installed_python: no editable
install hook, bytecode compiled once).

Run: python3 bench/btf_bench.py [--repeat N] [--old TREE]
"""

import argparse
import os
import statistics
import sys
import tempfile
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import installed_python, median_seconds, report, time_command  # noqa: E402
from bench.vmlinux_bench import TIME, run_once  # noqa: E402
from bpf_build.model.btf import Btf, dump_words, read_words, validate  # noqa: E402

VMLINUX = "/sys/kernel/btf/vmlinux"
BPFTOOL_RAW = ["bpftool", "btf", "dump", "file", VMLINUX, "format", "raw"]
DUMP_ARGS = ["-m", "bpf_build.cli.main", "btf", "dump", VMLINUX]


def word_dump(data: bytes) -> int:
    """What `bpf-build btf dump` does after reading the file: the text's length."""
    types = read_words(data, VMLINUX, names_pending=True)  # as bpf-build btf dump
    validate(types)
    return sum(map(len, dump_words(types)))


def rotate(commands: Dict[str, List[str]], repeat: int) -> Dict[str, Dict[str, float]]:
    """Per command the median wall, CPU and peak RSS of ``repeat`` runs, the commands in turn
    (after one warm-up each) so that a busy machine weighs on all alike."""
    runs: Dict[str, List[Dict[str, float]]] = {name: [] for name in commands}
    for argv in commands.values():
        run_once(argv)
    for _ in range(repeat):
        for name, argv in commands.items():
            runs[name].append(run_once(argv))
    return {name: {key: statistics.median(r[key] for r in side) for key in side[0]}
            for name, side in runs.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--old", metavar="TREE", help="a checkout whose `btf dump` to run in turn with ours")
    args = ap.parse_args()
    data = open(VMLINUX, "rb").read()
    btf = Btf.parse(data)
    print(f"vmlinux BTF: {len(data)} bytes, {len(btf.types)} types")
    parse = median_seconds(lambda: Btf.parse(data), args.repeat)
    encode = median_seconds(lambda: btf.encode(), args.repeat)
    both = median_seconds(lambda: Btf.parse(data).encode(), args.repeat)
    text = median_seconds(lambda: word_dump(data), args.repeat)
    bpftool = time_command(BPFTOOL_RAW, args.repeat)
    report([
        ("parse vmlinux", parse, None),
        ("encode vmlinux", encode, None),
        ("parse + encode vmlinux (vs bpftool raw dump)", both, bpftool),
        ("raw text dump, from words (vs bpftool)", text, bpftool),
    ])
    if bpftool is None or not os.access(TIME, os.X_OK):
        return
    with tempfile.TemporaryDirectory(prefix="btf_bench_") as workdir:
        commands = {"ours": installed_python(workdir) + DUMP_ARGS, "bpftool": BPFTOOL_RAW}
        if args.old:
            # -P: not this directory first on the path, the old tree is (PYTHONPATH)
            commands["old"] = installed_python(workdir, args.old) + ["-P", *DUMP_ARGS]
        medians = rotate(commands, args.repeat)
    names = list(commands)
    print(f"{'bpf-build btf dump (raw)':<24}" + "".join(f"{n:>10}" for n in names) + "  ours/bpftool"
          + ("  ours/old" if args.old else ""))
    for key, label in (("wall", "wall (s)"), ("cpu", "cpu, user+sys (s)"), ("rss", "peak RSS (MiB)")):
        row = medians["ours"][key]
        print(f"{label:<24}" + "".join(f"{medians[n][key]:10.3f}" for n in names)
              + f"  {row / medians['bpftool'][key]:11.2f}x"
              + (f"  {row / medians['old'][key]:7.2f}x" if args.old else ""))


if __name__ == "__main__":
    main()
