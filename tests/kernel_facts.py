"""What the running kernel has, for tests that must assert the right behaviour on every kernel they
boot on (the host and the kernels scripts/vmtest.py boots): run the feature where the kernel has it,
and expect the clear error naming it where it does not.

Facts come from the kernel itself (uname, its config, tracefs, its BTF), never from a table of
what the host happens to have."""

from __future__ import annotations

import functools
import gzip
import os
import re
from typing import Dict, Tuple

from bpf_build.model import btf as B
from bpf_build.runtime.kconfig import config_paths, parse_config


def kernel_version() -> Tuple[int, int]:
    major, minor = re.match(r"(\d+)\.(\d+)", os.uname().release).groups()
    return int(major), int(minor)


@functools.lru_cache(maxsize=1)
def kernel_config() -> Dict[str, str]:
    """The running kernel's config, read from the first source that exists (Debian kernels have
    /boot/config-*; others /proc/config.gz)."""
    for path in config_paths():
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                return parse_config(f.read())
    raise FileNotFoundError("no kernel config: " + ", ".join(config_paths()))


def has_kprobes() -> bool:
    return os.path.exists("/sys/bus/event_source/devices/kprobe")


@functools.lru_cache(maxsize=None)
def has_btf_func(name: str) -> bool:
    """Whether the kernel's BTF has a FUNC ``name`` (a kfunc or an attach target)."""
    return _vmlinux_btf().find(name, B.FUNC) is not None


@functools.lru_cache(maxsize=1)
def _vmlinux_btf() -> B.Btf:
    with open("/sys/kernel/btf/vmlinux", "rb") as f:
        return B.Btf.parse(f.read())


def in_vm() -> str:
    """The kernel series scripts/vmtest.py booted us into, or '' on the host."""
    return os.environ.get("BPF_BUILD_IN_VM", "")
