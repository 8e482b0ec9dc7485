"""Links: owned handles on an attachment. ``close()`` detaches (unless a bpf link was pinned, which
keeps it alive in bpffs), exactly once."""

from __future__ import annotations

import errno
import io
import os
import socket
from typing import Iterable, Iterator, List, Optional, TypeVar, Union

from . import perf, syscall
from .uapi import Cmd
from .fd import Fd
from .kobject import BpfObject

SO_ATTACH_BPF = 50
SO_DETACH_BPF = 27  # shares the number of SO_DETACH_FILTER

_AnyLink = TypeVar("_AnyLink", bound="Link")


class Link:
    """Base: something attached. Subclasses say how to undo it."""

    description = ""

    def close(self) -> None:
        raise NotImplementedError

    def detach(self) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        raise NotImplementedError

    def __enter__(self: _AnyLink) -> _AnyLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}{' closed' if self.closed else ''}>"


class BpfLink(Link, BpfObject):
    """A kernel bpf_link (LINK_CREATE, RAW_TRACEPOINT_OPEN): closing the last fd detaches."""

    kind = "link"
    _fd_by_id = Cmd.LINK_GET_FD_BY_ID

    def __init__(self, fd: Union[Fd, int], description: str = ""):
        BpfObject.__init__(self, fd)
        self.description = description

    @property
    def closed(self) -> bool:
        return self._fd.closed

    def close(self) -> None:
        self._fd.close()

    @property
    def id(self) -> int:
        info = syscall.LinkInfo()
        syscall.obj_info(self.fileno(), info, "get link info")
        return int(info.id)

    def detach_now(self) -> None:
        """Detach in the kernel even if other fds or a pin still refer to the link."""
        syscall.link_detach(self.fileno())


class IterLink(BpfLink):
    """An iterator program attached (``SEC("iter/task")``, ``iter/bpf_map_elem``...). Every
    ``read()`` runs the program over the objects anew and returns what it wrote with
    bpf_seq_write/bpf_seq_printf; ``open()`` gives the file to read incrementally."""

    def open(self) -> io.FileIO:
        fd = syscall.iter_create(self.fileno(), f"create iterator of {self.description}")
        return os.fdopen(fd, "rb", buffering=0)

    def read(self) -> bytes:
        with self.open() as f:
            chunks: List[bytes] = []
            while True:
                chunk = f.read(1 << 16)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)


class PerfEventLink(Link):
    """A BPF program on a perf event (tracepoint, kprobe, uprobe, sampling event). Owns the perf
    event fd, and the bpf link when the kernel supports perf links (5.15+)."""

    def __init__(self, perf_fd: Fd, bpf_link: Optional[BpfLink], description: str = ""):
        self.perf_fd = perf_fd
        self.bpf_link = bpf_link
        self.description = description

    @property
    def closed(self) -> bool:
        return self.perf_fd.closed

    def close(self) -> None:
        if self.perf_fd.closed:
            return
        if self.bpf_link is not None:
            self.bpf_link.close()
        else:
            try:
                perf.ioctl(self.perf_fd, perf.PERF_EVENT_IOC_DISABLE, 0, "disable perf event")
            except OSError:
                pass
        self.perf_fd.close()


class UndoLink(Link):
    """An attachment the kernel keeps without an fd of ours; ``_undo()`` removes it, once."""

    def __init__(self, description: str = ""):
        self.description = description
        self._attached = True

    @property
    def closed(self) -> bool:
        return not self._attached

    def close(self) -> None:
        if self._attached:
            self._attached = False
            self._undo()

    def _undo(self) -> None:
        raise NotImplementedError


class SocketFilterLink(UndoLink):
    """A program attached to a socket with SO_ATTACH_BPF; closing detaches it from the socket."""

    def __init__(self, sock: socket.socket, description: str = ""):
        super().__init__(description)
        self.sock = sock

    def _undo(self) -> None:
        if self.sock.fileno() < 0:
            return  # the socket is gone, and the filter with it
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_BPF, 0)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise


class LinkGroup(Link):
    """Several links that belong together (one perf event per CPU); closes them all."""

    def __init__(self, links: Iterable[Link], description: str = ""):
        self.links: List[Link] = list(links)
        self.description = description

    @property
    def closed(self) -> bool:
        return all(link.closed for link in self.links)

    def close(self) -> None:
        for link in self.links:
            link.close()

    def __iter__(self) -> Iterator[Link]:
        return iter(self.links)

    def __len__(self) -> int:
        return len(self.links)
