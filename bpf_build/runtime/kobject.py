"""What maps, programs and links share: an owned fd, pinning in bpffs, a context manager."""

from __future__ import annotations

import os
from typing import Any, FrozenSet, Optional, Type, TypeVar, Union

from . import syscall
from .errors import BpfRuntimeError, ClosedError
from .fd import Fd
from .uapi import Cmd

_Object = TypeVar("_Object", bound="BpfObject")


class BpfObject:
    """A kernel BPF object held through an fd this Python object owns."""

    kind = "object"
    _fd_by_id: Optional[Cmd] = None  # the GET_FD_BY_ID command for this kind
    # Settings a skeleton takes before load (runtime/settings.py): on the kernel object they are
    # facts, and assigning one would silently do nothing, so it raises once the object is described.
    _open_phase_settings: FrozenSet[str] = frozenset()
    _described = False

    def __setattr__(self, name: str, value: Any) -> None:
        if self._described and name in self._open_phase_settings:
            raise BpfRuntimeError(f"{self.kind} '{getattr(self, 'name', '?')}': {name} can only be set "
                                  "before load() (skel.maps.NAME / skel.progs.NAME of an opened skeleton)")
        object.__setattr__(self, name, value)

    def __init__(self, fd: Union[Fd, int]):
        self._fd = fd if isinstance(fd, Fd) else Fd(fd)

    @classmethod
    def from_fd(cls: Type[_Object], fd: Union[Fd, int], **kwargs: Any) -> _Object:
        """Take ownership of an fd that refers to an object of this kind."""
        return cls(fd, **kwargs)

    @classmethod
    def from_pinned(cls: Type[_Object], path: Union[str, "os.PathLike[str]"], **kwargs: Any) -> _Object:
        return cls(syscall.obj_get(os.fspath(path)), **kwargs)

    @classmethod
    def from_id(cls: Type[_Object], object_id: int, **kwargs: Any) -> _Object:
        if cls._fd_by_id is None:
            raise BpfRuntimeError(f"a kernel {cls.kind} cannot be opened by id")
        return cls(syscall.get_fd_by_id(cls._fd_by_id, object_id, f"open {cls.kind} id {object_id}"), **kwargs)

    def fileno(self) -> int:
        if self._fd.closed:
            raise ClosedError(f"{self.kind} '{getattr(self, 'name', '?')}' is closed")
        return self._fd.fileno()

    @property
    def fd(self) -> Fd:
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd.closed

    def close(self) -> None:
        self._fd.close()

    def pin(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Pin to a bpffs path: the object then outlives this process until the path is removed."""
        syscall.obj_pin(self.fileno(), os.fspath(path))

    def __enter__(self: _Object) -> _Object:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unpin(path: Union[str, "os.PathLike[str]"]) -> None:
    """Remove a pin; the kernel frees the object once no fd or link refers to it."""
    os.unlink(os.fspath(path))
