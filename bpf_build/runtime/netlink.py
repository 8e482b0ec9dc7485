"""One rtnetlink request at a time: send it, wait for the kernel's acknowledgement, raise its
error. Classic tc (tc.py) and XDP without bpf links (xdp_netlink.py) attach this way.

Extended acks are asked for, so a refusal carries the kernel's own sentence ("Underlying driver
does not support XDP in native mode") rather than a bare errno.
"""

from __future__ import annotations

import socket
import struct

from .errors import BpfSyscallError

NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLM_F_CAPPED, NLM_F_ACK_TLVS = 0x100, 0x200   # on an error reply: request not echoed; TLVs follow
NLMSG_ERROR = 2
NLA_F_NESTED = 0x8000
NETLINK_EXT_ACK = 11
NLMSGERR_ATTR_MSG = 1
SOL_NETLINK = 270

HEADER = struct.Struct("=IHHII")  # struct nlmsghdr


def attr(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def nested(kind: int, *attrs: bytes) -> bytes:
    return attr(kind | NLA_F_NESTED, b"".join(attrs))


def _extack_message(reply: bytes, offset: int, length: int, flags: int) -> str:
    """The kernel's NLMSGERR_ATTR_MSG of the error message at ``offset``, if it sent one."""
    if not flags & NLM_F_ACK_TLVS:
        return ""
    echoed = HEADER.size
    if not flags & NLM_F_CAPPED:
        echoed = struct.unpack_from("=I", reply, offset + HEADER.size + 4)[0]
    pos, end = offset + HEADER.size + 4 + echoed, offset + length
    while pos + 4 <= end:
        size, kind = struct.unpack_from("=HH", reply, pos)
        if size < 4:
            break
        if kind & 0x3FFF == NLMSGERR_ATTR_MSG:
            return reply[pos + 4:pos + size].split(b"\0", 1)[0].decode("utf-8", "replace")
        pos += size + (-size % 4)
    return ""


def request(msg_type: int, flags: int, body: bytes, what: str) -> None:
    """Send one rtnetlink request (``body``: the family header and attributes) and wait for its
    acknowledgement; a refusal raises BpfSyscallError with the kernel's errno and message."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE) as nl:
        try:
            nl.setsockopt(SOL_NETLINK, NETLINK_EXT_ACK, 1)
        except OSError:
            pass  # kernels before 4.12: errors come without a message
        nl.bind((0, 0))
        nl.send(HEADER.pack(HEADER.size + len(body), msg_type, NLM_F_REQUEST | NLM_F_ACK | flags, 1, 0) + body)
        while True:
            reply = nl.recv(65536)
            offset = 0
            while offset + HEADER.size <= len(reply):
                length, kind, reply_flags, _, _ = HEADER.unpack_from(reply, offset)
                if kind == NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", reply, offset + HEADER.size)
                    if code:
                        raise BpfSyscallError(what, -code, _extack_message(reply, offset, length, reply_flags))
                    return
                offset += max(length, HEADER.size) + (-length % 4)
