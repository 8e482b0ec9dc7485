"""The compile driver's cost over clang itself, its no-op rebuild, and how it scales with jobs.

Cases: examples/execsnoop (one source, vmlinux.h CO-RE) and a synthetic project of 20 BPF
sources. "clang alone" runs exactly the command lines the driver runs (same flags, same depfile
arguments, same parallelism), so the difference is the driver: finding clang, up-to-date checks,
depfile parsing, state files. vmlinux.h is generated before timing (it is cached in real use).

Run: python3 bench/build_bench.py [--repeat N]   (on an otherwise idle machine: the ratios are
what matters, and the driver and clang alone are timed alternately to share any noise)
Targets: overhead < 15 %, no-op rebuild < 0.5 s (in process and through the CLI).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import median_seconds  # noqa: E402
from bpf_build.project.compile import (
    CompileJob,
    CompileOptions,
    compile_all,
    compile_command,
    find_clang,
    output_for,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXECSNOOP = os.path.join(REPO, "examples", "execsnoop", "execsnoop", "bpf", "execsnoop.bpf.c")

# A realistic mid-sized program: maps of several kinds, helpers, a loop, a subprogram.
SYNTHETIC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>

struct value_{n} {{ __u64 packets; __u64 bytes; __u32 flags; }};
struct {{ __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 1024);
         __type(key, __u32); __type(value, struct value_{n}); }} table_{n} SEC(".maps");
struct {{ __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); }} ring_{n} SEC(".maps");
const volatile __u32 limit_{n} = {n};
__u64 seen_{n};

static __noinline int mix_{n}(__u32 x)
{{
    int acc = 0;
    for (int i = 0; i < 16; i++)
        acc += (x >> i) & 1 ? i : -i;
    return acc;
}}

SEC("xdp") int prog_{n}(struct xdp_md *ctx)
{{
    __u32 key = ctx->ingress_ifindex + limit_{n};
    struct value_{n} *v = bpf_map_lookup_elem(&table_{n}, &key), init = {{}};
    if (!v) {{ bpf_map_update_elem(&table_{n}, &key, &init, BPF_NOEXIST); return XDP_PASS; }}
    __sync_fetch_and_add(&v->packets, 1);
    v->bytes += ctx->data_end - ctx->data;
    v->flags = mix_{n}(key);
    __u64 *e = bpf_ringbuf_reserve(&ring_{n}, sizeof(*e), 0);
    if (e) {{ *e = v->packets; bpf_ringbuf_submit(e, 0); }}
    seen_{n}++;
    return XDP_PASS;
}}
char LICENSE[] SEC("license") = "GPL";
"""


def clang_alone(jobs: Sequence[CompileJob], options: CompileOptions, parallel: int) -> None:
    clang = find_clang()

    def run(job: CompileJob) -> None:
        argv = compile_command(job, options, clang) + ["-o", job.output, "-MD", "-MF", job.output + ".d",
                                                       "-MQ", job.output]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(run, jobs))


def interleaved(ours: Callable[[], object], theirs: Callable[[], object], before_each: Callable[[], object],
                repeat: int) -> Tuple[float, float]:
    """Medians of the two, run alternately so load from elsewhere on the machine hits both alike."""
    times: Tuple[List[float], List[float]] = ([], [])
    for _ in range(repeat):
        for fn, out in ((ours, times[0]), (theirs, times[1])):
            before_each()
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def fresh(out_dir: str) -> None:
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)


def measure(name: str, sources: List[str], work: str, repeat: int) -> List[tuple]:
    options = CompileOptions()
    out_dir = os.path.join(work, name)
    jobs = [CompileJob(s, output_for(s, out_dir)) for s in sources]
    os.makedirs(out_dir, exist_ok=True)
    compile_all(jobs, options, force=True)  # warms vmlinux.h and the page cache
    rows = []
    for parallel in (1, 2):
        ours, theirs = interleaved(lambda: compile_all(jobs, options, parallel=parallel),
                                   lambda: clang_alone(jobs, options, parallel),
                                   before_each=lambda: fresh(out_dir), repeat=repeat)
        rows.append((f"{name}: full build, -j{parallel}", ours, theirs))
    fresh(out_dir)
    compile_all(jobs, options)
    noop = median_seconds(lambda: compile_all(jobs, options), repeat)
    cli = median_seconds(lambda: subprocess.run(
        [sys.executable, "-m", "bpf_build.cli.main", "compile", *sources, "--out-dir", out_dir],
        check=True), repeat)
    rows.append((f"{name}: no-op rebuild (library)", noop, None))
    rows.append((f"{name}: no-op rebuild (bpf-build compile)", cli, None))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    clang = find_clang()
    print(f"clang {clang.version} ({clang.path}), {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bpf-build-bench-") as work:
        synthetic = []
        for n in range(20):
            path = os.path.join(work, "src", f"synthetic_{n:02d}.bpf.c")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(SYNTHETIC.format(n=n))
            synthetic.append(path)
        rows = measure("execsnoop", [EXECSNOOP], work, args.repeat)
        rows += measure("synthetic x20", synthetic, work, args.repeat)

    print(f"{'case':<46} {'ours (s)':>9} {'clang (s)':>10} {'overhead':>9}")
    for case, ours, theirs in rows:
        overhead = f"{(ours / theirs - 1) * 100:+8.1f}%" if theirs else f"{'':>9}"
        theirs_s = f"{theirs:10.3f}" if theirs else f"{'':>10}"
        print(f"{case:<46} {ours:9.3f} {theirs_s} {overhead}")
    by_case = {case: ours for case, ours, _ in rows}
    speedup = by_case["synthetic x20: full build, -j1"] / by_case["synthetic x20: full build, -j2"]
    print(f"synthetic x20: -j1 -> -j2 speed-up {speedup:.2f}x")


if __name__ == "__main__":
    main()
