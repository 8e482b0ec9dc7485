"""`bpf-build inspect` and `bpf-build btf dump` as a user runs them."""

import subprocess
import sys

import pytest

from bpf_build.model.btf import dump_raw
from bpf_build.model.elf import Object

from tests.model.conftest import MODEL_CORPUS


def run(*args):
    return subprocess.run([sys.executable, "-m", "bpf_build.cli.main", *args], capture_output=True, text=True)


def test_inspect_lists_programs_maps_and_btf(compile_c):
    path = compile_c(MODEL_CORPUS["maps_and_data"], name="maps_and_data")
    r = run("inspect", path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "count_packets" in out and "sock_prog" in out
    assert "counts" in out and "events" in out
    for section in (".bss", ".data", ".rodata", ".data.custom"):
        assert section in out
    n = len(Object.read(path).btf.types)
    assert f"btf: {n} types" in out


def test_btf_dump_of_object_and_raw_file(compile_c, tmp_path):
    path = compile_c(MODEL_CORPUS["maps_and_data"], name="maps_and_data")
    r = run("btf", "dump", path)
    assert r.returncode == 0
    btf = Object.read(path).btf
    assert r.stdout == dump_raw(btf)
    raw = tmp_path / "raw.btf"
    raw.write_bytes(btf.encode())
    assert run("btf", "dump", str(raw)).stdout == r.stdout


@pytest.mark.parametrize("content, reason", [
    (b"", "not an ELF file|too short"),
    (b"\x7fELF" + b"\x02\x01\x01" + b"\x00" * 100, "not a BPF object|malformed"),
    (b"hello world, definitely not BTF", "bad BTF magic"),
])
def test_bad_input_is_one_line_exit_1(tmp_path, content, reason):
    bad = tmp_path / "bad.o"
    bad.write_bytes(content)
    for args in (("inspect", str(bad)), ("btf", "dump", str(bad))):
        r = run(*args)
        assert r.returncode == 1
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith(f"error: {bad}: ")
        assert "Traceback" not in r.stderr


def test_missing_file_and_usage_errors(tmp_path):
    r = run("inspect", str(tmp_path / "nope.o"))
    assert r.returncode == 1 and "No such file" in r.stderr
    r = run("no-such-command")
    assert r.returncode == 2 and "Traceback" not in r.stderr
