"""The lowest dependency versions pyproject.toml claims really work: each lower bound installed
exactly (from the package index), bpf-build and its runtime from this checkout's wheels, then
the plugin builds an example without build isolation (so the pinned setuptools runs it) and the
CLI reads the object it made."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]


def lowest_pins() -> list:
    """``name==X`` for every dependency with a ``>=X`` bound that applies to this Python."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    with open(REPO / "pyproject.toml", "rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    pins = []
    for line in dependencies:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(default_environment()):
            continue
        lower = [s.version for s in req.specifier if s.operator == ">="]
        if lower:
            pins.append(f"{req.name}=={lower[0]}")
    return pins


def test_lowest_supported_versions_build_and_read(tmp_path, pip, helpers):
    pins = lowest_pins()
    assert {p.split("==")[0] for p in pins} >= {"pyelftools", "packaging", "setuptools"}
    python = pip.venv(tmp_path / "venv")
    # wheel: setuptools < 70.1 builds wheels through it (a front end with isolation adds it).
    pip.install(python, *pins, "wheel")  # with their own dependencies (packaging < 22: pyparsing)
    pip.install(python, "bpf-build", "bpf-build-runtime", "--no-deps")
    installed = helpers.run([python, "-c", "import importlib.metadata as m; "
                             "print(' '.join(m.version(n) for n in "
                             f"{[p.split('==')[0] for p in pins]!r}))"], cwd=tmp_path).stdout.split()
    assert [Version(v) for v in installed] == [Version(p.split("==")[1]) for p in pins], \
        "the lowest versions are what runs"
    project = helpers.copy_project(helpers.examples / "hello", tmp_path / "hello")
    helpers.run([sys.executable, "-m", "pip", "--python", python, "wheel", "--no-deps", "--no-build-isolation",
                 project, "-w", tmp_path / "out"])
    wheel = helpers.only_wheel(tmp_path / "out")
    with zipfile.ZipFile(wheel) as z:
        (tmp_path / "hello.bpf.o").write_bytes(z.read("hello/hello.bpf.o"))
        assert b"class hello_bpf(" in z.read("hello/hello_skel.py")
    summary = helpers.run([python, "-m", "bpf_build.cli.main", "inspect", tmp_path / "hello.bpf.o"],
                          cwd=tmp_path).stdout
    assert "PROGBITS" in summary and "programs:" in summary
