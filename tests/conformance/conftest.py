"""Conformance set: BPF programs of our own, one per pattern the public corpora (libbpf-bootstrap,
bcc's libbpf-tools) rely on, each taken through all three skeleton kinds the way a user would:
`bpf-build compile` + `bpf-link`, then `bpf-build skel` (C, compiled against user code written for
bpftool's header, with -lbpf), `skel --light` (C and C++), `skel --lang python` (imported).

bpf/NAME.bpf.c is the program (bpf/NAME.h the types it shares with user space, as upstream tools
keep them), user/NAME.c the C-skeleton user, user/NAME.light.c the light-skeleton user; each user
prints "ok" when every check held. bench/corpus_check.py runs the corpora themselves."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tool

HERE = Path(__file__).resolve().parent
BPF_DIR = HERE / "bpf"
USER_DIR = HERE / "user"
CLI = [sys.executable, "-m", "bpf_build.cli.main"]
LINK = [sys.executable, "-m", "bpf_build.cli.link"]


def run_tool(argv, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, argv))}\n{proc.stdout}{proc.stderr}"
    return proc


def kernel_ok() -> bool:
    return os.geteuid() == 0 and os.path.exists("/sys/kernel/btf/vmlinux")


@pytest.fixture
def kernel():
    if not kernel_ok():
        pytest.skip("needs root and a kernel with BTF to load BPF programs")


@pytest.fixture(scope="session")
def tracefs():
    """Tracepoint programs attach through tracefs' event ids."""
    if not any(os.path.isdir(f"{root}/events/syscalls") for root in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")):
        pytest.skip("tracefs is not mounted")


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("conformance")


@pytest.fixture(scope="session")
def bpf_object(workdir):
    """bpf_object(name, cflags=()) -> NAME.bpf.o: compiled with the CLI and linked with bpf-link
    (once per flags). Sources including "vmlinux.h" get one from `bpf-build vmlinux`."""
    built = {}

    def build(name: str, cflags=()) -> Path:
        key = (name, tuple(cflags))
        if key not in built:
            d = workdir / name / ("default" if not cflags else f"flags{len(built)}")
            d.mkdir(parents=True, exist_ok=True)
            src = BPF_DIR / f"{name}.bpf.c"
            includes = ["-I", BPF_DIR]
            if '"vmlinux.h"' in src.read_text():
                vmlinux_dir = workdir / "_vmlinux"
                if not (vmlinux_dir / "vmlinux.h").exists():
                    vmlinux_dir.mkdir(exist_ok=True)
                    run_tool(CLI + ["vmlinux", "-o", vmlinux_dir / "vmlinux.h"])
                includes += ["-I", vmlinux_dir]
            tmp, obj = d / f"{name}.tmp.o", d / f"{name}.bpf.o"
            flags = [f"--cflags={' '.join(cflags)}"] if cflags else []
            run_tool(CLI + ["compile", src, "-o", tmp, "-j", "1", *includes, *flags])
            run_tool(LINK + [tmp, "-o", obj])
            built[key] = obj
        return built[key]

    return build


@pytest.fixture(scope="session")
def python_skeleton(bpf_object, workdir):
    """python_skeleton(name) -> the generated skeleton class NAME_bpf, imported from its file."""
    loaded = {}

    def load(name: str):
        if name not in loaded:
            out = workdir / name / f"{name}_skel.py"
            run_tool(CLI + ["skel", "--lang", "python", bpf_object(name), "-o", out])
            module_name = f"conformance_{name}_skel"
            spec = importlib.util.spec_from_file_location(module_name, out)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            loaded[name] = getattr(module, f"{name}_bpf")
        return loaded[name]

    return load


def build_and_run_user(compiler: str, source: Path, include_dirs, exe: Path, extra=()) -> subprocess.CompletedProcess:
    """Compile one user program, run it, return the run (its checks print to stderr)."""
    cmd = [compiler, "-Wall", "-O1", *extra]
    for d in include_dirs:
        cmd += ["-I", d]
    cmd += [source, "-o", exe]
    if "-lbpf" in extra:  # libraries after the source
        cmd = [c for c in cmd if c != "-lbpf"] + ["-lbpf"]
    built = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, f"{source.name} does not compile:\n{built.stderr}"
    return subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)


def light_run(bpf_object, workdir, name: str, lang: str) -> subprocess.CompletedProcess:
    from bpf_build.headers import include_dir
    d = workdir / name / f"light_{lang}"
    d.mkdir(parents=True, exist_ok=True)
    run_tool(CLI + ["skel", "--light", bpf_object(name), "-o", d / f"{name}.lskel.h"])
    compiler = require_tool("g++" if lang == "c++" else "gcc")
    extra = ["-x", "c++"] if lang == "c++" else ["-Werror"]
    return build_and_run_user(compiler, USER_DIR / f"{name}.light.c", [include_dir(), d, USER_DIR, BPF_DIR],
                              d / name, extra)


def c_skeleton_run(bpf_object, workdir, name: str, who: str) -> subprocess.CompletedProcess:
    """The user program written for bpftool's skeleton API, built against `who`'s header."""
    d = workdir / name / f"c_{who}"
    d.mkdir(parents=True, exist_ok=True)
    header = d / f"{name}.skel.h"
    if who == "ours":
        run_tool(CLI + ["skel", bpf_object(name), "-o", header])
    else:
        header.write_text(run_tool([require_tool("bpftool"), "gen", "skeleton", bpf_object(name)]).stdout)
    return build_and_run_user(require_tool("gcc"), USER_DIR / f"{name}.c", [d, USER_DIR, BPF_DIR], d / name,
                              ["-lbpf"])
