"""Incremental rebuilds, parallel compiles and depfiles of `bpf-build compile`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from bpf_build.project.compile import parse_depfile


def compiled(proc) -> list:
    """The sources a `bpf-build compile -v` run actually compiled."""
    return [line.split(" ", 1)[1] for line in proc.stdout.splitlines() if line.startswith("compiling ")]


def build(project, *extra):
    return project.bpf_build("compile", "counter.bpf.c", "-o", "out/counter.bpf.o", "-v", *extra, check=0)


def test_noop_rebuild_does_not_compile(project):
    assert compiled(build(project)) == ["counter.bpf.c"]
    before = os.stat(project.root / "out/counter.bpf.o").st_mtime_ns
    proc = build(project)
    assert compiled(proc) == []
    assert "up to date: out/counter.bpf.o" in proc.stdout
    assert os.stat(project.root / "out/counter.bpf.o").st_mtime_ns == before


def test_header_change_rebuilds_but_touch_does_not(project):
    build(project)
    os.utime(project.root / "common.h")  # a checkout or a copy: new time, same bytes
    assert compiled(build(project)) == []
    project.write("common.h", "#define STEP 2\n")
    assert compiled(build(project)) == ["counter.bpf.c"]


def test_changed_flags_or_target_rebuild(project):
    build(project)
    assert compiled(build(project, "--cflags=-DEXTRA=1")) == ["counter.bpf.c"]
    assert compiled(build(project, "--cflags=-DEXTRA=1")) == []
    assert compiled(build(project, "--cflags=-DEXTRA=1", "--target", "bpfeb")) == ["counter.bpf.c"]


def test_deleted_or_replaced_output_is_rebuilt(project):
    build(project)
    (project.root / "out/counter.bpf.o").write_bytes(b"not an object")
    assert compiled(build(project)) == ["counter.bpf.c"]
    (project.root / "out/counter.bpf.o").unlink()
    assert compiled(build(project)) == ["counter.bpf.c"]


def test_force_recompiles(project):
    build(project)
    assert compiled(build(project, "--force")) == ["counter.bpf.c"]


def test_depfile_names_the_output_and_every_header(project):
    project.bpf_build("compile", "counter.bpf.c", "-o", "out/counter.bpf.o", "--depfile", "out/counter.d",
                      check=0)
    text = (project.root / "out/counter.d").read_text()
    assert text.startswith("out/counter.bpf.o:")
    deps = parse_depfile(text)
    assert deps[0] == "counter.bpf.c"
    assert "common.h" in deps
    assert any(d.endswith("/bpf/bpf_helpers.h") for d in deps)
    assert all(os.path.exists(project.root / d) for d in deps)


def test_parse_depfile_handles_escapes_and_continuations():
    text = "out\\ dir/x.o: a.c dir\\ with\\ space/b.h \\\n  c$$.h \\\n d.h\nother.o: e.h\n"
    assert parse_depfile(text) == ["a.c", "dir with space/b.h", "c$.h", "d.h", "e.h"]


@pytest.mark.skipif(shutil.which("ninja") is None, reason="ninja not installed")
def test_ninja_uses_the_depfile(project):
    """The depfile is what ninja needs: a no-op second run, a rebuild when a header changes."""
    import sys
    (project.root / "build.ninja").write_text(
        "rule bpf\n"
        f"  command = {sys.executable} -m bpf_build.cli.main compile $in -o $out --depfile $out.d\n"
        "  depfile = $out.d\n"
        "  deps = gcc\n"
        "build counter.bpf.o: bpf counter.bpf.c\n")

    def ninja():
        return subprocess.run(["ninja", "-d", "explain"], cwd=project.root, capture_output=True,
                              text=True, check=True)

    assert "[1/1]" in ninja().stdout
    assert (project.root / "counter.bpf.o").exists()
    assert "no work to do" in ninja().stdout
    time.sleep(0.01)
    project.write("common.h", "#define STEP 3\n")
    proc = ninja()
    assert "[1/1]" in proc.stdout, "a header named only in the depfile made ninja rebuild"
    assert "no work to do" in ninja().stdout


def timing_clang(tmp_path) -> str:
    """$BPF_CLANG for a test: the real clang, with each compile's start and end logged and
    lengthened by a short sleep so overlapping compiles are unmistakable."""
    real = shutil.which("clang-19") or shutil.which("clang")
    log = tmp_path / "compiles.log"
    script = tmp_path / "timing-clang"
    script.write_text(
        "#!/bin/sh\n"
        "case \" $* \" in *\" -c \"*)\n"
        f"  echo \"start $(date +%s.%N)\" >> {log}\n"
        "  sleep 0.4\n"
        f"  {real} \"$@\"; rc=$?\n"
        f"  echo \"end $(date +%s.%N)\" >> {log}\n"
        "  exit $rc;;\n"
        "esac\n"
        f"exec {real} \"$@\"\n")
    script.chmod(0o755)
    return str(script)


def most_at_once(log_path) -> int:
    events = []
    for line in open(log_path):
        kind, when = line.split()
        events.append((float(when), 1 if kind == "start" else -1))
    running = peak = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("jobs,expected_peak", [(1, 1), (2, 2)])
def test_parallel_compiles(project, tmp_path_factory, jobs, expected_peak):
    tools = tmp_path_factory.mktemp("tools")
    clang = timing_clang(tools)
    sources = []
    for i in range(4):
        sources.append(f"s{i}.bpf.c")
        project.write(sources[-1], open(project.root / "counter.bpf.c").read())
    project.bpf_build("compile", *sources, "--out-dir", "objs", "-j", jobs, env={"BPF_CLANG": clang},
                      check=0)
    assert all((project.root / "objs" / f"s{i}.bpf.o").exists() for i in range(4))
    assert most_at_once(tools / "compiles.log") == expected_peak
