"""CPU sets from sysfs: per-CPU map values have one slot per *possible* CPU; perf buffers open one
event per *online* CPU."""

from __future__ import annotations

import functools
from typing import List


def parse_cpu_list(text: str) -> List[int]:
    """'0-3,5,7-8' -> [0, 1, 2, 3, 5, 7, 8] (the kernel's cpulist format)."""
    cpus: List[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


def _read_cpu_list(path: str) -> List[int]:
    with open(path) as f:
        return parse_cpu_list(f.read())


@functools.lru_cache(maxsize=None)
def possible_cpus() -> List[int]:
    """Fixed for the life of the system, so cached."""
    return _read_cpu_list("/sys/devices/system/cpu/possible")


def num_possible_cpus() -> int:
    return len(possible_cpus())


def online_cpus() -> List[int]:
    """Not cached: CPUs come and go."""
    return _read_cpu_list("/sys/devices/system/cpu/online")
