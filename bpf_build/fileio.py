"""Atomic output: a failed run never leaves a half-written file behind."""

from __future__ import annotations

import os
import tempfile
from typing import Union

from .errors import BpfBuildError


def read_bytes(path: Union[str, os.PathLike], error_cls=BpfBuildError) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise error_cls(path, f"cannot read: {e.strerror or e}") from None


def write_atomic(path: Union[str, os.PathLike], data: Union[bytes, str], mode: int = 0o644) -> None:
    """Write to a temporary file in the same directory, then rename over the target."""
    path = os.fspath(path)
    if isinstance(data, str):
        data = data.encode()
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    except OSError as e:
        raise BpfBuildError(path, f"cannot write: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise BpfBuildError(path, f"cannot write: {e.strerror or e}") from None
