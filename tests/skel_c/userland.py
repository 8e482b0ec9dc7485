"""Build and run user-space C programs with the real gcc against the system's libbpf.

Shared by tests/skel_c and tests/btf_c."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from typing import Sequence

import pytest

TRACEFS = "/sys/kernel/tracing"


def gcc_build(source: str, out_dir, name: str, include_dirs: Sequence[str] = (),
              flags: Sequence[str] = (), link_libbpf: bool = True) -> str:
    """Compile one C file (dedented ``source``) to an executable; fail the test with gcc's
    diagnostics if it does not build. Warnings are errors: generated headers must be clean."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed")
    src = os.path.join(out_dir, f"{name}.c")
    exe = os.path.join(out_dir, name)
    with open(src, "w") as f:
        f.write(textwrap.dedent(source))
    argv = [gcc, "-O1", "-g", "-Wall", "-Werror", "-Wno-unused-function", *flags,
            *(f"-I{d}" for d in include_dirs), src, "-o", exe]
    if link_libbpf:
        argv += ["-lbpf", "-lelf", "-lz"]
    proc = subprocess.run(argv, capture_output=True, text=True)
    assert proc.returncode == 0, f"gcc failed on {src}:\n{proc.stderr}"
    return exe


def run_program(exe: str, *args: str, timeout: int = 60) -> str:
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f"{exe} exited {proc.returncode}\nstdout:\n{proc.stdout}\n"
                                  f"stderr:\n{proc.stderr}")
    return proc.stdout


def ensure_tracefs() -> None:
    """Tracepoints attach only with tracefs mounted."""
    if os.path.exists(os.path.join(TRACEFS, "events")):
        return
    proc = subprocess.run(["mount", "-t", "tracefs", "tracefs", TRACEFS], capture_output=True, text=True)
    if proc.returncode != 0 and not os.path.exists(os.path.join(TRACEFS, "events")):
        pytest.skip(f"cannot mount tracefs: {proc.stderr.strip()}")


def parse_key_values(output: str) -> dict:
    """``key=value`` tokens printed by a test program, values as int when they are numbers."""
    values = {}
    for token in output.split():
        if "=" in token:
            key, _, value = token.partition("=")
            try:
                values[key] = int(value, 0)
            except ValueError:
                values[key] = value
    return values
