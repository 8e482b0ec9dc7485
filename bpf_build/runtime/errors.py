"""Errors raised while loading and running BPF objects.

The runtime must not import the build side (``bpf_build.errors`` pulls in nothing heavy, but the
rule keeps an installed wheel's run-time surface obvious), so it has its own small hierarchy. Every
error is one line naming what failed and why; syscall failures are also ``OSError`` so callers can
test ``errno`` the usual way, and load failures carry the verifier log.
"""

from __future__ import annotations

import errno as _errno
import os
from typing import Dict, Optional


class BpfRuntimeError(Exception):
    """Base of every error the runtime raises."""

    def __init__(self, reason: str):
        self.reason = " ".join(str(reason).split())  # one line, always
        super().__init__(self.reason)

    def __str__(self) -> str:
        return self.reason


class BpfSyscallError(BpfRuntimeError, OSError):
    """A ``bpf()``, ``perf_event_open()`` or related syscall failed.

    ``what`` says which operation on which object; ``errno`` is the kernel's answer."""

    errno: int  # always set here (OSError's may be None)

    def __init__(self, what: str, err: int, hint: str = ""):
        self.what = what
        self.hint = hint
        reason = f"{what}: {_describe_errno(err)}"
        if hint:
            reason += f"; {hint}"
        OSError.__init__(self, err, reason)
        self.reason = " ".join(reason.split())

    def __str__(self) -> str:
        return self.reason


class VerifierError(BpfSyscallError):
    """BPF_PROG_LOAD (or BTF_LOAD) was refused; ``log`` holds the kernel's verifier log."""

    def __init__(self, what: str, err: int, log: str, hint: str = ""):
        self.log = log
        last = _last_log_line(log)
        if last and not hint:
            hint = f"verifier: {last}"
        super().__init__(what, err, hint)


class ClosedError(BpfRuntimeError, ValueError):
    """An operation on a map, program, link, buffer or skeleton that was already closed."""


class NotSupportedError(BpfRuntimeError):
    """A feature this runtime (or a loader program) cannot provide; the message names it."""


class AttachError(BpfRuntimeError):
    """An attach target does not exist or this kernel cannot attach this kind of program. From a
    skeleton's attach(), ``failures`` maps each program that could not attach to its error."""

    failures: Dict[str, BaseException] = {}


class LoaderError(BpfRuntimeError):
    """Running a loader program failed; ``log`` holds the verifier log when there is one."""

    def __init__(self, reason: str, log: str = "", errno: Optional[int] = None):
        self.log = log
        self.errno = errno
        super().__init__(reason)


class KconfigError(BpfRuntimeError):
    """A kconfig extern the object needs cannot be resolved on this machine."""


class SymbolError(BpfRuntimeError):
    """A symbol for a uprobe cannot be found in the binary."""


def os_errno(e: OSError) -> int:
    """The errno of an OSError from a syscall wrapper (mmap, epoll...), which always sets one;
    EIO stands in should it not."""
    return e.errno if e.errno is not None else _errno.EIO


# Kernel-internal errnos that leak to user space and that libc does not name.
_KERNEL_ERRNOS = {524: "operation not supported for this object type (ENOTSUPP)",
                  523: "cannot do this through this handle (EBADTYPE)"}


def _describe_errno(err: int) -> str:
    if err in _KERNEL_ERRNOS:
        return _KERNEL_ERRNOS[err]
    return f"{os.strerror(err)} ({_errno.errorcode.get(err, err)})"


def _last_log_line(log: str) -> str:
    """The verifier puts its verdict on the last non-empty line; a short summary for the message."""
    for line in reversed(log.splitlines()):
        line = line.strip()
        if line and not line.startswith("processed ") and not line.startswith("verification time"):
            return line[:200]
    return ""
