"""Fixtures for the linker tests: compile the cases of link_cases.py once per session, link them
with bpf-link and (as the oracle) with `bpftool gen object`."""

from __future__ import annotations

import os
import sys
from typing import Dict, List

import pytest

from bpf_build.link import link

# The helper modules next to this file (link_*.py) are imported by name from the tests.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from link_cases import CASES_BY_NAME, PRELUDE  # noqa: E402
from link_oracle import Built  # noqa: E402


@pytest.fixture(scope="session")
def build_case(compile_c, tmp_path_factory):
    """build_case(name, target='bpfel') -> Built: the case's units compiled and linked by us."""
    cache: Dict[tuple, Built] = {}

    def build(name: str, target: str = "bpfel") -> Built:
        key = (name, target)
        if key not in cache:
            case = CASES_BY_NAME[name]
            inputs = [compile_c(src, name=unit, target=target) for unit, src in case.units]
            workdir = str(tmp_path_factory.mktemp(f"link_{name}_{target}"))
            linked = link(inputs).to_bytes()
            path = os.path.join(workdir, f"{name}.linked.o")
            with open(path, "wb") as f:
                f.write(linked)
            cache[key] = Built(name, inputs, linked, path, workdir)
        return cache[key]

    return build


@pytest.fixture(scope="session")
def link_pair(compile_c):
    """link_pair(*sources, names=None, cflags=(), target='bpfel') -> paths of the compiled
    units (the prelude of link_cases added to each)."""

    def build(*sources: str, cflags=(), target: str = "bpfel", names=None) -> List[str]:
        names = names or [f"u{i}" for i in range(len(sources))]
        paths = []
        for n, src, in zip(names, sources):
            flags = cflags[n] if isinstance(cflags, dict) else cflags
            paths.append(compile_c(PRELUDE + src, name=n, target=target, cflags=flags or ()))
        return paths

    return build
