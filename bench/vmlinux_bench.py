"""Render vmlinux.h from /sys/kernel/btf/vmlinux, next to `bpftool btf dump ... format c`.

Rows: our whole `bpf-build vmlinux` run as a command (interpreter start, read, render, write) in
wall time, CPU time and peak memory (max RSS), each against bpftool's run the same way; then, in
this process, reading the BTF (as words, checked: what the command does) and the render alone
(CPU time: on a shared machine wall time mostly measures the neighbours), to tell which of the
two a change moved.

Both commands write to stdout, here /dev/null. The runs alternate (ours, bpftool, ours, ...) so a
change in the machine's load touches both sides; medians are shown.

Our commands run as a pip install of bpf_build would (bench.common.installed_python: no editable
install hook, bytecode compiled once).

With ``--old TREE`` (a checkout, e.g. ``git worktree add /tmp/old HEAD``) that tree's command joins
the rotation, for an A/B on a machine others share (compare CPU time there, not wall).

Run: python3 bench/vmlinux_bench.py [--repeat N] [--old TREE]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Sequence

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import installed_python  # noqa: E402
from bpf_build.model.btf import TypeWords, read_words, validate  # noqa: E402
from bpf_build.btf.c import render_header  # noqa: E402
from bpf_build.cli.commands.vmlinux import SYSFS_BTF  # noqa: E402

VMLINUX = f"{SYSFS_BTF}/vmlinux"
BPFTOOL = ["bpftool", "btf", "dump", "file", VMLINUX, "format", "c"]
OURS_ARGS = ["-m", "bpf_build.cli.main", "vmlinux"]  # after bench.common.installed_python
TIME = "/usr/bin/time"  # GNU time (Debian's package "time")


def run_once(argv: Sequence[str]) -> Dict[str, float]:
    """Wall seconds, CPU seconds (user + system) and peak RSS in MiB of one run of ``argv``.

    Run under /usr/bin/time: a child's peak RSS as the kernel reports it to its parent is at least
    the parent's own size when it forked (this process holds the parsed BTF), a small parent's
    is not."""
    with tempfile.NamedTemporaryFile("r") as report:
        start = time.perf_counter()
        proc = subprocess.run([TIME, "-f", "%U %S %M", "-o", report.name, *argv],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        if proc.returncode:
            raise SystemExit(f"{' '.join(argv)} failed (exit {proc.returncode})")
        user, system, rss_kib = report.read().split()[-3:]
    return {"wall": wall, "cpu": float(user) + float(system), "rss": int(rss_kib) / 1024}


def alternate(commands: Dict[str, Sequence[str]], repeat: int) -> Dict[str, Dict[str, float]]:
    """Per command and figure the median of ``repeat`` runs, the commands in turn, after one
    warm-up each."""
    runs: Dict[str, List[Dict[str, float]]] = {name: [] for name in commands}
    for argv in commands.values():
        run_once(argv)
    for _ in range(repeat):
        for name, argv in commands.items():
            runs[name].append(run_once(argv))
    return {name: {key: statistics.median(r[key] for r in side) for key in side[0]}
            for name, side in runs.items()}


def cpu_median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat + 1):  # the first is a warm-up
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times[1:])


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--repeat", type=int, default=5, help="runs per case (the median is shown)")
    args.add_argument("--old", metavar="TREE", help="a checkout whose `bpf-build vmlinux` to run in turn with ours")
    options = args.parse_args()
    repeat = options.repeat
    data = open(VMLINUX, "rb").read()

    def read() -> TypeWords:
        types = read_words(data, VMLINUX, names_pending=True)  # as bpf-build vmlinux
        validate(types)
        return types
    btf = read()
    text = render_header(btf)
    print(f"vmlinux BTF: {len(data)} bytes, {len(btf.kinds)} types -> vmlinux.h: "
          f"{len(text)} bytes, {text.count(chr(10))} lines")
    if not os.access(TIME, os.X_OK):
        raise SystemExit(f"{TIME} is needed (GNU time: apt-get install time)")
    with tempfile.TemporaryDirectory(prefix="vmlinux_bench_") as workdir:
        commands: Dict[str, Sequence[str]] = {"ours": installed_python(workdir) + OURS_ARGS}
        if shutil.which(BPFTOOL[0]):
            commands["bpftool"] = BPFTOOL
        if options.old:
            # -P: not this directory first on the path, the old tree is (PYTHONPATH)
            commands["old"] = installed_python(workdir, options.old) + ["-P", *OURS_ARGS]
        figures = alternate(commands, repeat)
    ours, theirs, old = figures["ours"], figures.get("bpftool"), figures.get("old")
    print(f"{'bpf-build vmlinux vs bpftool':<34} {'ours':>9} {'bpftool':>9} {'ratio':>7}"
          + (f" {'old':>9} {'ours/old':>8}" if old else ""))
    for key, label in (("wall", "wall (s)"), ("cpu", "cpu, user+sys (s)"), ("rss", "peak RSS (MiB)")):
        row = f"{label:<34} {ours[key]:9.3f} "
        row += f"{theirs[key]:9.3f} {ours[key] / theirs[key]:6.2f}x" if theirs else f"{'n/a':>9} {'':>7}"
        if old:
            row += f" {old[key]:9.3f} {ours[key] / old[key]:7.2f}x"
        print(row)
    parse = cpu_median(read, repeat)
    render = cpu_median(lambda: render_header(btf), repeat)
    print(f"in-process cpu: read (words, checked) {parse:.3f} s, render {render:.3f} s")


if __name__ == "__main__":
    main()
