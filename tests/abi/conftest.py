"""Fixtures for bpf-abi tests: build small C shared libraries with gcc and a version script, and
run the CLI in-process or as a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import pytest

from bpf_build.cli.abi import main as abi_main

REPO = Path(__file__).resolve().parents[2]
API = '#define API __attribute__((visibility("default")))\n'


@dataclass
class Built:
    lib: str
    map: str
    obj: str
    dir: Path


@pytest.fixture(scope="session")
def build_lib(tmp_path_factory):
    """build_lib(c_source, map_text, soname='libt.so.1', cflags=()) -> Built.

    Sources get an `API` macro (default visibility) prepended and are compiled with
    -fvisibility=hidden like libbpf; identical inputs are built once per session."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    root = tmp_path_factory.mktemp("abilibs")

    def build(source: str, map_text: Optional[str], soname: str = "libt.so.1", cflags=(),
              ldflags=(), header: Optional[str] = None, private_header: Optional[str] = None) -> Built:
        source = API + textwrap.dedent(source)
        if private_header is not None:  # internal.h: included by the library, never installed
            private_header = textwrap.dedent(private_header)
            source = '#include "internal.h"\n' + source
        if header is not None:  # public types must come from a header to count as API
            header = textwrap.dedent(header)
            source = '#include "lib.h"\n' + source
        map_text = textwrap.dedent(map_text) if map_text is not None else None
        key = hashlib.sha256(repr((source, header, private_header, map_text, soname, list(cflags),
                                   list(ldflags))).encode())
        d = root / key.hexdigest()[:16]
        lib, obj, mp = d / soname, d / "lib.o", d / "lib.map"
        if not lib.exists():
            d.mkdir(exist_ok=True)
            if header is not None:
                (d / "lib.h").write_text(header)
            if private_header is not None:
                (d / "internal.h").write_text(private_header)
            (d / "lib.c").write_text(source)
            done = subprocess.run(["gcc", "-g", "-O1", "-fPIC", "-fvisibility=hidden", *cflags, "-c", "-o",
                                   str(obj), str(d / "lib.c")], capture_output=True, text=True)
            if done.returncode != 0:
                raise AssertionError(f"compile failed: {done.stderr}")
            link = ["gcc", "-shared", f"-Wl,-soname,{soname}", *ldflags, "-o", str(lib), str(obj)]
            if map_text is not None:
                mp.write_text(map_text)
                link.insert(2, f"-Wl,--version-script={mp}")
            done = subprocess.run(link, capture_output=True, text=True)
            if done.returncode != 0:
                raise AssertionError(f"link failed: {done.stderr}")
        return Built(str(lib), str(mp), str(obj), d)

    return build


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> List[str]:
        return self.out.splitlines()

    def json(self):
        return json.loads(self.out)

    def codes(self) -> List[str]:
        return [f["code"] for f in self.json()["findings"]]


@pytest.fixture
def bpf_abi(capsys):
    """Run `bpf-abi ARGS` in-process; returns exit code and captured output."""

    def run(*args) -> Run:
        capsys.readouterr()
        try:
            code = abi_main([str(a) for a in args])
        except SystemExit as e:  # argparse usage errors
            code = e.code
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def bpf_abi_process():
    """Run bpf-abi as a real process: for checks that nothing escapes as a traceback."""
    return run_subprocess


def run_subprocess(*args, cwd=None) -> Run:
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.abi", *[str(a) for a in args]],
                          capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)})
    return Run(proc.returncode, proc.stdout, proc.stderr)
