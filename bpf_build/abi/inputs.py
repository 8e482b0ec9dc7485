"""Read bpf-abi's inputs safely: regular files only, with a size limit.

A FIFO would block the read forever and ``/dev/zero`` never ends, so anything that is not a
regular file is refused before it is opened, and a file larger than its limit is refused
before it is read.
"""

from __future__ import annotations

import mmap
import os
import stat
import sys

from ..errors import AbiError

MiB = 1 << 20
TEXT_LIMIT = 64 * MiB  # version scripts, baselines, headers, suppression files
LIBRARY_LIMIT = 2048 * MiB  # shared libraries with full debug info (libLLVM's is ~1.5 GiB)


def _checked(path: str, limit: int) -> os.stat_result:
    try:
        info = os.stat(path)
    except OSError as e:
        raise AbiError(path, f"cannot read: {e.strerror or e}") from None
    if not stat.S_ISREG(info.st_mode):
        raise AbiError(path, f"not a regular file ({_file_kind(info.st_mode)})")
    if info.st_size > limit:
        raise AbiError(path, f"too large ({info.st_size} bytes; the limit is {limit} bytes)")
    return info


def map_input(path, limit: int = LIBRARY_LIMIT):
    """A library mapped read-only rather than read: only the sections used are ever touched
    (libLLVM is ~130 MB, of which bpf-abi reads a few)."""
    path = os.fspath(path)
    if _checked(path, limit).st_size == 0:
        return b""
    try:
        with open(path, "rb") as f:
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:
        raise AbiError(path, f"cannot read: {getattr(e, 'strerror', None) or e}") from None


def read_input(path, limit: int = TEXT_LIMIT) -> bytes:
    path = os.fspath(path)
    size = _checked(path, limit).st_size
    try:
        with open(path, "rb") as f:
            # Asking for the stat's size (one more byte shows growth) rather than the limit: a read
            # of limit + 1 bytes allocates that much first (0.04 ms a header, whatever its size).
            data = f.read(size + 1)
            if len(data) > size:
                data += f.read(limit + 1 - len(data))
    except OSError as e:
        raise AbiError(path, f"cannot read: {e.strerror or e}") from None
    if len(data) > limit:  # grew after the stat
        raise AbiError(path, f"too large (more than {limit} bytes)")
    return data


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "an unusual file type"


def read_toml(path) -> dict:
    """A TOML file (suppressions, pyproject.toml), read through read_input."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - older Pythons use the project's fallback (tomli)
        from ..project.config import _tomllib

        tomllib = _tomllib()
    path = os.fspath(path)
    try:
        return tomllib.loads(read_input(path).decode("utf-8"))
    except UnicodeDecodeError:
        raise AbiError(path, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise AbiError(path, f"not valid TOML: {e}") from None
