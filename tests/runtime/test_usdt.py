"""USDT: a C program of our own with a probe note (written the way <sys/sdt.h> writes it: register,
constant and memory arguments, a semaphore), a BPF program on libbpf's <bpf/usdt.bpf.h>, attached
by the skeleton from its section and by hand; every argument the BPF side reads is checked against
what the traced process had, and the semaphore is raised only while the probe is attached."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from bpf_build.runtime import AttachError, LinkGroup

DEMO_C = r"""
#include <stdio.h>
unsigned short demo_tick_semaphore __attribute__((section(".probes"))) __attribute__((used));

int main(void)
{
    char line[64];
    long big = 0;
    int small = 0;
    volatile long in_memory = 0;

    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        small++;
        big = -((long)small * 1000000000L);
        in_memory = small * 7;
        printf("semaphore %s\n", demo_tick_semaphore ? "on" : "off");
        __asm__ __volatile__(
            "990: nop\n"
            ".pushsection .note.stapsdt,\"?\",\"note\"\n"
            ".balign 4\n"
            ".4byte 992f-991f, 994f-993f, 3\n"
            "991: .asciz \"stapsdt\"\n"
            "992: .balign 4\n"
            "993: .8byte 990b\n"
            ".8byte 0\n"
            ".8byte demo_tick_semaphore\n"
            ".asciz \"demo\"\n"
            ".asciz \"tick\"\n"
            ".asciz \"-4@%[a] -8@%[b] 4@%[c] 8@%[d]\"\n"
            "994: .balign 4\n"
            ".popsection\n"
            :: [a] "r"(small), [b] "r"(big), [c] "n"(5), [d] "m"(in_memory));
        fflush(stdout);
    }
    return 0;
}
"""

USDT_C = r"""
#include <linux/bpf.h>
#include <stdbool.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/usdt.bpf.h>

struct tick { long small, big, five, in_memory, cookie; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8); __type(key, __u32); __type(value, struct tick); } ticks SEC(".maps");
__u32 seen;

static __always_inline int record(struct pt_regs *ctx, long small, long big, long five, long in_memory)
{
    __u32 n = __sync_fetch_and_add(&seen, 1);
    struct tick t = { small, big, five, in_memory, bpf_usdt_cookie(ctx) };

    if (n < 8)
        bpf_map_update_elem(&ticks, &n, &t, BPF_ANY);
    return 0;
}

SEC("usdt")
int BPF_USDT(on_tick, int small, long big, int five, long in_memory)
{
    return record(ctx, small, big, five, in_memory);
}

SEC("usdt/DEMO_PATH:demo:tick")
int BPF_USDT(on_tick_by_section, int small, long big, int five, long in_memory)
{
    return record(ctx, small, big, five, in_memory);
}

char LICENSE[] SEC("license") = "GPL";
"""


DEMO_DIR = Path(tempfile.gettempdir(), "bpf-build-tests")


@pytest.fixture(scope="module")
def demo(tmp_path_factory, build_native):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is needed to build the traced program")
    d = tmp_path_factory.mktemp("usdt")
    (d / "demo.c").write_text(DEMO_C)
    built = build_native("demo", [gcc, "-O2", d / "demo.c"], [d / "demo.c"])
    # The program's path is compiled into USDT_C's section: one path on the host and in the booted
    # kernels (whose /tmp is their own) lets them load the object the host compiled. A local copy,
    # not the shared cache's file, carries the probes; made with link() so a second worker never
    # replaces the file (a new inode) under the first one's probes.
    digest = hashlib.sha256(built.read_bytes()).hexdigest()[:16]
    stable = DEMO_DIR / f"usdt-{digest}" / "demo"
    if not stable.exists():
        stable.parent.mkdir(parents=True, exist_ok=True)
        staging = stable.with_name(f".demo.{os.getpid()}")
        shutil.copy2(built, staging)
        try:
            os.link(staging, stable)
        except FileExistsError:
            pass
        finally:
            staging.unlink()
    return str(stable)


@pytest.fixture(autouse=True)
def one_test_at_a_time_on_the_demo():
    """Workers share the demo's file, and a semaphore counts the probes of every process on it:
    one test at a time, or one's probes turn the other's semaphore on."""
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    with open(DEMO_DIR / "usdt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@pytest.fixture(scope="module")
def usdt_mod(skeleton_module, demo):
    return skeleton_module(USDT_C.replace("DEMO_PATH", demo), name="usdtdemo",
                           cflags=("-mcpu=v3", "-D__TARGET_ARCH_x86"))[0]  # bpfel objects name no arch


def _tick(proc, times: int):
    states = []
    for _ in range(times):
        proc.stdin.write("x\n")
        proc.stdin.flush()
        states.append(proc.stdout.readline().split()[1])
    return states


def _run(demo):
    proc = subprocess.Popen([demo], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    return proc


def test_usdt_arguments_cookie_and_semaphore(usdt_mod, demo):
    proc = _run(demo)
    try:
        skel = usdt_mod.usdtdemo_bpf.open()
        skel.progs.on_tick_by_section.autoload = False
        with skel:
            skel.load()
            assert _tick(proc, 1) == ["off"]                 # nothing attached: semaphore down
            link = skel.progs.on_tick.attach_usdt(demo, "demo", "tick", pid=proc.pid, usdt_cookie=0xC0FFEE)
            assert isinstance(link, LinkGroup) and len(link) == 1
            assert _tick(proc, 2) == ["on", "on"]             # the kernel raised it for us
            ticks = [skel.maps.ticks[i] for i in range(skel.bss.seen)]
        assert _tick(proc, 1) == ["off"]                     # close() detached: down again
    finally:
        proc.stdin.close()
        proc.wait()
    # ticks 2 and 3 of the process (its own counter starts at 1)
    assert [(t.small, t.big, t.five, t.in_memory, t.cookie) for t in ticks] == [
        (2, -2_000_000_000, 5, 14, 0xC0FFEE), (3, -3_000_000_000, 5, 21, 0xC0FFEE)]


def test_usdt_section_attaches_by_itself(usdt_mod, demo):
    proc = _run(demo)
    try:
        skel = usdt_mod.usdtdemo_bpf.open()
        with skel:
            skel.load()
            skel.progs.on_tick.autoattach = False            # SEC("usdt") names no target anyway
            skel.attach()
            assert [name for name, _ in skel.links] == ["on_tick_by_section"]
            _tick(proc, 1)
            assert skel.bss.seen == 1 and skel.maps.ticks[0].five == 5
    finally:
        proc.stdin.close()
        proc.wait()


def test_usdt_spec_slots_are_reused_after_detach(usdt_mod, demo):
    skel = usdt_mod.usdtdemo_bpf.open()
    skel.maps.__bpf_usdt_specs.max_entries = 2                # two slots only (a load-time setting)
    with skel:
        skel.load()
        for _ in range(5):                                   # more attaches than slots, one at a time
            skel.progs.on_tick.attach_usdt(demo, "demo", "tick").close()
        first = skel.progs.on_tick.attach_usdt(demo, "demo", "tick")
        second = skel.progs.on_tick.attach_usdt(demo, "demo", "tick")
        assert sorted(first.spec_ids + second.spec_ids) == [0, 1]
        with pytest.raises(AttachError, match="all 2 USDT spec slots are in use"):
            skel.progs.on_tick.attach_usdt(demo, "demo", "tick")


def test_usdt_errors_name_what_is_missing(usdt_mod, demo):
    with usdt_mod.usdtdemo_bpf.open_and_load() as skel:
        with pytest.raises(AttachError, match=r"demo: no USDT probe demo:nope"):
            skel.progs.on_tick.attach_usdt(demo, "demo", "nope")
        with pytest.raises(AttachError, match="no USDT probe"):
            skel.progs.on_tick.attach_usdt("/bin/true", "demo", "tick")
