"""The setuptools plugin through the front ends users run: pip wheel (with and without build
isolation), python -m build (sdist, then a wheel from it), pip install, pip install -e."""

from __future__ import annotations

import os
import platform
import sys
import zipfile
from pathlib import Path

import pytest

from bpf_build.model.elf import Object

PROJECT = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=64", "bpf-build"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "bpfdemo"
        version = "0.1"

        [tool.setuptools]
        packages = ["bpfdemo"]

        [tool.bpf-build]
        package = "bpfdemo"
        include-dirs = ["include"]
        skeletons = []

        [tool.bpf-build.objects.counter]
        sources = ["bpf/counter.bpf.c"]
        cflags = ["-DSTEP_FROM_CONFIG=3"]
        skeletons = ["python", "c", "light-c"]

        [tool.bpf-build.objects.pair]
        sources = ["bpf/first.bpf.c", "bpf/second.bpf.c"]
    """,
    "bpfdemo/__init__.py": "",
    "include/shared.h": "#define STEP STEP_FROM_CONFIG\n",
    "bpf/counter.bpf.c": """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        #include "shared.h"
        __u64 counter;
        SEC("raw_tp/sys_enter")
        int count_syscalls(void *ctx) { __sync_fetch_and_add(&counter, STEP); return 0; }
        char LICENSE[] SEC("license") = "GPL";
    """,
    "bpf/first.bpf.c": """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        SEC("socket") int first_prog(struct __sk_buff *skb) { return 1; }
        char LICENSE[] SEC("license") = "GPL";
    """,
    "bpf/second.bpf.c": """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        SEC("socket") int second_prog(struct __sk_buff *skb) { return 2; }
    """,
}

OUTPUTS = ["bpfdemo/counter.bpf.o", "bpfdemo/counter.lskel.h", "bpfdemo/counter.skel.h",
           "bpfdemo/counter_skel.py", "bpfdemo/pair.bpf.o"]


@pytest.fixture
def demo(tmp_path, helpers):
    return helpers.write_project(tmp_path / "demo", PROJECT)


def check_objects(read):
    """The two objects a build of PROJECT made; ``read(relpath) -> bytes``."""
    counter = Object.read(read("bpfdemo/counter.bpf.o"))
    assert counter.symbol("count_syscalls") is not None
    pair = Object.read(read("bpfdemo/pair.bpf.o"))
    assert pair.symbol("first_prog") is not None and pair.symbol("second_prog") is not None, \
        "the two sources are linked into one object"
    assert b"class counter_bpf(_rt.Skeleton)" in read("bpfdemo/counter_skel.py")  # as bpftool names counter.bpf.o
    assert b"struct counter_bpf {" in read("bpfdemo/counter.skel.h")
    assert b"counter_bpf__open_and_load" in read("bpfdemo/counter.lskel.h")


def test_pip_wheel_has_objects_and_a_platform_tag(demo, tmp_path, pip, helpers):
    pip.wheel(demo, tmp_path / "out")
    wheel = helpers.only_wheel(tmp_path / "out")
    machine = platform.machine()
    assert wheel.name == f"bpfdemo-0.1-py3-none-manylinux_2_17_{machine}.musllinux_1_1_{machine}.whl"
    names = helpers.wheel_names(wheel)
    assert set(OUTPUTS) <= set(names)
    with zipfile.ZipFile(wheel) as z:
        assert "Root-Is-Purelib: false" in z.read("bpfdemo-0.1.dist-info/WHEEL").decode()
        check_objects(z.read)


def test_wheels_are_reproducible(tmp_path, pip, helpers):
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    wheels = []
    for where in ("one", "two/deeper"):
        project = helpers.write_project(tmp_path / where / "demo", PROJECT)
        pip.wheel(project, tmp_path / where / "out", env=env)
        wheels.append(helpers.only_wheel(tmp_path / where / "out").read_bytes())
    assert wheels[0] == wheels[1]


def test_sdist_carries_sources_and_rebuilds(demo, tmp_path, wheelhouse, helpers):
    out = tmp_path / "dist"
    helpers.run([sys.executable, "-m", "build", "--outdir", out, demo],
                env={"PIP_FIND_LINKS": f"{wheelhouse} {os.environ.get('PIP_FIND_LINKS', '')}".strip()})
    import tarfile
    sdist = next(out.glob("*.tar.gz"))
    with tarfile.open(sdist) as t:
        members = {m.name.split("/", 1)[1] for m in t.getmembers() if "/" in m.name}
    assert {"bpf/counter.bpf.c", "bpf/first.bpf.c", "bpf/second.bpf.c", "include/shared.h",
            "pyproject.toml"} <= members
    assert not any(m.endswith(".bpf.o") for m in members), "the sdist has sources, not objects"
    # python -m build makes the wheel from the sdist: that is the rebuild.
    with zipfile.ZipFile(next(out.glob("*.whl"))) as z:
        check_objects(z.read)


def test_pip_install_and_editable_install(demo, tmp_path, pip, helpers):
    python = pip.venv(tmp_path / "venv")
    locate = [python, "-c", "import bpfdemo, os; print(os.path.dirname(bpfdemo.__file__))"]
    pip.install(python, demo)
    installed = Path(helpers.run(locate).stdout.strip())
    assert "site-packages" in installed.parts
    check_objects(lambda rel: (installed.parent / rel).read_bytes())
    assert not (demo / "bpfdemo/counter.bpf.o").exists(), "a regular install leaves the package alone"

    pip.install(python, "-e", demo)
    assert Path(helpers.run(locate).stdout.strip()) == demo / "bpfdemo"
    check_objects(lambda rel: (demo / rel).read_bytes())
    skeleton = [python, "-c", "import importlib.util; print(importlib.util.find_spec('bpfdemo.counter_skel').origin)"]
    assert Path(helpers.run(skeleton).stdout.strip()) == demo / "bpfdemo/counter_skel.py", \
        "the generated skeleton is imported from the source tree"


def test_no_build_isolation(demo, tmp_path, pip, helpers):
    """`pip wheel --no-build-isolation` where bpf-build (and setuptools) are installed."""
    python = pip.venv(tmp_path / "venv")
    pip.install(python, "bpf-build", "setuptools>=64", "wheel")
    helpers.run([sys.executable, "-m", "pip", "--python", python, "wheel", "--no-deps",
                 "--no-build-isolation", demo, "-w", tmp_path / "out"])
    with zipfile.ZipFile(helpers.only_wheel(tmp_path / "out")) as z:
        check_objects(z.read)
    # A project without [tool.bpf-build] built in that same environment is left alone.
    plain = helpers.write_project(tmp_path / "plain", {
        "pyproject.toml": '[project]\nname = "plain"\nversion = "1"\n',
        "plain/__init__.py": ""})
    helpers.run([sys.executable, "-m", "pip", "--python", python, "wheel", "--no-deps",
                 "--no-build-isolation", plain, "-w", tmp_path / "plain-out"])
    assert helpers.only_wheel(tmp_path / "plain-out").name == "plain-1-py3-none-any.whl"


def test_config_error_is_one_line_naming_file_and_key(demo, tmp_path, pip):
    pyproject = demo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('sources = ["bpf/counter.bpf.c"]',
                                                      'sorces = ["bpf/counter.bpf.c"]'))
    proc = pip.wheel(demo, tmp_path / "out", check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert f"error: {pyproject}: tool.bpf-build.objects.counter.sorces: unknown key" in output
    assert "Traceback" not in output
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_compile_error_shows_clang_and_names_the_source(demo, tmp_path, pip):
    (demo / "bpf/first.bpf.c").write_text("int broken(void) { return nope; }\n")
    proc = pip.wheel(demo, tmp_path / "out", check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "error: use of undeclared identifier 'nope'" in output
    assert f"error: {demo}/bpf/first.bpf.c: compile failed (clang exited with status 1)" in output
    assert "Traceback" not in output
