"""Fixtures for building projects that ship BPF the way their users do: real pip, real
setuptools from the package index, bpf-build from a wheel built from this checkout.

Building wheels is slow, so every expensive result (the bpf-build wheel, each example's wheel, a
venv with an example installed) is made once per test session and shared by the xdist workers
through a directory next to their temporary roots, under a file lock.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# Build leftovers that never belong in a copy of a project.
_JUNK = shutil.ignore_patterns("__pycache__", "build", "dist", "*.egg-info", ".*", "builddir")


def _shared_root(tmp_path_factory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker has its own basetemp below a common parent.
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def once_across_workers(root: Path, name: str, make: Callable[[Path], None]) -> Path:
    """The directory ``root/name``, filled by ``make(dir)`` by whichever worker gets there first."""
    target = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / ".done").exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            make(target)
            (target / ".done").touch()
    return target


def run(argv: List[str], *, cwd=None, env: Optional[Dict[str, str]] = None, check: bool = True,
        timeout: float = 600) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {proc.returncode}\n"
                             f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}")
    return proc


def copy_project(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, ignore=_JUNK)
    return dest


def _build_bpf_build_wheel(out: Path) -> None:
    """The two distributions of this repository, as a release publishes them: bpf-build (the
    tooling) and bpf-build-runtime (runtime-dist/, the runtime its link points at)."""
    src = out / "src"
    src.mkdir()
    shutil.copytree(REPO / "bpf_build", src / "bpf_build", ignore=_JUNK)
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copy(REPO / "README.md", src)
    shutil.copytree(REPO / "runtime-dist", src / "runtime-dist", ignore=_JUNK)  # the link copied as files
    for project in (src, src / "runtime-dist"):
        run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", project, "-w", out / "wheels"])
    shutil.rmtree(src)


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    # $BPF_BUILD_TEST_CACHE: wheels and venvs built on the host, used by the kernels that
    # tests/kernels/test_vm_kernels.py boots (they have no network to build them).
    shared = os.environ.get("BPF_BUILD_TEST_CACHE")
    if shared:
        (Path(shared) / "build").mkdir(parents=True, exist_ok=True)
        return Path(shared) / "build"
    return _shared_root(tmp_path_factory)


@pytest.fixture(scope="session")
def wheelhouse(shared_dir) -> Path:
    """A directory holding the bpf-build and bpf-build-runtime wheels built from this checkout
    (for --find-links)."""
    return once_across_workers(shared_dir, "bpf-build-wheel", _build_bpf_build_wheel) / "wheels"


class Pip:
    """pip as a user runs it, resolving bpf-build from the local wheelhouse."""

    def __init__(self, wheelhouse: Path):
        self.wheelhouse = wheelhouse

    def wheel(self, project: Path, out: Path, *extra, env=None, check=True) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--find-links", self.wheelhouse,
                    *extra, project, "-w", out], env=env, check=check)

    def install(self, python: Path, *args, env=None, check=True) -> subprocess.CompletedProcess:
        return run([sys.executable, "-m", "pip", "--python", python, "install", "--find-links",
                    self.wheelhouse, *args], env=env, check=check)

    def venv(self, path: Path) -> Path:
        """A fresh virtualenv (pip runs from outside it: faster than seeding pip into each)."""
        run([sys.executable, "-m", "venv", "--without-pip", path])
        return path / "bin" / "python"


@pytest.fixture(scope="session")
def pip(wheelhouse) -> Pip:
    return Pip(wheelhouse)


def only_wheel(directory: Path) -> Path:
    wheels = sorted(directory.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def wheel_names(wheel: Path) -> List[str]:
    with zipfile.ZipFile(wheel) as z:
        return sorted(z.namelist())


def build_example_wheel(shared_dir: Path, pip: Pip, name: str) -> Path:
    """The wheel `pip wheel` builds from a copy of examples/<name> (once per shared_dir)."""
    def make(out: Path) -> None:
        project = copy_project(EXAMPLES / name, out / "project")
        pip.wheel(project, out / "wheel")
    return only_wheel(once_across_workers(shared_dir, f"example-{name}", make) / "wheel")


def install_example(shared_dir: Path, pip: Pip, name: str) -> Path:
    """bin/ of a fresh venv with the example's wheel installed (and so its dependencies,
    bpf-build-runtime alone, as a user gets them)."""
    wheel = build_example_wheel(shared_dir, pip, name)

    def make(out: Path) -> None:
        python = pip.venv(out / "venv")
        pip.install(python, wheel)
    return once_across_workers(shared_dir, f"venv-{name}", make) / "venv" / "bin"


@pytest.fixture(scope="session")
def example_wheel(shared_dir, pip) -> Callable[[str], Path]:
    """example_wheel(name) -> the wheel `pip wheel` builds from a copy of examples/<name>."""
    return lambda name: build_example_wheel(shared_dir, pip, name)


@pytest.fixture(scope="session")
def example_venv(shared_dir, pip) -> Callable[[str], Path]:
    """example_venv(name) -> bin/ of a venv with examples/<name>'s wheel installed."""
    return lambda name: install_example(shared_dir, pip, name)


@pytest.fixture(scope="session")
def tracefs() -> None:
    """Tracepoints attach only with tracefs mounted."""
    if not os.path.exists("/sys/kernel/tracing/events"):
        proc = subprocess.run(["mount", "-t", "tracefs", "tracefs", "/sys/kernel/tracing"],
                              capture_output=True, text=True)
        if proc.returncode != 0 and not os.path.exists("/sys/kernel/tracing/events"):
            pytest.skip(f"cannot mount tracefs: {proc.stderr.strip()}")


def have_bpf() -> bool:
    return os.geteuid() == 0 and os.path.exists("/sys/kernel/btf/vmlinux")


def write_project(root: Path, files: Dict[str, str]) -> Path:
    """A project from {relative path: text}; texts are dedented."""
    import textwrap
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


@pytest.fixture(scope="session")
def helpers():
    """The module-level helpers above, for test modules (importlib mode cannot import conftest)."""
    import types
    return types.SimpleNamespace(run=run, copy_project=copy_project, only_wheel=only_wheel,
                                 wheel_names=wheel_names, write_project=write_project,
                                 examples=EXAMPLES, have_bpf=have_bpf)
