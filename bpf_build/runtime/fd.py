"""File descriptors the runtime owns: closed exactly once, by ``close()``, ``with`` or, as a last
resort, the garbage collector."""

from __future__ import annotations

import os
from types import TracebackType
from typing import List, Optional, Protocol, Type, TypeVar


class Fd:
    """Ownership of one kernel file descriptor.

    ``fileno()`` lends the number; ``detach()`` hands ownership to the caller. Closing twice is a
    no-op, so owners can close unconditionally on every error path."""

    __slots__ = ("_fd", "__weakref__")

    def __init__(self, fd: int):
        if fd < 0:
            raise ValueError(f"invalid file descriptor {fd}")
        self._fd = fd

    def fileno(self) -> int:
        if self._fd < 0:
            raise ValueError("file descriptor is closed")
        return self._fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def detach(self) -> int:
        """Give up ownership and return the number; the caller now closes it."""
        fd, self._fd = self.fileno(), -1
        return fd

    def dup(self) -> "Fd":
        return Fd(os.dup(self.fileno()))

    def __enter__(self) -> "Fd":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A forgotten Fd must not leak a kernel object for the life of the process.
        try:
            self.close()
        except OSError:
            pass

    def __repr__(self) -> str:
        return f"Fd({self._fd})" if self._fd >= 0 else "Fd(closed)"


class Closable(Protocol):
    def close(self) -> None: ...


_C = TypeVar("_C", bound=Closable)


class FdGroup:
    """Fds created during one multi-step operation: on failure close them all, on success keep.

    >>> with FdGroup() as group:
    ...     a = group.add(make_map())
    ...     b = group.add(make_prog())
    ...     group.keep()
    """

    def __init__(self) -> None:
        self._owned: List[Closable] = []
        self._kept = False

    def add(self, owner: _C) -> _C:
        """Track anything with ``close()`` (an Fd, a Map, a Link...); returns it."""
        self._owned.append(owner)
        return owner

    def keep(self) -> None:
        self._kept = True

    def close_all(self) -> None:
        while self._owned:
            try:
                self._owned.pop().close()
            except OSError:
                pass

    def __enter__(self) -> "FdGroup":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if exc_type is not None or not self._kept:
            self.close_all()
        self._owned = []
