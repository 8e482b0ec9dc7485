"""Each example under examples/ as its users meet it: `pip wheel` (build isolation, bpf-build from
the local wheel), the wheel installed in a fresh venv, the command run while the test causes the
kernel activity it reports, and its output checked against that activity."""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable, List

import pytest

from bpf_build.model.elf import Object
from tests.processes import sigint_as_in_a_terminal


def kernel(test):
    """A test that loads BPF into the running kernel (in CI a skip of one fails the run)."""
    ready = os.geteuid() == 0 and os.path.exists("/sys/kernel/btf/vmlinux")
    return pytest.mark.kernel(pytest.mark.skipif(not ready, reason="needs root and kernel BTF")(test))


def run_while(command: List[str], ready: str, action: Callable[[], None], timeout: float = 60,
              interrupt: bool = True) -> str:
    """Start ``command``; once a line containing ``ready`` is printed, run ``action``; then stop the
    command with Ctrl-C (SIGINT), as a user would, and return all its output. How long the action
    takes (seconds under emulation) then never decides whether its events fall inside the command's
    window: the commands' --duration is only a cap. With ``interrupt=False`` the command must exit by
    itself, which tests its --duration."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=sigint_as_in_a_terminal)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if ready in line:
                action()
                break
        else:
            raise AssertionError(f"{command[0]} never got ready:\n{''.join(lines)}")
        if interrupt:
            proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=timeout)
        lines.append(rest)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines)
    assert proc.returncode == 0, output
    return output


# The --duration given to commands stopped with Ctrl-C: a cap on a run that went wrong.
DURATION_CAP = "300"


def wheel_objects(wheel: Path, package: str) -> List[str]:
    with zipfile.ZipFile(wheel) as z:
        return sorted(n for n in z.namelist() if n.startswith(f"{package}/") and
                      (n.endswith(".bpf.o") or n.endswith("_skel.py")))


# ---------------------------------------------------------------------------------------------
# hello


def test_hello_wheel(example_wheel):
    wheel = example_wheel("hello")
    machine = platform.machine()
    assert wheel.name == f"bpf_hello-1.0.0-py3-none-manylinux_2_17_{machine}.musllinux_1_1_{machine}.whl"
    assert wheel_objects(wheel, "hello") == ["hello/hello.bpf.o", "hello/hello_skel.py"]


@kernel
def test_hello_counts_getpid_calls(example_venv, tracefs):
    bindir = example_venv("hello")
    calls = 300

    def call_getpid():
        for _ in range(calls):
            os.getpid()  # a real getpid() syscall each time: glibc no longer caches the pid

    output = run_while([bindir / "bpf-hello", "--duration", "2", "--interval", "0.5"], "counting", call_getpid,
                       interrupt=False)
    total = int(re.search(r"total getpid\(\) calls: (\d+)", output).group(1))
    assert total >= calls, output


# ---------------------------------------------------------------------------------------------
# execsnoop


@kernel
def test_execsnoop_reports_our_execs_only(example_venv, tracefs):
    bindir = example_venv("execsnoop")
    children = []

    def exec_children():
        for _ in range(3):
            child = subprocess.Popen(["/bin/true"])
            child.wait()
            children.append(child.pid)
        # A grandchild: its parent is the shell, so the --ppid filter must drop it.
        subprocess.run(["/bin/sh", "-c", "/bin/true; /bin/true"], check=True)

    output = run_while([bindir / "bpf-execsnoop", "--ppid", str(os.getpid()), "--duration", DURATION_CAP],
                       "PID", exec_children)
    events = [line.split() for line in output.splitlines()[1:] if re.match(r"\d+\s", line)]
    seen = {int(e[0]): e for e in events}
    for pid in children:
        assert pid in seen, output
        pid_, ppid, uid, comm, filename = seen[pid][:5]
        assert (int(ppid), int(uid), filename) == (os.getpid(), os.getuid(), "/bin/true"), output
    assert all(int(e[1]) == os.getpid() for e in events), "the .rodata filter lets only our children through"
    assert any(e[4] == "/bin/sh" for e in events)


# ---------------------------------------------------------------------------------------------
# linked


def test_linked_wheel_has_one_linked_object(example_wheel):
    wheel = example_wheel("linked")
    assert wheel_objects(wheel, "linked") == ["linked/linked.bpf.o", "linked/linked_skel.py"]
    with zipfile.ZipFile(wheel) as z:
        obj = Object.read(z.read("linked/linked.bpf.o"))
    assert obj.symbol("on_getpid") and obj.symbol("record_syscall") and obj.symbol("syscall_counts")


@kernel
def test_linked_counts_through_the_shared_map(example_venv, tracefs):
    bindir = example_venv("linked")

    def syscalls():
        for _ in range(100):
            os.getpid()
        os.getppid()

    output = run_while([bindir / "bpf-linked", "--duration", DURATION_CAP], "counting", syscalls)
    counts = dict(re.findall(r"^([\w ()]+): (\d+)$", output, re.M))
    assert int(counts["getpid"]) >= 100, output
    assert int(counts["getppid"]) >= 1, output
    assert int(counts["getpid count at the last getppid"]) >= 100, output


# ---------------------------------------------------------------------------------------------
# xdp-counter


# ping(8) may not be installed: three ICMP echo requests from a raw socket, printing the replies.
ICMP_ECHO = r"""
import socket, struct, sys

def checksum(data):
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF

address, count = sys.argv[1], int(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(2)
replies = 0
for seq in range(count):
    payload = b"bpf-build" * 4
    header = struct.pack("!BBHHH", 8, 0, 0, 0x4242, seq)
    sock.sendto(struct.pack("!BBHHH", 8, 0, checksum(header + payload), 0x4242, seq) + payload, (address, 0))
    while sock.recvfrom(2048)[0][20] != 0:  # skip our own request; type 0 is the reply
        pass
    replies += 1
print(replies)
"""


@pytest.fixture
def veth_pair():
    """A veth pair: one end here with 10.201.<n>.1, the other in a new network namespace with
    10.201.<n>.2. Yields (local interface, namespace name, local address, peer address)."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 not installed")
    n = os.getpid() % 250 + 1
    ns, local, peer = f"bpfbt{n}", f"bpfbt{n}a", f"bpfbt{n}b"
    setup = [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", local, "type", "veth", "peer", "name", peer, "netns", ns],
        ["ip", "addr", "add", f"10.201.{n}.1/24", "dev", local],
        ["ip", "link", "set", local, "up"],
        ["ip", "-n", ns, "addr", "add", f"10.201.{n}.2/24", "dev", peer],
        ["ip", "-n", ns, "link", "set", peer, "up"],
        ["ip", "-n", ns, "link", "set", "lo", "up"],
    ]
    try:
        for argv in setup:
            subprocess.run(argv, check=True, capture_output=True, text=True)
        yield local, ns, f"10.201.{n}.1", f"10.201.{n}.2"
    finally:
        subprocess.run(["ip", "link", "del", local], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@kernel
def test_xdp_counter_counts_icmp_and_udp(example_venv, veth_pair):
    bindir = example_venv("xdp-counter")
    local, ns, local_addr, _ = veth_pair
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind((local_addr, 0))
    port = receiver.getsockname()[1]

    def traffic():
        echo = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", ICMP_ECHO, local_addr, "3"],
                              check=True, capture_output=True, text=True)
        assert echo.stdout.strip() == "3", "three echo replies"
        send = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                f"for i in range(5): s.sendto(b'x' * 100, ('{local_addr}', {port}))")
        subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", send], check=True)
        # XDP on a veth runs in the receiver's NAPI poll, after sendto() has returned: the datagrams
        # reaching our socket prove the program has seen them before the counter is stopped.
        receiver.settimeout(30)
        for _ in range(5):
            receiver.recv(2048)

    try:
        output = run_while([bindir / "bpf-xdp-counter", local, "--duration", DURATION_CAP], "counting", traffic)
    finally:
        receiver.close()
    counts = {m.group(1): (int(m.group(2)), int(m.group(3)))
              for m in re.finditer(r"^(\S+)\s+packets=(\d+)\s+bytes=(\d+)$", output, re.M)}
    assert counts.get("icmp", (0, 0))[0] >= 3, output
    assert counts.get("udp", (0, 0))[0] >= 5, output
    assert counts["udp"][1] >= 5 * (14 + 20 + 8 + 100), "bytes counted from the Ethernet header on"


# ---------------------------------------------------------------------------------------------
# meson-c


@kernel
def test_meson_builds_a_light_skeleton_program(tmp_path, pip, helpers):
    if shutil.which("meson") is None or shutil.which("ninja") is None:
        pytest.skip("meson/ninja not installed")
    python = pip.venv(tmp_path / "venv")
    pip.install(python, "bpf-build")  # bpf-build on PATH, as a user installs it
    env = {"PATH": f"{python.parent}:{os.environ['PATH']}"}
    project = helpers.copy_project(helpers.examples / "meson-c", tmp_path / "meson-c")
    build = tmp_path / "builddir"
    helpers.run(["meson", "setup", build, project], env=env)

    def ninja() -> str:
        return helpers.run(["ninja", "-C", build], env=env).stdout

    assert "Linking target minimal" in ninja()
    assert "no work to do" in ninja()
    output = helpers.run([build / "minimal", "42"]).stdout
    assert output == "getpid calls seen by BPF: 42\n"

    # The header only the BPF side includes: the depfile makes ninja rebuild object and skeleton.
    header = project / "src" / "minimal.h"
    time.sleep(0.01)
    header.write_text(header.read_text().replace("#define MAX_COUNTED 1000000", "#define MAX_COUNTED 5"))
    rebuilt = ninja()
    assert "Generating minimal.bpf.o" in rebuilt and "Generating minimal.lskel.h" in rebuilt, rebuilt
    assert helpers.run([build / "minimal", "42"]).stdout == "getpid calls seen by BPF: 5\n"
