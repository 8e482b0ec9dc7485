"""Values for ``extern ... __kconfig`` variables, read on the machine that loads the object.

libbpf's light skeletons freeze the build host's values into the loader; we resolve them where the
program runs: CONFIG_* from /boot/config-$(uname -r) or /proc/config.gz, LINUX_KERNEL_VERSION from
uname, and the LINUX_HAS_* feature flags from the running kernel.
"""

from __future__ import annotations

import functools
import gzip
import os
import platform
import re
import sys
from typing import TYPE_CHECKING, Dict, Iterable, Optional, Tuple

from .errors import KconfigError

if TYPE_CHECKING:
    from .loader import KconfigSpec

BOOL, TRISTATE, CHAR, INT, CHAR_ARRAY = "bool", "tristate", "char", "int", "char_array"
_TRISTATE = {"n": 0, "y": 1, "m": 2}  # enum libbpf_tristate
_SYSCALL_WRAPPER_SYMBOL = {"x86_64": "__x64_sys_bpf", "aarch64": "__arm64_sys_bpf",
                           "s390x": "__s390x_sys_bpf", "riscv64": "__riscv_sys_bpf"}


def config_paths(release: Optional[str] = None) -> Tuple[str, str]:
    return (f"/boot/config-{release or os.uname().release}", "/proc/config.gz")


def parse_config(text: str) -> Dict[str, str]:
    """CONFIG_FOO=value lines; '# CONFIG_FOO is not set' becomes 'n'."""
    values: Dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_"):
            name, _, value = line.partition("=")
            values[name] = value.strip()
        else:
            unset = re.match(r"# (CONFIG_\w+) is not set", line)
            if unset:
                values[unset.group(1)] = "n"
    return values


@functools.lru_cache(maxsize=1)
def kernel_config() -> Dict[str, str]:
    """The running kernel's configuration; KconfigError when neither source exists."""
    for path in config_paths():
        try:
            if path.endswith(".gz"):
                with gzip.open(path, "rt") as f:
                    return parse_config(f.read())
            with open(path) as f:
                return parse_config(f.read())
        except FileNotFoundError:
            continue
        except OSError as e:
            raise KconfigError(f"{path}: cannot read kernel config: {e.strerror}") from None
    raise KconfigError("no kernel config found (looked for " + ", ".join(config_paths()) +
                       "); CONFIG_* externs cannot be resolved on this machine")


def kernel_version_code(release: Optional[str] = None) -> int:
    """KERNEL_VERSION(a, b, c) of a release string like '6.18.44-fc-v669' (c capped at 255)."""
    release = release or os.uname().release
    m = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release)
    if not m:
        raise KconfigError(f"cannot parse kernel release '{release}' for LINUX_KERNEL_VERSION")
    a, b, c = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    return (a << 16) | (b << 8) | min(c, 255)


@functools.lru_cache(maxsize=1)
def has_syscall_wrapper() -> bool:
    symbol = _SYSCALL_WRAPPER_SYMBOL.get(platform.machine())
    if symbol is None:
        return False
    needle = f" {symbol}\n"
    try:
        with open("/proc/kallsyms") as f:
            return any(line.endswith(needle) for line in f)
    except OSError:
        return False


def _special(name: str) -> Optional[str]:
    """The LINUX_* externs libbpf defines, as config-style strings."""
    if name == "LINUX_KERNEL_VERSION":
        return str(kernel_version_code())
    if name == "LINUX_HAS_BPF_COOKIE":
        from .features import has_bpf_cookie
        return "y" if has_bpf_cookie() else "n"
    if name == "LINUX_HAS_SYSCALL_WRAPPER":
        return "y" if has_syscall_wrapper() else "n"
    return None


def encode_value(name: str, kcfg_type: str, size: int, signed: bool, raw: str) -> bytes:
    """One extern's bytes from its config-file spelling ('y', '1000', '"str"', '0x10')."""
    if kcfg_type in (BOOL, TRISTATE, CHAR) and raw in _TRISTATE:
        if kcfg_type == BOOL:
            if raw == "m":
                raise KconfigError(f"{name} is 'm' (a module) but the extern is a bool; declare it "
                                   "as enum libbpf_tristate or char")
            return bytes([raw == "y"]).ljust(size, b"\0")
        if kcfg_type == TRISTATE:
            return _TRISTATE[raw].to_bytes(size, sys.byteorder)
        return raw.encode().ljust(size, b"\0")
    if kcfg_type == CHAR_ARRAY:
        if not (len(raw) >= 2 and raw[0] == raw[-1] == '"'):
            raise KconfigError(f"{name}={raw} is not a string but the extern is a char array")
        text = raw[1:-1].encode()[:size - 1]  # truncated like libbpf, always NUL-terminated
        return text.ljust(size, b"\0")
    if kcfg_type == INT:
        try:
            value = int(raw, 0)
        except ValueError:
            raise KconfigError(f"{name}={raw} is not a number but the extern is an integer") from None
        try:
            return value.to_bytes(size, sys.byteorder, signed=signed)
        except OverflowError:
            raise KconfigError(f"{name}={raw} does not fit the extern's {size}-byte integer") from None
    raise KconfigError(f"{name}={raw} cannot be stored in an extern of kind {kcfg_type}")


def build_kconfig_data(externs: Iterable[KconfigSpec], size: int, default: Optional[bytes] = None,
                       config: Optional[Dict[str, str]] = None) -> bytes:
    """The .kconfig map's value: each extern (name, kcfg_type, size, offset, signed, weak) at its
    offset. Missing bool/tristate options are 'n'; a missing strong extern of another kind is an
    error; missing weak ones stay zero."""
    data = bytearray((default or b"").ljust(size, b"\0")[:size])
    externs = list(externs)
    needs_config = any(e.name.startswith("CONFIG_") for e in externs)
    config = config if config is not None else (kernel_config() if needs_config else {})
    for ext in externs:
        raw = _special(ext.name)
        if raw is None:
            raw = config.get(ext.name)
        if raw is None and ext.kcfg_type in (BOOL, TRISTATE):
            raw = "n"
        if raw is None:
            if ext.weak:
                continue
            raise KconfigError(f"kconfig extern {ext.name} is not set in this kernel's config and is not __weak")
        data[ext.offset:ext.offset + ext.size] = encode_value(ext.name, ext.kcfg_type, ext.size, ext.signed, raw)
    return bytes(data)
