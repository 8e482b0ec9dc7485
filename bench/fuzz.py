"""Fuzz every command that reads an object with mutated corpus objects (tests/fuzz/harness.py).

Run: python3 bench/fuzz.py [--mutants N] [--workers W] [--max-seconds T] [--all-cases] [--start S]
                           [--findings FILE]

Each mutant goes through every command in its own capped child process; the summary counts
mutants, cases, tracebacks, hangs, blow-ups and other contract breaks. Findings are written as
JSON lines (seed object, seed value, edits, command, problem, stderr) so a case can be replayed
with ``harness.mutate``.
"""

import argparse
import collections
import json
import os
import queue
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tests.fuzz.harness import ALL_CASES, CI_CASES, Worker, build_corpus, run_mutant  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mutants", type=int, default=1000)
    ap.add_argument("--start", type=int, default=0, help="first seed value")
    ap.add_argument("--all-cases", action="store_true", help="every corpus case, not the CI subset")
    ap.add_argument("--findings", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                       "results", "fuzz-findings.jsonl"))
    ap.add_argument("--workers", type=int, default=1, help="worker processes running cases in parallel")
    ap.add_argument("--max-seconds", type=float, default=0,
                    help="stop starting mutants after this long and report those run")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bpf-fuzz-") as tmp:
        seeds = build_corpus(tmp, ALL_CASES if args.all_cases else CI_CASES)
        case_dir = os.path.join(tmp, "case")
        os.makedirs(case_dir)
        problems = collections.Counter()
        signatures = collections.Counter()
        cases = 0
        worst_rss = 0
        slowest = 0.0
        t0 = time.monotonic()
        results = queue.Queue()

        def drive(slot: int) -> None:
            directory = os.path.join(case_dir, str(slot))
            os.makedirs(directory)
            try:
                with Worker() as worker:
                    for i in range(slot, args.mutants, args.workers):
                        if args.max_seconds and time.monotonic() - t0 > args.max_seconds:
                            break
                        seed_value = args.start + i
                        results.put(run_mutant(worker, seeds[seed_value % len(seeds)], seed_value, directory))
            finally:
                results.put(None)

        threads = [threading.Thread(target=drive, args=(slot,), daemon=True) for slot in range(args.workers)]
        for t in threads:
            t.start()
        running = len(threads)
        i = -1
        os.makedirs(os.path.dirname(args.findings) or ".", exist_ok=True)
        with open(args.findings, "w") as out:
            while running:
                item = results.get()
                if item is None:
                    running -= 1
                    continue
                i += 1
                outcomes, findings = item
                cases += len(outcomes)
                worst_rss = max([worst_rss] + [o.maxrss_kb for o in outcomes])
                slowest = max([slowest] + [o.seconds for o in outcomes])
                for f in findings:
                    problems[f.problem] += 1
                    last = f.stderr.strip().splitlines()[-1:] or [""]
                    signatures[(f.command, f.problem, last[0][:120])] += 1
                    out.write(json.dumps(f.__dict__) + "\n")
                    out.flush()
                if (i + 1) % 500 == 0:
                    print(f"{i + 1} mutants, {cases} cases, {sum(problems.values())} findings, "
                          f"{time.monotonic() - t0:.0f} s", flush=True)
        elapsed = time.monotonic() - t0
    print(f"mutants: {i + 1} of {args.mutants} asked (seeds from {args.start}) over {len(seeds)} "
          f"corpus objects, {args.workers} workers")
    print(f"cases (mutant x command): {cases}; time: {elapsed:.0f} s; "
          f"slowest case {slowest:.2f} s; peak RSS of a case {worst_rss // 1024} MiB")
    for kind in ("traceback", "hang", "blow-up"):
        print(f"{kind}s: {problems.get(kind, 0)}")
    other = {k: v for k, v in problems.items() if k not in ("traceback", "hang", "blow-up")}
    print(f"other contract breaks: {sum(other.values())} {dict(other) if other else ''}")
    for (command, problem, last), n in signatures.most_common():
        print(f"  {n:5d}  {command:14s} {problem:10s} {last}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
