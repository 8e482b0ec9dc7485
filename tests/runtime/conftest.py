"""Fixtures for runtime tests: the kernel file systems they need, fresh network namespaces with
veth pairs, a fresh cgroup, a bpffs directory. Everything created is removed afterwards."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import uuid

import pytest

from tests.runtime import rt_support
from tests.skel_python.conftest import skeleton_module  # noqa: F401  (generated skeletons, imported)

RUNTIME_TESTS = os.path.dirname(os.path.abspath(__file__))
CGROUP2_ROOTS = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup")
_names = itertools.count()


def pytest_collection_modifyitems(items):
    for item in items:
        if str(item.fspath).startswith(RUNTIME_TESTS):
            item.add_marker(pytest.mark.kernel)


@pytest.fixture(autouse=True)
def _needs_bpf():
    if os.geteuid() != 0 or not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("needs root and a kernel with BTF to load BPF programs")


def _mounted(path: str, fstype: str) -> bool:
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path and line.split()[2] == fstype for line in f)


@pytest.fixture(scope="session")
def tracefs():
    if not rt_support.ensure_tracefs():
        pytest.skip("tracefs is not mounted and cannot be mounted")
    return "/sys/kernel/tracing"


@pytest.fixture
def bpffs_dir():
    """A private directory in bpffs for pins, removed with whatever is left in it."""
    if not _mounted("/sys/fs/bpf", "bpf"):
        subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], capture_output=True)
    if not _mounted("/sys/fs/bpf", "bpf"):
        pytest.skip("bpffs is not mounted at /sys/fs/bpf")
    path = f"/sys/fs/bpf/bpfbuild-test-{uuid.uuid4().hex[:12]}"
    os.mkdir(path)
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


def _ip(*args: str, netns: str = None) -> None:
    cmd = (["ip", "netns", "exec", netns] if netns else []) + ["ip", *args]
    subprocess.run(cmd, check=True, capture_output=True)


class Veth:
    """``local`` lives in this process's namespace; ``peer`` in namespace ``netns``."""

    def __init__(self, local: str, peer: str, netns: str, local_ip: str, peer_ip: str):
        self.local, self.peer, self.netns, self.local_ip, self.peer_ip = local, peer, netns, local_ip, peer_ip

    def in_peer(self, *cmd: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.netns, *cmd], capture_output=True, **kw)


@pytest.fixture
def veth():
    """A veth pair: one end here (10.x.y.1), the other in a new network namespace (10.x.y.2)."""
    n = next(_names)
    tag = f"{os.getpid() % 10000}{n}"
    netns, local, peer = f"bpfbuild{tag}", f"bbl{tag}", f"bbp{tag}"
    subnet = f"10.{100 + os.getpid() % 100}.{n % 250}"
    _ip("netns", "add", netns)
    try:
        _ip("link", "add", local, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", netns)
        _ip("addr", "add", f"{subnet}.1/24", "dev", local)
        _ip("link", "set", local, "up")
        _ip("addr", "add", f"{subnet}.2/24", "dev", peer, netns=netns)
        _ip("link", "set", peer, "up", netns=netns)
        _ip("link", "set", "lo", "up", netns=netns)
        yield Veth(local, peer, netns, f"{subnet}.1", f"{subnet}.2")
    finally:
        subprocess.run(["ip", "link", "del", local], capture_output=True)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True)


def _cgroup2_root() -> str:
    for root in CGROUP2_ROOTS:
        if _mounted(root, "cgroup2"):
            return root
    pytest.skip("no cgroup v2 hierarchy mounted")


class Cgroup:
    def __init__(self, root: str, path: str):
        self.root, self.path = root, path

    @contextlib.contextmanager
    def entered(self):
        """Run this thread's process inside the cgroup for the block (sockets created inside
        belong to it for their whole life)."""
        original = _own_cgroup(self.root)
        with open(os.path.join(self.path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        try:
            yield
        finally:
            with open(os.path.join(original, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))


def _own_cgroup(root: str) -> str:
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return os.path.join(root, line.strip()[3:].lstrip("/"))
    return root


@pytest.fixture
def cgroup():
    root = _cgroup2_root()
    path = os.path.join(root, f"bpfbuild-test-{uuid.uuid4().hex[:12]}")
    os.mkdir(path)
    try:
        yield Cgroup(root, path)
    finally:
        os.rmdir(path)
