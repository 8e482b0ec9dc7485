"""Shared bench helpers: medians of repeated runs, timing a command, printing a ratio table."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from typing import Callable, List, Optional, Sequence


def median_seconds(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times: List[float] = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def time_command(argv: Sequence[str], repeat: int = 5, stdout=subprocess.DEVNULL) -> Optional[float]:
    """Median wall time of a command, or None when the tool is not installed."""
    if shutil.which(argv[0]) is None:
        return None
    return median_seconds(lambda: subprocess.run(list(argv), stdout=stdout, stderr=subprocess.DEVNULL,
                                                 check=True), repeat)


def report(rows: Sequence[tuple]) -> None:
    """rows: (case, ours_seconds, theirs_seconds or None)."""
    print(f"{'case':<44} {'ours (s)':>10} {'C tool (s)':>11} {'ratio':>7}")
    for case, ours, theirs in rows:
        ratio = f"{ours / theirs:6.2f}x" if theirs else "   n/a"
        theirs_s = f"{theirs:11.4f}" if theirs else f"{'n/a':>11}"
        print(f"{case:<44} {ours:10.4f} {theirs_s} {ratio:>7}")
