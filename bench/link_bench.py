"""Link time of `bpf-link` next to `bpftool gen object` on the same inputs, in one run.

Cases: a small pair, 24 small objects, a pair of objects built against vmlinux.h with thousands
of BTF types each, and 20 such objects at once. Both tools run as processes (start-up included),
one run of ours then one of bpftool's, in turn; each run's wall time, CPU time (user + system)
and peak resident memory come from the kernel's accounting of the finished child (wait4; the
peak through GNU time), and the medians are printed. On a machine shared with other work, CPU
time is the figure to compare: wall time also counts the time the process waited for a core.
The in-process time of `link()` (read, link, encode; cyclic GC off as in the CLI) and the
start-up of `bpf-link --help` are printed as well, and the BTF dedup of vmlinux next to libbpf's
btf__dedup (through ctypes), each round of both in a fresh process.
Our commands run as a pip install of bpf_build would (bench.common.installed_python: no editable
install hook, bytecode compiled once).

Needs clang (any BPF-capable one on PATH or $BPF_CLANG) and bpftool; vmlinux.h is generated with
bpftool into a temporary directory for this bench only.

Run: python3 bench/link_bench.py [--repeat N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import statistics
import time
from typing import List, NamedTuple, Sequence, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests", "link"))

from bench.common import installed_python, median_seconds, report, time_command  # noqa: E402
from bpf_build.project.compile import compile_bpf  # noqa: E402
from bpf_build.model.elf import Object  # noqa: E402
from bpf_build.link.linker import link  # noqa: E402
from link_cases import CASES_BY_NAME, chain_sources, rich_kernel_structs  # noqa: E402

VMLINUX = "/sys/kernel/btf/vmlinux"
GNU_TIME = "/usr/bin/time"

VMLINUX_PRELUDE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
"""


def vmlinux_unit(index: int, structs) -> str:
    """A program that keeps a global of each struct: clang emits their full BTF graphs."""
    globals_ = "".join(f"struct {s} g{index}_{i};\n" for i, s in enumerate(structs))
    reads = " + ".join(f"bpf_core_type_size(struct {s})" for s in structs)
    return VMLINUX_PRELUDE + globals_ + f"""
int seen{index};
SEC("raw_tp/sys_enter") int prog{index}(void *ctx)
{{
    struct task_struct *t = (void *)bpf_get_current_task();

    seen{index} = BPF_CORE_READ(t, pid) + {reads};
    return 0;
}}
char LICENSE[] SEC("license") = "GPL";
"""


def compile_units(workdir: str, units, include_dir: str = None):
    paths = []
    for name, source in units:
        src = os.path.join(workdir, f"{name}.bpf.c")
        with open(src, "w") as f:
            f.write(source)
        out = os.path.join(workdir, f"{name}.bpf.o")
        compile_bpf(src, out, cflags=[f"-I{include_dir}"] if include_dir else [])
        paths.append(out)
    return paths


def btf_types(paths) -> int:
    return sum(len(Object.read(p).btf.types) for p in paths)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="skip the 20-object vmlinux.h case and vmlinux dedup")
    args = ap.parse_args()
    if shutil.which("bpftool") is None:
        sys.exit("bpftool not found: it is the reference this bench compares with")
    work = tempfile.mkdtemp(prefix="link_bench_")
    try:
        python = installed_python(work)
        ours_cmd = python + ["-m", "bpf_build.cli.link"]
        with open(os.path.join(work, "vmlinux.h"), "w") as f:
            subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX, "format", "c"], stdout=f, check=True)
        structs = rich_kernel_structs(240)
        cases = [
            ("small pair (funcs)", compile_units(work, CASES_BY_NAME["funcs"].units)),
            ("24 small objects", compile_units(work, chain_sources(24))),
            ("vmlinux.h pair", compile_units(work, [(f"big{i}", vmlinux_unit(i, structs[i * 75:i * 75 + 150]))
                                                   for i in range(2)], work)),
        ]
        if not args.quick:
            cases.append(("20 vmlinux.h objects", compile_units(
                work, [(f"many{i}", vmlinux_unit(100 + i, structs[i * 10:i * 10 + 40]))
                       for i in range(20)], work)))
        rows, notes, runs = [], [], []
        for label, inputs in cases:
            out_ours, out_theirs = os.path.join(work, "ours.o"), os.path.join(work, "theirs.o")
            ours, theirs = alternate_runs(ours_cmd + ["-o", out_ours] + inputs,
                                          ["bpftool", "gen", "object", out_theirs] + inputs, args.repeat)
            objs = [Object.read(p) for p in inputs]
            in_process = median_seconds(lambda: _link_without_gc(inputs), args.repeat)
            same = open(out_ours, "rb").read() == open(out_theirs, "rb").read()
            types = sum(len(o.btf.types) for o in objs)
            rows.append((f"{label}: process", ours.wall, theirs.wall))
            rows.append((f"{label}: in-process link(paths)+encode", in_process, theirs.wall))
            runs.append((label, ours, theirs))
            notes.append(f"{label}: {len(inputs)} objects, {types} BTF types in, "
                         f"output {'byte-identical' if same else 'DIFFERENT'} to bpftool's")
        startup = time_command(ours_cmd + ["--help"], args.repeat)
        python_startup = time_command(python + ["-c", "pass"], args.repeat)
        rows.append(("bpf-link --help (start-up)", startup, None))
        rows.append(("python -c pass (the same interpreter, bare)", python_startup, None))
        if not args.quick:
            rows.append(dedup_vmlinux_row(python, max(3, args.repeat)))  # ~0.6 s a round: a median
        print(f"bpf-link: {' '.join(ours_cmd)}; medians of {args.repeat} runs")
        for n in notes:
            print("  " + n)
        print("\nwall time, medians")
        report(rows)
        report_processes(runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class ProcessRuns(NamedTuple):
    """Medians over a command's runs: wall and CPU (user + system) seconds, peak RSS in MiB."""

    wall: float
    cpu: float
    peak_mib: float


def run_once(argv: Sequence[str]) -> Tuple[float, float, float]:
    """(wall s, user+system s, peak RSS MiB) of one run of ``argv``, as the kernel accounts the
    finished child (wait4: microseconds, where GNU time prints hundredths). The peak is GNU
    time's (where it exists, else NaN): a child forked by this large Python process itself
    would report at least this process's peak (Linux carries the high-water mark across fork
    and exec); the CPU time then includes GNU time's own, well under a millisecond."""
    timed = os.path.exists(GNU_TIME)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(([GNU_TIME, "-f", "%M", "-o", out.name] if timed else []) + list(argv),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status):
            raise subprocess.CalledProcessError(os.waitstatus_to_exitcode(status), list(argv))
        peak = int(out.read().split()[-1]) / 1024 if timed else float("nan")
    return wall, usage.ru_utime + usage.ru_stime, peak


def alternate_runs(ours: Sequence[str], theirs: Sequence[str], repeat: int) -> Tuple[ProcessRuns, ProcessRuns]:
    """Both commands, one run of each in turn after one warm-up each, so that a change in the
    machine's load touches both alike."""
    samples: Tuple[List[Tuple[float, float, float]], List[Tuple[float, float, float]]] = ([], [])
    run_once(ours)
    run_once(theirs)
    for _ in range(repeat):
        samples[0].append(run_once(ours))
        samples[1].append(run_once(theirs))
    ours_runs, theirs_runs = (ProcessRuns(*(statistics.median(column) for column in zip(*s)))
                              for s in samples)
    return ours_runs, theirs_runs


def report_processes(runs: Sequence[Tuple[str, ProcessRuns, ProcessRuns]]) -> None:
    """CPU time and peak RSS of each case as processes, ours next to bpftool's."""
    print(f"\n{'as processes, medians':<32} {'cpu ours (s)':>12} {'bpftool':>8} {'ratio':>7}"
          f" {'peak ours (MiB)':>16} {'bpftool':>8} {'ratio':>7}")
    for case, ours, theirs in runs:
        cpu_ratio = f"{ours.cpu / theirs.cpu:6.2f}x" if theirs.cpu else "   n/a"
        print(f"{case:<32} {ours.cpu:12.3f} {theirs.cpu:8.3f} {cpu_ratio:>7}"
              f" {ours.peak_mib:16.1f} {theirs.peak_mib:8.1f} {ours.peak_mib / theirs.peak_mib:6.2f}x")


def _link_without_gc(inputs):
    """link() on paths with the cyclic GC off, as the bpf-link CLI runs it."""
    import gc

    gc.disable()
    try:
        return link(inputs).to_bytes()
    finally:
        gc.enable()


def dedup_vmlinux_row(python, repeat: int):
    """vmlinux's bytes to deduplicated BTF bytes on both sides: ours checks them as the parser
    does and deduplicates the words (dedup_raw); libbpf's btf__new, btf__dedup and
    btf__raw_data. Each round runs once in a fresh process, ours then libbpf's in turn, as the
    product runs it (one dedup per bpf-link): run again in one process, ours drifts from ~0.47
    to ~0.56 s of CPU over a dozen rounds, the allocator's state, not the algorithm. The child
    times only the call, in CPU time (user + system, with its page faults): on a shared
    machine the wall time of the longer side grows the most. Medians of ``repeat`` rounds."""
    ours_child = ("import time\nfrom bpf_build.btf.dedup import dedup_raw\n"
                  f"data = open({VMLINUX!r}, 'rb').read()\n"
                  "start = time.process_time(); dedup_raw(data); print(time.process_time() - start)\n")
    theirs_child = (f"import sys, time\nsys.path.insert(0, {os.path.join(REPO, 'tests', 'link')!r})\n"
                    "from link_libbpf import libbpf, libbpf_dedup\n"
                    "libbpf()\n"  # loaded before the clock starts, as our side's modules are imported
                    f"data = open({VMLINUX!r}, 'rb').read()\n"
                    "start = time.process_time(); libbpf_dedup(data); print(time.process_time() - start)\n")
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(_child_cpu_seconds(python, ours_child))
        theirs.append(_child_cpu_seconds(python, theirs_child))
    known = [t for t in theirs if t is not None]
    return ("btf_dedup of vmlinux (bytes -> deduplicated bytes) vs libbpf, CPU",
            statistics.median(ours), statistics.median(known) if known else None)


def _child_cpu_seconds(python, code: str):
    """What the child printed (its own CPU seconds), or None if it failed (libbpf.so missing:
    no reference)."""
    proc = subprocess.run(python + ["-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    return float(proc.stdout.split()[-1])


if __name__ == "__main__":
    main()
