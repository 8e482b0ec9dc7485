"""Shared fixtures: compile BPF C written by the tests with the real clang; enforce that kernel
and oracle tests never skip in CI (CI=true)."""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import textwrap

import pytest

from bpf_build.project.compile import compile_bpf

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
MUST_NOT_SKIP = ("kernel", "oracle")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and any(item.get_closest_marker(m) for m in MUST_NOT_SKIP):
        if not hasattr(report, "wasxfail"):
            report.outcome = "failed"
            report.longrepr = f"{item.nodeid}: kernel/oracle test skipped in CI: {report.longrepr}"


def pytest_collection_modifyitems(config, items):
    # Booting three kernels under emulation costs minutes of both cores: the README's test
    # command (scripts/test.sh, so CI) asks for it with BPF_BUILD_VM_TESTS=1; a bare `pytest`
    # leaves those tests out (deselected, not skipped: a skipped kernel test fails in CI).
    if os.environ.get("BPF_BUILD_VM_TESTS", "") not in ("1", "true", "yes"):
        booting = [item for item in items if item.get_closest_marker("vm")]
        if booting:
            config.hook.pytest_deselected(items=booting)
            items[:] = [item for item in items if not item.get_closest_marker("vm")]
    # Tests that boot other kernels go last: they load the objects, skeletons and wheels the rest
    # of the run built (shared through $BPF_BUILD_TEST_CACHE) instead of building them under
    # emulation. A stable sort keeps every other test in its order.
    items.sort(key=lambda item: item.get_closest_marker("vm") is not None)


def have_bpf() -> bool:
    return os.geteuid() == 0 and os.path.exists("/sys/kernel/btf/vmlinux")


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (oracle)")
    return path


@pytest.fixture(scope="session")
def bpf_cache_dir(tmp_path_factory):
    """Where compile_c keeps objects. $BPF_BUILD_TEST_CACHE shares them across runs: the kernels
    booted by scripts/vmtest.py then load the very objects the host built (and skip clang under
    emulation). Entries are keyed by a hash of everything that goes into them."""
    shared = os.environ.get("BPF_BUILD_TEST_CACHE")
    if shared:
        os.makedirs(shared, exist_ok=True)
        return pathlib.Path(shared)
    return tmp_path_factory.mktemp("bpfobj")


@pytest.fixture(scope="session")
def compile_c(bpf_cache_dir):
    """compile_c(source_text, name='prog', target='bpfel', cflags=()) -> path of a .bpf.o.

    Sources are dedented; identical inputs are compiled once per test session."""

    def build(source: str, name: str = "prog", target: str = "bpfel", cflags=()) -> str:
        text = textwrap.dedent(source)
        key = hashlib.sha256(f"{name}\0{target}\0{list(cflags)}\0{text}".encode()).hexdigest()[:16]
        d = bpf_cache_dir / key
        out = d / f"{name}.bpf.o"
        if not out.exists():
            d.mkdir(exist_ok=True)
            src = d / f"{name}.bpf.c"
            if not src.exists():  # workers sharing the cache may race: publish whole files only
                tmp = d / f".{name}.{os.getpid()}.bpf.c"
                tmp.write_text(text)
                os.replace(tmp, src)
            compile_bpf(str(src), str(out), target=target, cflags=list(cflags))
        return str(out)

    return build


@pytest.fixture(scope="session")
def cached_output(bpf_cache_dir):
    """cached_output(name, key, make) -> path of ``name`` made by ``make(path)`` once per
    ``key`` (bytes or str naming every input). Shared like compile_c's objects, so the kernels
    that scripts/vmtest.py boots run what the host generated and compiled instead of redoing it
    under emulation."""

    def get(name: str, key, make) -> pathlib.Path:
        data = key.encode() if isinstance(key, str) else bytes(key)
        d = bpf_cache_dir / ("out-" + hashlib.sha256(name.encode() + b"\0" + data).hexdigest()[:16])
        out = d / name
        if not out.exists():
            # make() writes into a private directory beside the result (intermediate files go
            # there too): same filesystem, so the rename cannot fail across mounts in a guest
            work = d / f".work-{os.getpid()}"
            work.mkdir(parents=True, exist_ok=True)
            try:
                make(work / name)
                os.replace(work / name, out)
            finally:
                shutil.rmtree(work, ignore_errors=True)
        return out

    return get


@pytest.fixture(scope="session")
def build_native(cached_output):
    """build_native(name, command, inputs) -> path of the program ``command + ["-o", out]`` builds
    (gcc, g++), through cached_output: the kernels booted under emulation then run what the host
    compiled, where gcc under TCG took half of a guest's time. The key is the command with every
    path reduced to its last part, the bytes of ``inputs`` (the sources and headers it reads that
    vary) and of the light skeleton's runtime headers."""
    from bpf_build.headers import include_dir

    runtime = sorted(pathlib.Path(include_dir()).rglob("*.h"))

    def build(name: str, command, inputs) -> pathlib.Path:
        command = [str(arg) for arg in command]
        key = hashlib.sha256()
        for arg in command:
            key.update(os.path.basename(arg).encode() + b"\0")
        for path in [*map(pathlib.Path, inputs), *runtime]:
            key.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")

        def make(out: pathlib.Path) -> None:
            built = subprocess.run([*command, "-o", str(out)], capture_output=True, text=True)
            assert built.returncode == 0, built.stderr

        return cached_output(name, key.digest(), make)

    return build

