"""The Python runtime against libbpf, on the same BPF object, in the running kernel.

    python3 bench/runtime_bench.py [--loads 40] [--events 2000000] [--batch 65536]

Load time: open + load of one object (4 maps, global data, 3 programs) through
  - the Python skeleton (bpf-build skel --lang python; loader program run by bpf_build.runtime),
  - the C light skeleton (bpftool gen skeleton -L; libbpf's loader program, skel_internal.h),
  - libbpf's regular skeleton (bpftool gen skeleton; bpf_object__open/load),
each timed in its own process around open_and_load only (destroy is outside the timing); medians.

Ring buffer: one producer for both consumers, a SEC("syscall") program run with
BPF_PROG_TEST_RUN that emits ``--batch`` 16-byte events per run with bpf_loop +
bpf_ringbuf_output (and, for the mixed stream, every fourth event 24 bytes long). The consumer
drains after every run until ``--events`` events were seen:
libbpf's ring_buffer__poll(rb, 0) with a counting callback in C; RingBuffer.read() (batch, raw
bytes or typed ctypes events), RingBuffer.poll() (callback) and RingBuffer.consume_batch()
(zero-copy: a memoryview per event; typed copies made as read; runs() read as arrays, each
event's seq summed through a strided cast) in Python. "consume" counts only
the time spent consuming, "end to end" includes producing. The producer costs ~42 ns per event
here (C: 22M/s end to end against 317M/s consuming), so C's end-to-end figure is the producer's;
consumers are compared on "consume".

Targets: Python load within 1.2x of the C light skeleton; >= 500k events/s through the batch API.
Needs root, bpftool, gcc and libbpf-dev (bpftool and libbpf are oracles here, never dependencies).
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bpf_build.project.compile import compile_bpf  # noqa: E402
from bpf_build.model.elf import Object  # noqa: E402
from bpf_build.skel.python import generate  # noqa: E402

BENCH_BPF_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event { __u64 seq; __u64 value; };
struct long_event { __u64 seq; __u64 value; __u64 extra; };

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 24); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 10240); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 16); __type(key, __u32); __type(value, __u64); } stats SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 1024); __type(key, __u64); __type(value, __u64); } recent SEC(".maps");

const volatile __u32 filter_pid = 0;
__u64 produced = 0;
__u32 flags = 3;

struct produce_args { __u32 n; __u32 mixed; };

/* mixed: every fourth event is 24 bytes, so runs of equal lengths are 3 and 1 long */
static long emit_one(__u32 i, void *mixed)
{
    if (*(__u32 *)mixed && i % 4 == 3) {
        struct long_event e = { .seq = i, .value = i * 3, .extra = i };

        bpf_ringbuf_output(&events, &e, sizeof(e), 0);
        return 0;
    }
    struct event e = { .seq = i, .value = i * 3 };

    bpf_ringbuf_output(&events, &e, sizeof(e), 0);
    return 0;
}

SEC("syscall")
int produce(struct produce_args *args)
{
    __u32 mixed = args->mixed;

    bpf_loop(args->n, emit_one, &mixed, 0);
    produced += args->n;
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32, zero = 0;
    __u64 one = 1, *n;

    if (filter_pid && pid != filter_pid)
        return 0;
    n = bpf_map_lookup_elem(&counts, &pid);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        bpf_map_update_elem(&counts, &pid, &one, BPF_NOEXIST);
    n = bpf_map_lookup_elem(&stats, &zero);
    if (n)
        *n += flags;
    return 0;
}

SEC("raw_tp/sys_exit")
int on_exit(void *ctx)
{
    __u64 key = bpf_get_current_pid_tgid(), now = bpf_ktime_get_ns();

    if (filter_pid && (key >> 32) != filter_pid)
        return 0;
    bpf_map_update_elem(&recent, &key, &now, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""

LOAD_TIMER_C = r"""
#include <errno.h>  /* skel_internal.h of libbpf 1.1 uses errno without including it */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include SKELETON

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int runs = atoi(argv[1]);
    for (int i = 0; i < runs; i++) {
        double start = now();
        struct bench *skel = bench__open_and_load();
        double end = now();
        if (!skel) {
            fprintf(stderr, "open_and_load failed\n");
            return 1;
        }
        bench__destroy(skel);
        printf("%.9f\n", end - start);
    }
    return 0;
}
"""

RINGBUF_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include "bench.skel.h"

struct event { __u64 seq; __u64 value; };
struct produce_args { __u32 n; __u32 mixed; };
static unsigned long long seen, checksum;

static int on_event(void *ctx, void *data, size_t len)
{
    const struct event *e = data;
    seen++;
    checksum += e->seq;
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    unsigned long long total = strtoull(argv[1], NULL, 10);
    struct produce_args args = { .n = (unsigned)atoi(argv[2]), .mixed = (unsigned)atoi(argv[3]) };
    struct bench *skel = bench__open_and_load();
    if (!skel)
        return 1;
    struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &args, .ctx_size_in = sizeof(args));
    double consume = 0, start = now();
    while (seen < total) {
        if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.produce), &opts))
            return 2;
        double c = now();
        ring_buffer__poll(rb, 0);
        consume += now() - c;
    }
    double end_to_end = now() - start;
    printf("%llu %.9f %.9f %llu\n", seen, end_to_end, consume, checksum);
    ring_buffer__free(rb);
    bench__destroy(skel);
    return 0;
}
"""


class Event(ctypes.Structure):
    _fields_ = [("seq", ctypes.c_uint64), ("value", ctypes.c_uint64)]


def gcc(out_dir: Path, source: str, name: str, defines=()) -> Path:
    src = out_dir / f"{name}.c"
    exe = out_dir / name
    src.write_text(source)
    cmd = ["gcc", "-O2", "-o", str(exe), str(src), f"-I{out_dir}", *defines, "-lbpf", "-lelf", "-lz"]
    subprocess.run(cmd, check=True)
    return exe


def c_load_times(exe: Path, runs: int):
    out = subprocess.run([str(exe), str(runs)], capture_output=True, text=True, check=True).stdout
    return [float(line) for line in out.split()]


def python_load_times(module, runs: int):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        skel = module.bench.open_and_load()
        end = time.perf_counter()
        skel.close()
        times.append(end - start)
    return times


def python_ringbuf(module, total: int, batch: int, mode: str, mixed: bool):
    from bpf_build.runtime.ringbuf import RingBuffer

    class ProduceArgs(ctypes.Structure):
        _fields_ = [("n", ctypes.c_uint32), ("mixed", ctypes.c_uint32)]

    args = ProduceArgs(batch, mixed)
    seen = 0
    checksum = 0
    consume = 0.0
    with module.bench.open_and_load() as skel:
        produce = skel.progs.produce
        if mode == "callback":
            counted = []
            rb = RingBuffer(skel.maps.events, callback=counted.append)
        elif mode.startswith("batch"):
            rb = RingBuffer(skel.maps.events, event_type=Event)
        else:
            rb = RingBuffer(skel.maps.events, event_type=Event if mode == "typed" else None)
        with rb:
            start = time.perf_counter()
            while seen < total:
                produce.test_run(ctx=args)
                c = time.perf_counter()
                if mode == "callback":
                    seen += rb.poll(timeout=0)
                    checksum += len(counted)
                    counted.clear()
                elif mode == "batch-raw":
                    views = rb.consume_batch()
                    seen += len(views)
                    checksum += sum(map(len, views))  # a memoryview per record, each looked at
                elif mode == "batch-runs":
                    batch = rb.consume_batch()
                    seen += len(batch)
                    checksum += sum(sum(slots.cast("Q")[1::stride // 8]) for slots, _, stride in batch.runs())
                elif mode == "batch-typed":
                    batch = rb.consume_batch()
                    seen += len(batch)
                    checksum += sum(e.seq for e in batch.events())
                else:
                    events = rb.read()
                    seen += len(events)
                    if mode == "typed":
                        checksum += sum(e.seq for e in events)
                consume += time.perf_counter() - c
            end_to_end = time.perf_counter() - start
    return seen, end_to_end, consume


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loads", type=int, default=40)
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--batch", type=int, default=65536)
    ap.add_argument("--ring-rounds", type=int, default=3)
    ap.add_argument("--ring-only", action="store_true", help="skip the load-time comparison")
    ap.add_argument("--ring-modes", default="", help="comma-separated consumers (default all; C always runs): "
                    + ", ".join(mode for mode, _ in RING_MODES[1:]))
    ap.add_argument("--ring-streams", default="fixed,mixed", help="event streams: fixed (16 bytes), mixed "
                    "(every fourth event 24 bytes: runs of equal lengths 3 and 1 long)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (loads BPF programs)")
    for tool in ("bpftool", "gcc"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed for the C side of the comparison")

    with tempfile.TemporaryDirectory(prefix="runtime-bench-") as tmp:
        d = Path(tmp)
        (d / "bench.bpf.c").write_text(BENCH_BPF_C)
        obj = d / "bench.bpf.o"
        compile_bpf(str(d / "bench.bpf.c"), str(obj), cflags=["-mcpu=v3"])
        for light, header in ((True, "bench.lskel.h"), (False, "bench.skel.h")):
            argv = ["bpftool", "gen", "skeleton"] + (["-L"] if light else []) + [str(obj), "name", "bench"]
            (d / header).write_text(subprocess.run(argv, capture_output=True, text=True, check=True).stdout)
        (d / "bench_skel.py").write_text(generate(Object.read(str(obj)), "bench"))
        spec = importlib.util.spec_from_file_location("bench_skel", d / "bench_skel.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

        light_exe = gcc(d, LOAD_TIMER_C, "load_light", ['-DSKELETON="bench.lskel.h"'])
        regular_exe = gcc(d, LOAD_TIMER_C, "load_regular", ['-DSKELETON="bench.skel.h"'])
        ring_exe = gcc(d, RINGBUF_C, "ringbuf_c")

        loads = {}
        if not args.ring_only:
            python_load_times(module, 3)  # warm up imports and the kernel's caches
            # Interleave the three in rounds so that whatever else the machine does hits all alike.
            samples = {"Python skeleton (bpf_build.runtime)": [], "C light skeleton (bpftool -L)": [],
                       "C skeleton (libbpf)": []}
            rounds = 5
            per_round = max(1, args.loads // rounds)
            for _ in range(rounds):
                samples["Python skeleton (bpf_build.runtime)"] += python_load_times(module, per_round)
                samples["C light skeleton (bpftool -L)"] += c_load_times(light_exe, per_round)
                samples["C skeleton (libbpf)"] += c_load_times(regular_exe, per_round)
            loads = {case: statistics.median(times) for case, times in samples.items()}
            light = loads["C light skeleton (bpftool -L)"]
            print(f"\nLoad time, open + load, median of {rounds * per_round} (object: 4 maps, global data, 3 programs)")
            print(f"{'':<40} {'ms':>8} {'vs light C':>11}")
            for case, seconds in loads.items():
                print(f"{case:<40} {seconds * 1e3:8.2f} {seconds / light:10.2f}x")

        rates = {}
        for shape in args.ring_streams.split(","):
            rates[shape] = ring_table(module, ring_exe, args, shape)
        batch_rate = rates.get("fixed", {}).get("raw")
        if loads:
            python_load = loads["Python skeleton (bpf_build.runtime)"]
            print(f"\ntargets: load within 1.2x of light C: {python_load / light:.2f}x "
                  f"({'met' if python_load <= 1.2 * light else 'NOT met'})", end="")
            if batch_rate is not None:
                print(f"; batch >= 500k events/s: {batch_rate:,.0f} ({'met' if batch_rate >= 500_000 else 'NOT met'})",
                      end="")
            print()
        raw, typed = rates.get("fixed", {}).get("batch-raw"), rates.get("fixed", {}).get("batch-typed")
        if raw is not None and typed is not None:  # one memoryview per event
            print(f"zero-copy batch >= 5M events/s raw: {raw:,.0f} ({'met' if raw >= 5e6 else 'NOT met'}); "
                  f">= 2M/s typed: {typed:,.0f} ({'met' if typed >= 2e6 else 'NOT met'})")


RING_MODES = (("c", "C ring_buffer__poll, callback"),
              ("raw", "Python RingBuffer.read(), bytes"), ("typed", "Python RingBuffer.read(), ctypes"),
              ("callback", "Python RingBuffer.poll(), callback"),
              ("batch-raw", "Python consume_batch(), memoryviews"),
              ("batch-typed", "Python consume_batch().events()"),
              ("batch-runs", "Python consume_batch().runs(), array"))
RING_STREAMS = {"fixed": "events of 16 bytes", "mixed": "events of 16 bytes, every fourth of 24"}


def ring_table(module, ring_exe: Path, args, shape: str):
    """Every consumer in rounds, in turn (a busy machine slows all alike), on one stream shape;
    prints the medians and returns the consume rate (events/s) per mode."""
    mixed = shape == "mixed"
    chosen = args.ring_modes.split(",") if args.ring_modes else [mode for mode, _ in RING_MODES]
    modes = [(mode, label) for mode, label in RING_MODES if mode == "c" or mode in chosen]
    runs = {mode: [] for mode, _ in modes}
    for _ in range(args.ring_rounds):
        for mode, _ in modes:
            if mode == "c":
                argv = [str(ring_exe), str(args.events), str(args.batch), str(int(mixed))]
                out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()
                runs[mode].append((int(out[0]), float(out[1]), float(out[2])))
            else:
                runs[mode].append(python_ringbuf(module, args.events, args.batch, mode, mixed))
    rows = []
    for mode, label in modes:
        seen = runs[mode][0][0]
        rows.append((mode, label, seen, statistics.median(r[1] for r in runs[mode]),
                     statistics.median(r[2] for r in runs[mode])))
    c_rate = rows[0][2] / rows[0][4]
    print(f"\nRing buffer, {args.events} {RING_STREAMS[shape]}, {args.batch} per producer run, "
          f"median of {args.ring_rounds} rounds")
    print(f"{'':<40} {'consume ev/s':>14} {'end to end ev/s':>16} {'vs C (consume)':>15}")
    for _, label, seen, total, consume in rows:
        print(f"{label:<40} {seen / consume:14,.0f} {seen / total:16,.0f} {seen / consume / c_rate:14.2f}x")
    return {mode: seen / consume for mode, _, seen, _, consume in rows}

if __name__ == "__main__":
    main()
