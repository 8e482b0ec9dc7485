"""A generated Python skeleton as a type checker sees it, with bpf-build-runtime installed from
its wheel as a user has it: mypy --strict and pyright (strict) accept the skeleton and code using
it, know what ``open()``, ``skel.rodata.X`` and ``skel.maps.NAME`` are (not Any), and flag
misuse."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SOURCE = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct event { __u32 pid; __u32 ppid; char comm[16]; };
    struct key { __u32 pid; __u32 cpu; };
    struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
    struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64);
             __type(key, struct key); __type(value, __u64); } counts SEC(".maps");
    struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1);
             __type(key, __u32); __type(value, struct event); } scratch SEC(".maps");
    const volatile int parent_pid = 0;
    __u64 seen;
    SEC("tracepoint/syscalls/sys_enter_execve")
    int on_exec(void *ctx) {
        struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
        if (!e)
            return 0;
        e->pid = bpf_get_current_pid_tgid() >> 32;
        e->ppid = parent_pid;
        seen++;
        bpf_ringbuf_submit(e, 0);
        return 0;
    }
    char LICENSE[] SEC("license") = "GPL";
"""

# Every assert_type fails if the skeleton's types are Any or wrong.
GOOD_USE = """
    from __future__ import annotations

    from typing import Iterator

    from typing_extensions import assert_type

    from demo_skel import demo_bpf, event, key


    def counts(skel: demo_bpf) -> Iterator[tuple[key, int]]:
        return skel.maps.counts.items()


    def configure(skel: demo_bpf) -> None:
        assert_type(skel.rodata.parent_pid, int)
        skel.rodata.parent_pid = 42


    def main() -> None:
        skel = demo_bpf.open()
        assert_type(skel, demo_bpf)
        configure(skel)
        with skel:
            assert_type(skel.load(), demo_bpf)
            assert_type(skel.maps.counts.lookup(key(pid=1, cpu=0)), "int | None")
            assert_type(skel.maps.scratch[0], list[event])
            assert_type(skel.maps.scratch[0][0].comm, bytes)
            assert_type(skel.bss.seen, int)
        with demo_bpf.open_and_load() as loaded:
            assert_type(loaded, demo_bpf)
            for k, v in counts(loaded):
                print(k.pid + v)
"""

# One mistake per line, each on the line named in BAD_LINES.
BAD_USE = """
    from demo_skel import demo_bpf


    def misuse(skel: demo_bpf) -> None:
        name: str = skel.rodata.parent_pid
        skel.maps.counts.update("pid", 1)
        skel.maps.countz.clear()
        skel.progs.on_exec.no_such_method()
"""
BAD_LINES = [5, 6, 7, 8]


@pytest.fixture(scope="module")
def typed_project(tmp_path_factory, compile_c, pip):
    """A directory with demo_skel.py and a venv with bpf-build-runtime installed from its wheel."""
    root = tmp_path_factory.mktemp("typed")
    obj = compile_c(SOURCE, name="demo")
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "skel", "--lang", "python", obj, "-o",
                           str(root / "demo_skel.py")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    python = pip.venv(root / "venv")
    pip.install(python, "bpf-build-runtime")
    (root / "good.py").write_text(textwrap.dedent(GOOD_USE).lstrip())
    (root / "bad.py").write_text(textwrap.dedent(BAD_USE).lstrip())
    (root / "pyrightconfig.json").write_text('{"typeCheckingMode": "strict", "exclude": ["venv"]}\n')
    return root, python


def mypy(root: Path, python: Path, *files: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-executable",
                           str(python), *files], cwd=root, capture_output=True, text=True)


def pyright(root: Path, python: Path, *files: str) -> subprocess.CompletedProcess:
    # The pyright distribution on PyPI runs the npm package with node (fetched once, then cached).
    tool = Path(sys.executable).with_name("pyright")
    return subprocess.run([str(tool), "--pythonpath", str(python), *files], cwd=root, capture_output=True,
                          text=True, timeout=600)


def test_mypy_strict_knows_the_skeleton(typed_project):
    root, python = typed_project
    good = mypy(root, python, "demo_skel.py", "good.py")
    assert good.returncode == 0, good.stdout + good.stderr
    bad = mypy(root, python, "bad.py")
    flagged = sorted({int(n) for n in re.findall(r"^bad\.py:(\d+): error", bad.stdout, re.M)})
    assert flagged == BAD_LINES, bad.stdout


def test_pyright_strict_knows_the_skeleton(typed_project):
    root, python = typed_project
    good = pyright(root, python, "demo_skel.py", "good.py")
    assert good.returncode == 0 and "0 errors" in good.stdout, good.stdout + good.stderr
    bad = pyright(root, python, "bad.py")
    flagged = sorted({int(n) for n in re.findall(r"bad\.py:(\d+):\d+ - error: (?!Variable .* is not accessed)",
                                                 bad.stdout)})
    assert flagged == BAD_LINES, bad.stdout
