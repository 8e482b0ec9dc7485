"""Attaching without bpf links, the way kernels before them must (issue 17): perf events through
PERF_EVENT_IOC_SET_BPF (perf links came in 5.15) and XDP through rtnetlink (XDP links, 5.9).

On a kernel that has the links, $BPF_BUILD_ATTACH_LEGACY forces the older path; on Debian 11's
5.10 (booted by test_vm_kernels.py) the perf-event path is the only one, and the probe must say
so without the variable. Each test runs the program through a generated Python skeleton, checks
that the older path was really taken, counts the events it causes, and checks that detaching
stops the counting."""

from __future__ import annotations

import ctypes
import os
import subprocess
import time

import pytest

from bpf_build.runtime import AttachError, AttachType, Program, ProgType, features
from bpf_build.runtime.links import PerfEventLink
from bpf_build.runtime.xdp_netlink import XdpNetlinkLink
from tests import kernel_facts
from tests.kernels.test_attach_kinds import COUNTER_C
from tests.runtime.conftest import veth  # noqa: F401  (fixture: a veth pair, one end in a netns)
from tests.runtime.rt_support import ensure_tracefs, returns
from tests.runtime.test_attach import PACKET_COUNTER_C, send_from_peer, wait_for

pytestmark = pytest.mark.kernel

LIBC = ctypes.CDLL("libc.so.6")


def _getppid(n: int) -> None:
    for _ in range(n):
        LIBC.getppid()  # through libc's getppid, where the uprobe sits


def _open_files(n: int) -> None:
    for _ in range(n):
        os.close(os.open("/dev/null", os.O_RDONLY))


# kind -> (section, what causes exactly n events of this process)
PERF_KINDS = {
    "tracepoint": ("tracepoint/syscalls/sys_enter_getppid", _getppid),
    "uprobe": ("uprobe/libc.so.6:getppid", _getppid),
    "uretprobe": ("uretprobe/libc.so.6:getppid", _getppid),
    "kprobe": ("kprobe/do_sys_openat2", _open_files),
    "kretprobe": ("kretprobe/do_sys_openat2", _open_files),
}


@pytest.fixture
def legacy(monkeypatch, request):
    """Force the pre-link path for the kinds named by the test (the kernel may have both)."""
    monkeypatch.setenv(features.LEGACY_ATTACH_ENV, request.param)
    return request.param


def test_probes_match_the_kernel():
    version = kernel_facts.kernel_version()
    assert features.has_perf_event_links() == (version >= (5, 15))
    assert features.has_xdp_links() == (version >= (5, 9))
    assert features.has_tcx_links() == (version >= (6, 6))


def test_the_legacy_knob_names_known_kinds_only(monkeypatch):
    monkeypatch.setenv(features.LEGACY_ATTACH_ENV, "xdp, perf_event")
    assert features.legacy_attach_forced("xdp") and features.legacy_attach_forced("perf_event")
    monkeypatch.setenv(features.LEGACY_ATTACH_ENV, "all")
    assert features.legacy_attach_forced("xdp")
    monkeypatch.delenv(features.LEGACY_ATTACH_ENV)
    assert not features.legacy_attach_forced("xdp")
    with pytest.raises(ValueError, match="unknown attach kind"):
        features.legacy_attach_forced("tcx")


def _perf_link_of(skel, name: str) -> PerfEventLink:
    link = getattr(skel.links, name)
    assert isinstance(link, PerfEventLink)
    return link


@pytest.mark.parametrize("legacy", ["perf_event"], indirect=True)
@pytest.mark.parametrize("kind", sorted(PERF_KINDS))
def test_perf_event_attach_without_links(python_skeleton, legacy, kind):
    section, cause = PERF_KINDS[kind]
    assert ensure_tracefs()
    cls = python_skeleton(COUNTER_C % {"section": section, "ret": "0"}, "legacy_" + kind)
    skel = cls.open()
    skel.rodata.target_pid = os.getpid()
    with skel:
        skel.load()
        if kind.startswith("k") and not kernel_facts.has_kprobes():
            with pytest.raises(AttachError, match=r"no kprobe support.*CONFIG_KPROBES"):
                skel.attach()
            return
        skel.attach()
        link = _perf_link_of(skel, "on_event")
        assert link.bpf_link is None  # PERF_EVENT_IOC_SET_BPF, not a perf link
        before = skel.bss.hits
        cause(5)
        assert skel.bss.hits - before == 5, f"{kind}: {skel.bss.hits - before} events of ours, caused 5"
        skel.detach()
        assert link.closed
        cause(3)
        assert skel.bss.hits - before == 5, f"{kind}: events after detach"


def test_perf_event_default_path_follows_the_probe(python_skeleton, monkeypatch):
    """Without the knob: a perf link where the kernel has them, the ioctl where it does not (5.10)."""
    monkeypatch.delenv(features.LEGACY_ATTACH_ENV, raising=False)
    assert ensure_tracefs()
    section, cause = PERF_KINDS["tracepoint"]
    cls = python_skeleton(COUNTER_C % {"section": section, "ret": "0"}, "legacy_tracepoint")
    skel = cls.open()
    skel.rodata.target_pid = os.getpid()
    with skel:
        skel.load()
        skel.attach()
        link = _perf_link_of(skel, "on_event")
        assert (link.bpf_link is not None) == features.has_perf_event_links()
        cause(4)
        assert skel.bss.hits == 4
        skel.detach()
        cause(2)
        assert skel.bss.hits == 4


@pytest.mark.parametrize("legacy", ["perf_event"], indirect=True)
def test_a_cookie_needs_perf_links(python_skeleton, legacy):
    assert ensure_tracefs()
    cls = python_skeleton(COUNTER_C % {"section": PERF_KINDS["tracepoint"][0], "ret": "0"}, "legacy_tracepoint")
    with cls.open_and_load() as skel:
        with pytest.raises(AttachError, match=r"cookie needs perf links \(Linux 5\.15\+\)"):
            skel.progs.on_event.attach_tracepoint("syscalls", "sys_enter_getppid", cookie=7)


def _xdp_shown(interface: str) -> bool:
    shown = subprocess.run(["ip", "link", "show", "dev", interface], check=True, capture_output=True, text=True)
    return "xdp" in shown.stdout


@pytest.mark.parametrize("legacy", ["xdp"], indirect=True)
def test_xdp_attach_without_links(python_skeleton, legacy, veth):  # noqa: F811
    cls = python_skeleton(PACKET_COUNTER_C, "legacy_xdp")
    with cls.open_and_load() as skel:
        link = skel.progs.xdp_count.attach_xdp(veth.local)
        assert isinstance(link, XdpNetlinkLink)   # RTM_SETLINK, not an XDP link
        assert _xdp_shown(veth.local)
        send_from_peer(veth, 5)
        assert wait_for(lambda: skel.maps.counts[0] == 5)
        link.close()
        assert not _xdp_shown(veth.local)
        send_from_peer(veth, 2)
        time.sleep(0.1)
        assert skel.maps.counts[0] == 5
        link.close()  # idempotent


@pytest.mark.parametrize("legacy", ["xdp"], indirect=True)
def test_xdp_without_links_never_replaces_a_program(python_skeleton, legacy, veth):  # noqa: F811
    """Like a link, the netlink path refuses an interface that already has a program (EBUSY),
    and leaves that program where it is."""
    cls = python_skeleton(PACKET_COUNTER_C, "legacy_xdp")
    with cls.open_and_load() as skel, skel.progs.xdp_count.attach_xdp(veth.local):
        with pytest.raises(OSError, match="EBUSY.*XDP program already attached"):
            skel.progs.xdp_count.attach_xdp(veth.local)
        send_from_peer(veth, 3)
        assert wait_for(lambda: skel.maps.counts[0] == 3)
    assert not _xdp_shown(veth.local)


def test_xdp_netlink_error_carries_the_kernels_message(monkeypatch, veth):  # noqa: F811
    """A devmap program on a device: the kernel says why in its extended ack, and the error
    carries that sentence."""
    monkeypatch.setenv(features.LEGACY_ATTACH_ENV, "xdp")
    with Program.load(ProgType.XDP, returns(2), name="devmap_prog",
                      expected_attach_type=AttachType.XDP_DEVMAP) as prog:
        with pytest.raises(OSError, match=r"EINVAL.*BPF_XDP_DEVMAP programs can not be attached to a device"):
            prog.attach_xdp(veth.local)
    assert not _xdp_shown(veth.local)
