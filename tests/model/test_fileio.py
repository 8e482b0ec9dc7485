"""write_atomic under interruption (real signals to real processes) and its output permissions
(the real CLI under real umasks)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bpf_build.model import btf as B
from bpf_build.fileio import write_atomic
from tests.processes import sigint_as_in_a_terminal

REPO = Path(__file__).resolve().parents[2]

# A process writing OUT (argv[1]) with write_atomic and pausing between writing the temporary
# file and renaming it, so a signal can be sent while the temporary file exists: the pause
# stretches that window, everything else is the code under test.
WRITER = textwrap.dedent("""
    import os, sys, time
    from bpf_build import fileio
    from bpf_build.cli.common import run_cli

    real_replace = os.replace

    def slow_replace(src, dst):
        print("window", flush=True)
        time.sleep(60)
        real_replace(src, dst)

    fileio.os.replace = slow_replace
    if sys.argv[2] == "cli":
        sys.exit(run_cli(lambda: fileio.write_atomic(sys.argv[1], b"x" * 100000)))
    fileio.write_atomic(sys.argv[1], b"x" * 100000)
""")


def temps(directory: Path):
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)


def start_writer(tmp_path: Path, how: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "out.h"), how],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=sigint_as_in_a_terminal,
                            cwd=str(REPO), env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.stdout.readline() == "window\n"
    assert len(temps(tmp_path)) == 1, "the temporary file exists while the writer pauses"
    return proc


@pytest.mark.parametrize("how", ["cli", "library"])
def test_sigterm_removes_the_temporary_file_and_still_terminates(tmp_path, how):
    proc = start_writer(tmp_path, how)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM, err
    assert os.listdir(tmp_path) == []


def test_ctrl_c_removes_the_temporary_file(tmp_path):
    proc = start_writer(tmp_path, "cli")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err == ""
    assert os.listdir(tmp_path) == []


def test_after_sigkill_the_next_write_removes_the_stale_temporary_file(tmp_path):
    proc = start_writer(tmp_path, "library")
    stale = temps(tmp_path)
    assert stale and f"-bpf-build-{proc.pid}-" in stale[0]
    proc.kill()
    proc.wait(timeout=30)
    assert temps(tmp_path) == stale  # SIGKILL cannot be caught: the file stays ...
    keep = tmp_path / ".other.h.tmp-bpf-build-1-abc"  # ... and others' files are not ours
    keep.write_bytes(b"")
    write_atomic(tmp_path / "out.h", b"new")  # ... until the next write of the same output
    assert (tmp_path / "out.h").read_bytes() == b"new"
    assert temps(tmp_path) == [keep.name]


def test_a_write_failing_part_way_leaves_nothing_and_says_why(tmp_path):
    """A real short write: the file size limit (RLIMIT_FSIZE) stops the temporary file at 64
    bytes of the header."""
    import resource

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))

    src = small_btf(tmp_path / "small.btf")
    out = tmp_path / "out" / "vmlinux.h"
    out.parent.mkdir()
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "vmlinux", "--btf", str(src),
                           "-o", str(out)], preexec_fn=limit, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr == f"error: {out}: cannot write: File too large\n"
    assert os.listdir(out.parent) == []


# -- permissions: the real CLI under real umasks -------------------------------------------------

def small_btf(path: Path) -> Path:
    btf = B.Btf()
    btf.add(B.BtfType(B.INT, "int", size=4, int_bits=32, int_encoding=B.INT_SIGNED))
    path.write_bytes(btf.encode())
    return path


def vmlinux_h(tmp_path: Path, umask: int, out: Path) -> None:
    src = small_btf(tmp_path / "small.btf")
    subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "vmlinux", "--btf", str(src), "-o", str(out)],
                   check=True, preexec_fn=lambda: os.umask(umask), capture_output=True)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664), (0o000, 0o666)])
def test_new_outputs_get_0666_minus_the_umask(tmp_path, umask, mode):
    out = tmp_path / "vmlinux.h"
    vmlinux_h(tmp_path, umask, out)
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_an_existing_output_keeps_its_mode(tmp_path):
    out = tmp_path / "vmlinux.h"
    out.write_text("old")
    out.chmod(0o600)
    vmlinux_h(tmp_path, 0o022, out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text() != "old"
