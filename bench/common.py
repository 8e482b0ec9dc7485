"""Shared bench helpers: medians of repeated runs, timing a command, printing a ratio table."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Callable, List, Optional, Sequence

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def installed_python(workdir: str, tree: str = REPO) -> List[str]:
    """The argv prefix of an interpreter that runs the ``bpf_build`` of ``tree`` as a pip install
    of it would, for the process rows of the benches.

    The development venv is not that: its editable install's import hook loads at every start
    (~15 ms here), and with PYTHONDONTWRITEBYTECODE (which this machine sets) every module is
    compiled again on every run (~90 ms of ``bpf-build vmlinux``), while pip compiles bytecode
    once, at install. So: a venv without packages made in ``workdir`` from the base interpreter,
    ``tree`` on its path, bytecode compiled once into ``workdir`` and kept. The commands measured
    this way (btf dump, vmlinux, bpf-link, bpf-abi) need no third-party package."""
    venv = os.path.join(workdir, "venv")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", venv],
                       check=True)
    prefix = ["env", "-u", "PYTHONDONTWRITEBYTECODE", f"PYTHONPATH={os.path.abspath(tree)}",
              f"PYTHONPYCACHEPREFIX={os.path.join(workdir, 'pycache')}", python]
    subprocess.run(prefix + ["-m", "compileall", "-q", os.path.join(os.path.abspath(tree), "bpf_build")],
                   check=True, stdout=subprocess.DEVNULL)
    return prefix
