"""What BPF objects are built for: the architectures bpf-build knows, and the names that mean them.

A target is a byte order (clang's ``-target bpfel``/``bpfeb``) and, unless arch-neutral, an
architecture (the ``__TARGET_ARCH_*`` libbpf's bpf_tracing.h expects, the architecture part of
wheel platform tags). The compile driver, the project configuration and the setuptools plugin
all name targets through this module.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass
from typing import Optional

from ..errors import CompileError

TARGETS = ("bpfel", "bpfeb")


@dataclass(frozen=True)
class Arch:
    """A CPU architecture BPF objects can be built for."""

    machine: str        # `uname -m`, also the architecture part of wheel platform tags
    target_arch: str    # the __TARGET_ARCH_<name> libbpf's bpf_tracing.h expects
    byteorder: str      # "little" | "big": the kernel's, so the object's

    @property
    def bpf_target(self) -> str:
        return "bpfel" if self.byteorder == "little" else "bpfeb"


ARCHES = {a.machine: a for a in (
    Arch("x86_64", "x86", "little"), Arch("i686", "x86", "little"),
    Arch("aarch64", "arm64", "little"), Arch("armv7l", "arm", "little"),
    Arch("s390x", "s390", "big"), Arch("ppc64le", "powerpc", "little"), Arch("ppc64", "powerpc", "big"),
    Arch("riscv64", "riscv", "little"), Arch("loongarch64", "loongarch", "little"),
    Arch("mips64", "mips", "big"), Arch("sparc64", "sparc", "big"),
)}
# Other spellings users write: the kernel's (ARCH=arm64), Debian's (amd64), __TARGET_ARCH_'s.
ARCH_ALIASES = {"arm64": "aarch64", "amd64": "x86_64", "x86": "x86_64", "arm": "armv7l", "s390": "s390x",
                "riscv": "riscv64", "loongarch": "loongarch64", "ppc64el": "ppc64le", "i386": "i686"}


@dataclass(frozen=True)
class Target:
    """What an object is built for: a byte order, and an architecture unless arch-neutral.

    ``bpfel``/``bpfeb`` are arch-neutral (no ``__TARGET_ARCH_*``: a program using bpf_tracing.h's
    PT_REGS macros must name an architecture); ``native`` is this machine."""

    bpf: str                # "bpfel" | "bpfeb": clang's -target
    arch: Optional[Arch]    # None: arch-neutral

    @property
    def name(self) -> str:
        return self.arch.machine if self.arch else self.bpf


TARGET_HELP = "bpfel, bpfeb (arch-neutral), native, or an architecture (" + \
    ", ".join(sorted(ARCHES) + sorted(ARCH_ALIASES)) + ")"


def host_arch() -> Arch:
    machine = platform.machine()
    machine = ARCH_ALIASES.get(machine, machine)
    return ARCHES.get(machine) or Arch(machine, machine, sys.byteorder)


def resolve_target(name: str) -> Target:
    """The Target a name means (see TARGET_HELP); CompileError for an unknown one."""
    if name in TARGETS:
        return Target(name, None)
    if name == "native":
        arch = host_arch()
        return Target(arch.bpf_target, arch)
    known = ARCHES.get(ARCH_ALIASES.get(name, name))
    if known is None:
        raise CompileError(None, f"unknown target {name!r} (expected {TARGET_HELP})")
    return Target(known.bpf_target, known)


def target_arch() -> str:
    """This machine's __TARGET_ARCH_ name."""
    return host_arch().target_arch


def native_target() -> str:
    return host_arch().bpf_target
