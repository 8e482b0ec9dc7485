"""XDP attach over rtnetlink, for kernels without XDP bpf links (before Linux 5.9).

RTM_SETLINK with IFLA_XDP { IFLA_XDP_FD, IFLA_XDP_FLAGS } puts the program on the interface;
the same request with fd -1 takes it off. To behave like a link:

* attaching adds XDP_FLAGS_UPDATE_IF_NOEXIST, so a program someone else attached is never
  replaced (EBUSY, as a link would answer);
* detaching names our program as the expected one (IFLA_XDP_EXPECTED_FD with XDP_FLAGS_REPLACE,
  Linux 5.7+), so a program that replaced ours in the meantime stays. The link keeps its own
  reference to the program for that.

Unlike a link, the attachment outlives the process if it dies without detaching.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

from . import netlink
from .errors import BpfSyscallError
from .fd import Fd
from .links import UndoLink
from .uapi import XdpFlag

RTM_SETLINK = 19
IFLA_XDP = 43
IFLA_XDP_FD, IFLA_XDP_FLAGS, IFLA_XDP_EXPECTED_FD = 1, 3, 8
XDP_FLAGS_MODES = XdpFlag.SKB_MODE | XdpFlag.DRV_MODE | XdpFlag.HW_MODE

_IFINFOMSG = struct.Struct("=BxHiII")


def _set_xdp(ifindex: int, prog_fd: int, flags: int, what: str, expected_fd: int = -1) -> None:
    attrs = [netlink.attr(IFLA_XDP_FD, struct.pack("=i", prog_fd))]
    if expected_fd >= 0:
        attrs.append(netlink.attr(IFLA_XDP_EXPECTED_FD, struct.pack("=i", expected_fd)))
        flags |= XdpFlag.REPLACE
    attrs.append(netlink.attr(IFLA_XDP_FLAGS, struct.pack("=I", flags)))
    ifinfo = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, ifindex, 0, 0)
    netlink.request(RTM_SETLINK, 0, ifinfo + netlink.nested(IFLA_XDP, *attrs), what)


class XdpNetlinkLink(UndoLink):
    """An XDP program put on an interface with RTM_SETLINK; closing takes it off again (if it is
    still ours) and drops our reference to the program."""

    def __init__(self, prog_fd: Fd, ifindex: int, mode_flags: int, description: str):
        super().__init__(description)
        self.prog_fd, self.ifindex, self.mode_flags = prog_fd, ifindex, mode_flags

    def _undo(self) -> None:
        try:
            _set_xdp(self.ifindex, -1, self.mode_flags, f"detach {self.description}",
                     expected_fd=self.prog_fd.fileno())
        except BpfSyscallError as e:
            # ENODEV: the interface is gone, and its program with it; EEXIST: another program
            # replaced ours, which is not ours to remove
            if e.errno not in (errno.ENODEV, errno.EEXIST):
                raise
        finally:
            self.prog_fd.close()


def attach(prog_fd: int, ifindex: int, flags: int, what: str) -> XdpNetlinkLink:
    """Put the program ``prog_fd`` on ``ifindex``; ``flags``: XDP_FLAGS_SKB_MODE/DRV_MODE/HW_MODE
    or 0 (the driver's mode if it has one, else generic)."""
    own = Fd(os.dup(prog_fd))
    try:
        _set_xdp(ifindex, own.fileno(), (flags & XDP_FLAGS_MODES) | XdpFlag.UPDATE_IF_NOEXIST, what)
    except BaseException:
        own.close()
        raise
    return XdpNetlinkLink(own, ifindex, flags & XDP_FLAGS_MODES, what)
