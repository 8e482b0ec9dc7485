"""Atomic output: a failed or interrupted run never leaves a half-written file behind.

``write_atomic`` writes a temporary file in the target's directory and renames it over the
target. The temporary file is removed on any exception (KeyboardInterrupt included) and on
SIGTERM; one left by a killed process (SIGKILL cannot be caught) carries its writer's pid in its
name, ``.<target name>.tmp-bpf-build-<pid>-<random>``, and the next write of the same target
removes it once that process is gone. Outputs get the permissions a compiler's would: an
existing file keeps its mode, a new one gets 0666 minus the umask.

Reading is here too: ``read_bytes`` (a file whole, errors as BpfBuildError) and ``sha256_file``
(a file's digest, read in chunks), which the incremental compiles and the caches key on.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from typing import Optional, Tuple, Union

from .errors import BpfBuildError

_TEMP_TAG = ".tmp-bpf-build-"


def read_bytes(path: Union[str, os.PathLike], error_cls=BpfBuildError) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise error_cls(path, f"cannot read: {e.strerror or e}") from None


def sha256_file(path: Union[str, os.PathLike]) -> str:
    """The SHA-256 of a file's content, hex; OSError when it cannot be read."""
    import hashlib  # here, not at the top: loading OpenSSL costs ~4 MiB of RSS every command pays

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path: Union[str, os.PathLike], data: Union[bytes, str], mode: Optional[int] = None) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it. ``mode`` overrides
    the permissions (default: the existing file's, or 0666 & ~umask for a new one)."""
    path = os.fspath(path)
    if isinstance(data, str):
        data = data.encode()
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    _remove_stale_temps(directory, base)
    if mode is None:
        mode = _output_mode(path)
    with _sigterm_after_cleanup():
        try:
            fd, tmp = _create_temp(directory, f".{base}{_TEMP_TAG}{os.getpid()}-")
        except OSError as e:
            raise BpfBuildError(path, f"cannot write: {e.strerror or e}") from None
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                os.fchmod(f.fileno(), mode)
            os.replace(tmp, path)
        except BaseException as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            if isinstance(e, OSError):
                raise BpfBuildError(path, f"cannot write: {e.strerror or e}") from None
            raise


def _create_temp(directory: str, prefix: str) -> Tuple[int, str]:
    """A new file ``prefix`` + random letters in ``directory``, open for writing, only its owner
    may read it (tempfile.mkstemp's contract, without loading tempfile: its imports (random,
    weakref, shutil) cost every command that writes a file ~3 ms)."""
    for _ in range(100):
        path = os.path.join(directory, prefix + os.urandom(6).hex())
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no unused temporary file name in {directory}")


def _output_mode(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it (os.umask would, for every thread)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o22)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def _remove_stale_temps(directory: str, base: str) -> None:
    """Remove the temporary files of ``base`` that killed writers left behind."""
    pattern = re.compile(re.escape(f".{base}{_TEMP_TAG}") + r"(\d+)-[^/]*\Z")
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        m = pattern.match(name)
        if m and not _process_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, name))


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of ours may be writing it right now
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


class _Terminated(BaseException):
    """SIGTERM arrived while a temporary file existed; raised to unwind through the cleanup."""


@contextlib.contextmanager
def _sigterm_after_cleanup():
    """While the temporary file exists, turn SIGTERM into an exception that unwinds through its
    removal, then die of the signal as the sender expects. Only where SIGTERM still has its
    default action and signals can be handled (the main thread): an application's own handler
    is left alone, and any other leftover goes at the next write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            yield
            return
        signal.signal(signal.SIGTERM, _raise_terminated)
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    except _Terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
        raise  # not reached: the default action ends the process
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _raise_terminated(signum, frame):
    raise _Terminated()
