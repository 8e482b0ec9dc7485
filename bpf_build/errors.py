"""One exception hierarchy for every user-facing failure.

Each error names the file it is about and the reason, so a CLI can print exactly one line
``error: <file>: <reason>`` and exit non-zero without a traceback.
"""

from __future__ import annotations

import os
from typing import Optional, Union

PathLike = Union[str, "os.PathLike[str]", None]


class BpfBuildError(Exception):
    """Base of every error bpf-build reports to a user."""

    exit_code = 1

    def __init__(self, path: PathLike, reason: str):
        self.path: Optional[str] = os.fspath(path) if path is not None else None
        self.reason = reason
        super().__init__(self.one_line())

    def one_line(self) -> str:
        reason = " ".join(str(self.reason).split())  # errors are one line, always
        return f"{self.path}: {reason}" if self.path else reason


class UsageError(BpfBuildError):
    """Bad command-line usage; CLIs exit 2."""

    exit_code = 2


class ElfError(BpfBuildError):
    """A malformed or unsupported ELF file."""


class BtfError(BpfBuildError):
    """Malformed or inconsistent BTF or BTF.ext."""


class InsnError(BpfBuildError):
    """Malformed BPF instructions, or an assembler misuse."""


class LinkError(BpfBuildError):
    """The static linker found inputs it cannot combine."""


class OpenError(BpfBuildError):
    """The object cannot be turned into maps/programs the way libbpf's open phase would."""


class LoaderError(BpfBuildError):
    """Generating or running a loader program failed."""


class CompileError(BpfBuildError):
    """Finding or running the compiler failed."""


class ConfigError(BpfBuildError):
    """Bad [tool.bpf-build] configuration."""


class SkeletonError(BpfBuildError):
    """A skeleton cannot be rendered for this object."""


class AbiError(BpfBuildError):
    """Bad input to the ABI tooling (not an ABI finding: findings are reported, not raised)."""

    exit_code = 2


class NotSupportedError(BpfBuildError):
    """A feature bpf-build knows about but does not implement yet; the message names it."""
