"""Classic tc attach over rtnetlink: a clsact qdisc and a direct-action cls_bpf filter, for
kernels before tcx links (Linux 6.6; Debian 12 ships 6.1).

Two requests, each acknowledged by the kernel: RTM_NEWQDISC "clsact" (an existing one is fine) and
RTM_NEWTFILTER "bpf" with the program fd. Detaching deletes that one filter (by priority and
handle); the qdisc stays, as other filters may live on it.
"""

from __future__ import annotations

import errno
import socket
import struct
from typing import TYPE_CHECKING

from . import netlink
from .errors import AttachError, BpfSyscallError
from .links import UndoLink
from .netlink import NLM_F_CREATE, NLM_F_EXCL, attr, nested

if TYPE_CHECKING:
    from .program import Program

RTM_NEWQDISC, RTM_NEWTFILTER, RTM_DELTFILTER = 36, 44, 45
TCA_KIND, TCA_OPTIONS = 1, 2
TCA_BPF_FD, TCA_BPF_NAME, TCA_BPF_FLAGS = 6, 7, 8
TCA_BPF_FLAG_ACT_DIRECT = 1
TC_H_CLSACT = 0xFFFFFFF1
TC_H_MIN_INGRESS, TC_H_MIN_EGRESS = 0xFFF2, 0xFFF3
ETH_P_ALL = 0x0003

_TCMSG = struct.Struct("=BxxxiIII")


def _tc_h(major: int, minor: int) -> int:
    return (major & 0xFFFF0000) | (minor & 0x0000FFFF)


def _request(msg_type: int, flags: int, tcmsg: bytes, attrs: bytes, what: str) -> None:
    netlink.request(msg_type, flags, tcmsg + attrs, what)


def _parent(direction: str) -> int:
    minors = {"ingress": TC_H_MIN_INGRESS, "egress": TC_H_MIN_EGRESS}
    if direction not in minors:
        raise ValueError(f"tc direction must be 'ingress' or 'egress', not {direction!r}")
    return _tc_h(TC_H_CLSACT, minors[direction])


def _filter_msg(ifindex: int, direction: str, priority: int, handle: int) -> bytes:
    info = _tc_h(priority << 16, socket.htons(ETH_P_ALL))
    return _TCMSG.pack(socket.AF_UNSPEC, ifindex, handle, _parent(direction), info)


class TcFilterLink(UndoLink):
    """A cls_bpf filter on a clsact hook; closing deletes it."""

    def __init__(self, ifindex: int, direction: str, priority: int, handle: int, description: str):
        super().__init__(description)
        self.ifindex, self.direction, self.priority, self.handle = ifindex, direction, priority, handle

    def _undo(self) -> None:
        try:
            _request(RTM_DELTFILTER, 0, _filter_msg(self.ifindex, self.direction, self.priority, self.handle),
                     attr(TCA_KIND, b"bpf\0"), f"detach {self.description}")
        except BpfSyscallError as e:
            if e.errno not in (errno.ENOENT, errno.ENODEV, errno.EINVAL):
                raise  # gone with its interface or qdisc: nothing left to undo


def attach(prog: "Program", ifindex: int, interface_label: str, direction: str, priority: int = 1,
           handle: int = 1) -> TcFilterLink:
    """Attach ``prog`` (SCHED_CLS, direct action) to the clsact ``direction`` hook of ``ifindex``."""
    what = f"attach '{prog.name}' as tc {direction} filter on {interface_label} (prio {priority}, handle {handle})"
    if not 0 < priority < 0x10000 or not handle:
        raise ValueError("tc priority must be 1..65535 and handle non-zero")
    qdisc = _TCMSG.pack(socket.AF_UNSPEC, ifindex, _tc_h(TC_H_CLSACT, 0), TC_H_CLSACT, 0)
    try:
        _request(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, qdisc, attr(TCA_KIND, b"clsact\0"), f"{what}: create clsact qdisc")
    except BpfSyscallError as e:
        if e.errno != errno.EEXIST:
            if e.errno == errno.EOPNOTSUPP or e.errno == errno.ENOENT:
                raise AttachError(f"{what}: the kernel has no clsact qdisc (CONFIG_NET_SCH_INGRESS)") from None
            raise
    options = (attr(TCA_BPF_FD, struct.pack("=I", prog.fileno()))
               + attr(TCA_BPF_NAME, prog.name.encode()[:255] + b"\0")
               + attr(TCA_BPF_FLAGS, struct.pack("=I", TCA_BPF_FLAG_ACT_DIRECT)))
    attrs = attr(TCA_KIND, b"bpf\0") + nested(TCA_OPTIONS, options)
    _request(RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, _filter_msg(ifindex, direction, priority, handle), attrs, what)
    return TcFilterLink(ifindex, direction, priority, handle, what)
