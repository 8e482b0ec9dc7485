"""Fixtures for tests that must hold on every kernel we boot: skeletons generated once (on the
host, shared with the booted kernels through the test cache) and imported as a user would."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest


def cli(*args: str) -> str:
    """bpf-build as a user runs it; its standard output."""
    return subprocess.run([sys.executable, "-m", "bpf_build.cli.main", *args], check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def python_skeleton(compile_c, cached_output):
    """python_skeleton(source, name) -> the skeleton class of BPF C ``source`` (object ``name``),
    from `bpf-build skel --lang python` imported as a module."""

    def build(source: str, name: str):
        obj = compile_c(source, name=name)
        out = cached_output(f"{name}_skel.py", Path(obj).read_bytes(),
                            lambda path: cli("skel", "--lang", "python", obj, "-o", str(path)))
        spec = importlib.util.spec_from_file_location(f"{name}_skel_{os.getpid()}", out)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return getattr(module, f"{name}_bpf")

    return build
