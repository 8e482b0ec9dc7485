"""Every attach kind this kernel permits, driven by events the test itself causes; for the kinds it
refuses (kprobes: CONFIG_KPROBES off; fentry/fexit/lsm: EPERM), the error a user sees."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import shutil
import socket
import sys
import subprocess
import time

import pytest

from bpf_build.runtime import (AttachError, AttachType, BpfSyscallError, Map, MapType, Program, ProgType,
                               SymbolError, VerifierError)
from bpf_build.runtime import attach as rt_attach
from bpf_build.runtime import perf
from tests import kernel_facts
from tests.runtime import rt_support

NR_GETPPID = {"x86_64": 110, "aarch64": 173}.get(platform.machine())
OFFSET_SYSCALL_ID = 8  # raw sys_enter context: args[0] = regs, args[1] = syscall id


@pytest.fixture
def counts():
    with Map.create(MapType.ARRAY, 4, 8, 1, name="counts", key_type=ctypes.c_uint32,
                    value_type=ctypes.c_uint64) as m:
        yield m


def getppid_times(n: int) -> None:
    for _ in range(n):
        os.getppid()


# ----------------------------------------------------------------------------------------------
# Tracing

def test_tracepoint_counts_exactly_our_syscalls(tracefs, counts):
    code = rt_support.counter(counts.fileno(), tgid=os.getpid())
    with Program.load(ProgType.TRACEPOINT, code, name="tp") as prog:
        link = prog.attach_tracepoint("syscalls", "sys_enter_getppid")
        getppid_times(5)
        assert counts[0] == 5
        link.close()
        getppid_times(3)
        assert counts[0] == 5  # detached: no more counting
        link.close()  # idempotent


def test_missing_tracepoint_is_a_clear_error(tracefs, counts):
    with Program.load(ProgType.TRACEPOINT, rt_support.returns(0)) as prog:
        with pytest.raises(AttachError, match="no_such_event does not exist"):
            prog.attach_tracepoint("syscalls", "no_such_event")


@pytest.mark.skipif(NR_GETPPID is None, reason="syscall number table covers x86_64/aarch64")
def test_raw_tracepoint(counts):
    code = rt_support.counter(counts.fileno(), tgid=os.getpid(), ctx_u64=(OFFSET_SYSCALL_ID, NR_GETPPID))
    with Program.load(ProgType.RAW_TRACEPOINT, code, name="raw") as prog:
        with prog.attach_raw_tracepoint("sys_enter"):
            getppid_times(4)
        getppid_times(2)
    assert counts[0] == 4


@pytest.mark.skipif(NR_GETPPID is None, reason="syscall number table covers x86_64/aarch64")
def test_tp_btf(counts):
    code = rt_support.counter(counts.fileno(), tgid=os.getpid(), ctx_u64=(OFFSET_SYSCALL_ID, NR_GETPPID))
    with Program.load(ProgType.TRACING, code, name="tpbtf", expected_attach_type=AttachType.TRACE_RAW_TP,
                      attach_target="sys_enter") as prog:
        with prog.attach_tracing() as link:
            getppid_times(6)
            assert link.id > 0
        getppid_times(2)
    assert counts[0] == 6


def test_tp_btf_unknown_target_is_a_clear_error():
    with pytest.raises(AttachError, match="btf_trace_no_such_tracepoint"):
        Program.load(ProgType.TRACING, rt_support.returns(0), expected_attach_type=AttachType.TRACE_RAW_TP,
                     attach_target="no_such_tracepoint")


@pytest.mark.parametrize("attach_type,prog_type,target", [
    (AttachType.TRACE_FENTRY, ProgType.TRACING, "do_unlinkat"),
    (AttachType.TRACE_FEXIT, ProgType.TRACING, "do_unlinkat"),
    (AttachType.LSM_MAC, ProgType.LSM, "file_open"),
])
def test_trampoline_programs_are_refused_here_with_a_clear_error(attach_type, prog_type, target):
    """This kernel answers EPERM to fentry/fexit/lsm loads before verifying anything."""
    try:
        prog = Program.load(prog_type, rt_support.returns(0), expected_attach_type=attach_type,
                            attach_target=target, name="tramp")
    except VerifierError as e:
        assert e.errno == errno.EPERM
        assert "trampoline" in str(e) and "tp_btf" in str(e)
        return
    with prog:  # a kernel that allows them: attaching must work too
        with prog.attach_tracing():
            pass


def _kprobe_prog():
    return Program.load(ProgType.KPROBE, rt_support.returns(0), name="kp")


@pytest.mark.parametrize("attach", [
    lambda p: p.attach_kprobe("do_unlinkat"),
    lambda p: p.attach_kprobe("do_unlinkat", retprobe=True),
    lambda p: p.attach_ksyscall("getppid"),
])
def test_kprobes_attach_or_give_a_clear_error(attach):
    with _kprobe_prog() as prog:
        if kernel_facts.has_kprobes():  # events through kprobes: tests/kernels/test_attach_kinds.py
            with attach(prog):
                pass
            return
        with pytest.raises(AttachError, match="no kprobe support.*CONFIG_KPROBES"):
            attach(prog)


def test_ksyscall_targets_the_arch_entry_point():
    assert rt_attach.syscall_function("openat").endswith("sys_openat")


# ----------------------------------------------------------------------------------------------
# uprobes

TARGET_C = r"""
#include <stdlib.h>
__attribute__((noinline)) int probed_function(int x) { __asm__ volatile("" ::: "memory"); return x + 1; }
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 0, acc = 0;
    for (int i = 0; i < n; i++) acc += probed_function(i);
    return acc == -1;
}
"""


@pytest.fixture(scope="module")
def uprobe_target(tmp_path_factory, build_native):
    d = tmp_path_factory.mktemp("uprobe")
    (d / "target.c").write_text(TARGET_C)
    # a copy of its own: the probe goes on a local file, not one in the cache a guest shares
    return str(shutil.copy2(build_native("target", ["gcc", "-O1", d / "target.c"], [d / "target.c"]), d / "target"))


@pytest.mark.parametrize("retprobe", [False, True])
def test_uprobe_counts_calls_in_a_binary(uprobe_target, counts, retprobe):
    with Program.load(ProgType.KPROBE, rt_support.counter(counts.fileno()), name="up") as prog:
        with prog.attach_uprobe(uprobe_target, "probed_function", retprobe=retprobe):
            subprocess.run([uprobe_target, "7"], check=True)
        subprocess.run([uprobe_target, "3"], check=True)
    assert counts[0] == 7


def test_uprobe_on_one_pid_only(uprobe_target, counts):
    with Program.load(ProgType.KPROBE, rt_support.counter(counts.fileno()), name="up") as prog:
        child = subprocess.Popen(["sh", "-c", f"read _; exec {uprobe_target} 4"], stdin=subprocess.PIPE)
        try:
            # The probe is on the path's inode; pid filtering holds across the child's exec.
            with prog.attach_uprobe(uprobe_target, "probed_function", pid=child.pid):
                subprocess.run([uprobe_target, "9"], check=True)  # another process: not counted
                child.communicate(b"\n")
        finally:
            child.stdin.close()  # a failed attach must not leave the child waiting for its line
            child.wait()
    assert counts[0] == 4


def test_uprobe_unknown_symbol(uprobe_target):
    with Program.load(ProgType.KPROBE, rt_support.returns(0)) as prog:
        with pytest.raises(SymbolError, match="no function symbol 'not_there'"):
            prog.attach_uprobe(uprobe_target, "not_there")


def test_uprobe_on_shared_library_symbol(counts):
    """libc by soname; getppid through ctypes runs libc's getppid in this process."""
    with Program.load(ProgType.KPROBE, rt_support.counter(counts.fileno(), tgid=os.getpid()), name="up") as prog:
        libc = ctypes.CDLL("libc.so.6")
        with prog.attach_uprobe("libc.so.6", "getppid", pid=os.getpid()):
            for _ in range(3):
                libc.getppid()
    assert counts[0] == 3


# ----------------------------------------------------------------------------------------------
# perf_event

def test_perf_event_software_clock_samples(counts):
    code = rt_support.counter(counts.fileno(), tgid=os.getpid())
    with Program.load(ProgType.PERF_EVENT, code, name="sampler") as prog:
        links = rt_attach.perf_event_all_cpus(prog, perf.PERF_TYPE_SOFTWARE, perf.PERF_COUNT_SW_CPU_CLOCK,
                                              sample_freq=1000)
        with links:
            deadline = time.monotonic() + 5
            while counts[0] < 5 and time.monotonic() < deadline:
                sum(range(10000))  # burn CPU in this process so the samples land here
        assert len(links) >= 1 and links.closed
    seen = counts[0]
    assert seen >= 5
    end = time.monotonic() + 0.2
    while time.monotonic() < end:
        sum(range(10000))
    assert counts[0] == seen  # every event detached


def test_perf_event_on_one_task(counts):
    code = rt_support.counter(counts.fileno())
    with Program.load(ProgType.PERF_EVENT, code, name="sampler") as prog:
        fd = rt_attach.open_perf_event(perf.PERF_TYPE_SOFTWARE, perf.PERF_COUNT_SW_TASK_CLOCK, cpu=-1,
                                       pid=0, sample_period=200_000)  # every 0.2 ms of our CPU time
        with prog.attach_perf_event(fd):
            end = time.monotonic() + 0.2
            while time.monotonic() < end:
                sum(range(10000))
    assert counts[0] > 0


# ----------------------------------------------------------------------------------------------
# Networking: XDP and tcx on a veth pair, cgroups, sockets

PACKET_COUNTER_C = r"""
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

/* Count only UDP to port 9999, so the interface's own chatter (ARP, IPv6 ND) is not counted. */
static __always_inline void count_probe(void *data, void *data_end)
{
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    __u32 key = 0;
    __u64 *n;

    if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return;
    if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP || udp->dest != bpf_htons(9999))
        return;
    n = bpf_map_lookup_elem(&counts, &key);
    if (n)
        __sync_fetch_and_add(n, 1);
}

SEC("xdp") int xdp_count(struct xdp_md *ctx)
{
    count_probe((void *)(long)ctx->data, (void *)(long)ctx->data_end);
    return XDP_PASS;
}

SEC("tc") int tc_count(struct __sk_buff *skb)
{
    count_probe((void *)(long)skb->data, (void *)(long)skb->data_end);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
"""

SEND_FROM_PEER = "import socket,sys; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); " \
                 "[s.sendto(b'probe', (sys.argv[1], 9999)) for _ in range(int(sys.argv[2]))]"


def send_from_peer(veth, n: int) -> None:
    veth.in_peer(sys.executable, "-c", SEND_FROM_PEER, veth.local_ip, str(n), check=True)


def send_to_peer(veth, n: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(n):
            s.sendto(b"probe", (veth.peer_ip, 9999))


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture(scope="module")
def packet_counter_obj(compile_c):
    return compile_c(PACKET_COUNTER_C, name="packets")


def test_xdp_on_veth_counts_arriving_packets(veth, counts, packet_counter_obj):
    with rt_support.load_compiled(packet_counter_obj, "xdp_count", ProgType.XDP, {"counts": counts}) as prog:
        with prog.attach_xdp(veth.local):
            send_from_peer(veth, 5)
            assert wait_for(lambda: counts[0] == 5)
        send_from_peer(veth, 2)
        time.sleep(0.1)
    assert counts[0] == 5


@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_tcx_on_veth(veth, counts, packet_counter_obj, direction):
    with rt_support.load_compiled(packet_counter_obj, "tc_count", ProgType.SCHED_CLS, {"counts": counts}) as prog:
        send = send_from_peer if direction == "ingress" else send_to_peer
        if kernel_facts.kernel_version() < (6, 6):  # tcx links came in 6.6: the error must say so
            with pytest.raises(AttachError, match=r"tcx links need Linux 6\.6\+"):
                prog.attach_tcx(veth.local, direction)
            return
        with prog.attach_tcx(veth.local, direction):
            send(veth, 4)
            assert wait_for(lambda: counts[0] == 4)
        send(veth, 2)
        time.sleep(0.1)
    assert counts[0] == 4


@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_classic_tc_filter_on_veth(veth, counts, packet_counter_obj, direction):
    with rt_support.load_compiled(packet_counter_obj, "tc_count", ProgType.SCHED_CLS, {"counts": counts}) as prog:
        send = send_from_peer if direction == "ingress" else send_to_peer
        link = prog.attach_tc(veth.local, direction, priority=3, handle=7)
        shown = subprocess.run(["tc", "filter", "show", "dev", veth.local, direction], capture_output=True,
                               text=True).stdout
        assert "tc_count" in shown and "direct-action" in shown  # iproute2 sees our filter
        send(veth, 3)
        assert wait_for(lambda: counts[0] == 3)
        link.close()
        assert "tc_count" not in subprocess.run(["tc", "filter", "show", "dev", veth.local, direction],
                                                capture_output=True, text=True).stdout
        send(veth, 2)
        time.sleep(0.1)
    assert counts[0] == 3


def test_classic_tc_same_priority_twice_is_refused(veth):
    with Program.load(ProgType.SCHED_CLS, rt_support.returns(0), name="first") as prog:
        with prog.attach_tc(veth.local, "ingress", priority=2, handle=1):
            with pytest.raises(BpfSyscallError) as e:
                prog.attach_tc(veth.local, "ingress", priority=2, handle=1)
            assert e.value.errno == errno.EEXIST


def test_xdp_on_missing_interface(counts):
    with Program.load(ProgType.XDP, rt_support.returns(2)) as prog:
        with pytest.raises(AttachError, match="'nope0' does not exist"):
            prog.attach_xdp("nope0")


def test_cgroup_skb_egress_counts_the_cgroups_packets(cgroup, counts):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    code = rt_support.counter(counts.fileno(), ret=1)  # 1: let the packet through
    with receiver, Program.load(ProgType.CGROUP_SKB, code, name="cg_egress",
                                expected_attach_type=AttachType.CGROUP_INET_EGRESS) as prog:
        with cgroup.entered():
            inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        outside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with inside, outside, prog.attach_cgroup(cgroup.path):
            for _ in range(3):
                inside.sendto(b"x", receiver.getsockname())
                outside.sendto(b"x", receiver.getsockname())  # another cgroup: not counted
        assert counts[0] == 3


def test_cgroup_sock_create_can_refuse_sockets(cgroup):
    deny = rt_support.returns(0)
    with Program.load(ProgType.CGROUP_SOCK, deny, name="no_sockets",
                      expected_attach_type=AttachType.CGROUP_INET_SOCK_CREATE) as prog:
        with prog.attach_cgroup(cgroup.path), cgroup.entered():
            with pytest.raises(PermissionError):
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with cgroup.entered():  # detached: allowed again
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()


def test_socket_filter_drops_then_detaches(counts):
    code = rt_support.counter(counts.fileno(), ret=0)  # 0 bytes kept: drop
    with Program.load(ProgType.SOCKET_FILTER, code, name="drop_all") as prog, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(0.2)
        link = prog.attach_socket(rx)
        tx.sendto(b"dropped", rx.getsockname())
        with pytest.raises(socket.timeout):
            rx.recv(100)
        assert counts[0] == 1
        link.close()
        tx.sendto(b"delivered", rx.getsockname())
        assert rx.recv(100) == b"delivered"
        assert counts[0] == 1


def test_socket_filter_wrong_program_type_is_refused():
    with Program.load(ProgType.XDP, rt_support.returns(2)) as prog, socket.socket() as s:
        with pytest.raises(BpfSyscallError) as e:
            prog.attach_socket(s)
        assert e.value.errno == errno.EINVAL


# ----------------------------------------------------------------------------------------------
# Attaching by section name (what a skeleton's attach() does)

def test_attach_by_section_uprobe_with_path_and_symbol(uprobe_target, counts):
    with Program.load(ProgType.KPROBE, rt_support.counter(counts.fileno()), name="up") as prog:
        with rt_attach.attach_by_section(prog, f"uprobe/{uprobe_target}:probed_function"):
            subprocess.run([uprobe_target, "5"], check=True)
        with rt_attach.attach_by_section(prog, f"uretprobe/{uprobe_target}:probed_function"):
            subprocess.run([uprobe_target, "2"], check=True)
    assert counts[0] == 7


@pytest.mark.skipif(NR_GETPPID is None, reason="syscall number table covers x86_64/aarch64")
def test_attach_by_section_tracepoints(tracefs, counts):
    code = rt_support.counter(counts.fileno(), tgid=os.getpid(), ctx_u64=(OFFSET_SYSCALL_ID, NR_GETPPID))
    with Program.load(ProgType.RAW_TRACEPOINT, code) as raw, \
            Program.load(ProgType.TRACEPOINT, rt_support.counter(counts.fileno(), tgid=os.getpid())) as tp:
        with rt_attach.attach_by_section(raw, "raw_tp/sys_enter"), \
                rt_attach.attach_by_section(tp, "tp/syscalls/sys_enter_getppid"):
            getppid_times(3)
    assert counts[0] == 6


@pytest.mark.parametrize("section", ["xdp", "tc", "tcx/ingress", "cgroup_skb/egress", "socket", "perf_event",
                                     "uprobe", "tracepoint", "kprobe"])
def test_sections_without_a_target_are_left_to_the_caller(section):
    with Program.load(ProgType.SOCKET_FILTER, rt_support.returns(0)) as prog:
        assert rt_attach.attach_by_section(prog, section) is None


@pytest.mark.skipif(NR_GETPPID is None, reason="syscall number table covers x86_64/aarch64")
def test_pinned_link_outlives_its_fd_until_unpinned(bpffs_dir, counts):
    from bpf_build.runtime import unpin

    path = os.path.join(bpffs_dir, "link")
    code = rt_support.counter(counts.fileno(), tgid=os.getpid(), ctx_u64=(OFFSET_SYSCALL_ID, NR_GETPPID))
    with Program.load(ProgType.RAW_TRACEPOINT, code) as prog:
        with prog.attach_raw_tracepoint("sys_enter") as link:
            link.pin(path)
    getppid_times(2)
    assert counts[0] == 2  # still attached through the pin, with no fd left
    unpin(path)
    # bpffs frees the inode, and with it the link, after an RCU grace period: wait for it.
    def stopped_counting() -> bool:
        before = counts[0]
        getppid_times(1)
        return counts[0] == before

    assert wait_for(stopped_counting)


def test_detach_now_ends_a_pinned_xdp_link(veth, counts, packet_counter_obj, bpffs_dir):
    from bpf_build.runtime import BpfLink

    path = os.path.join(bpffs_dir, "xdp")
    with rt_support.load_compiled(packet_counter_obj, "xdp_count", ProgType.XDP, {"counts": counts}) as prog:
        with prog.attach_xdp(veth.local) as link:
            link.pin(path)
    send_from_peer(veth, 2)
    assert wait_for(lambda: counts[0] == 2)
    with BpfLink.from_pinned(path) as again:
        again.detach_now()  # detached in the kernel although the pin still exists
    send_from_peer(veth, 2)
    time.sleep(0.1)
    assert counts[0] == 2
    os.unlink(path)
