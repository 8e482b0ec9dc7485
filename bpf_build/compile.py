"""Drive clang to produce BPF objects.

Finding a clang that can target BPF and the flags that make good BPF objects live here; the build
plugin and the CLI both come through this module.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import List, Optional, Sequence

from .errors import CompileError
from .fileio import write_atomic

MIN_CLANG_MAJOR = 14
INSTALL_HINT = "install one with: apt-get install clang-19 (or any clang >= 14 with the BPF target), or set $BPF_CLANG"

# uname -m -> the __TARGET_ARCH_ name libbpf's bpf_tracing.h expects.
_TARGET_ARCH = {
    "x86_64": "x86", "i686": "x86", "aarch64": "arm64", "armv7l": "arm", "s390x": "s390",
    "ppc64le": "powerpc", "ppc64": "powerpc", "riscv64": "riscv", "loongarch64": "loongarch",
    "mips64": "mips", "sparc64": "sparc",
}


@dataclass(frozen=True)
class Clang:
    path: str
    major: int
    version: str


def _probe(path: str) -> Optional[Clang]:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"clang version (\d+)\.(\d+)\.(\d+)", out)
    if not m:
        return None
    return Clang(path=path, major=int(m.group(1)), version=m.group(0).split()[-1])


def _has_bpf_target(path: str) -> bool:
    try:
        out = subprocess.run([path, "-print-targets"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return re.search(r"^\s*bpf\b", out, re.M) is not None


def _candidates() -> List[str]:
    found = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            if re.fullmatch(r"clang(-\d+)?", n):
                found.append(os.path.join(d, n))
    # Newest versioned clang first, plain `clang` after the versioned ones of its PATH entry order.
    def key(p: str):
        m = re.search(r"clang-(\d+)$", p)
        return (-(int(m.group(1)) if m else 0),)
    seen, ordered = set(), []
    for p in sorted(found, key=key):
        real = os.path.realpath(p)
        if real not in seen:
            seen.add(real)
            ordered.append(p)
    return ordered


@functools.lru_cache(maxsize=None)
def find_clang() -> Clang:
    """$BPF_CLANG, then clang/clang-NN on PATH, newest first; must be >= 14 with the BPF target."""
    explicit = os.environ.get("BPF_CLANG")
    if explicit:
        path = shutil.which(explicit) or explicit
        clang = _probe(path)
        if clang is None:
            raise CompileError(explicit, f"$BPF_CLANG is not a working clang; {INSTALL_HINT}")
        if clang.major < MIN_CLANG_MAJOR or not _has_bpf_target(path):
            raise CompileError(explicit, f"clang {clang.version} cannot build BPF objects "
                                         f"(need >= {MIN_CLANG_MAJOR} with the BPF target); {INSTALL_HINT}")
        return clang
    rejected = []
    for path in _candidates():
        clang = _probe(path)
        if clang is None:
            continue
        if clang.major >= MIN_CLANG_MAJOR and _has_bpf_target(path):
            return clang
        rejected.append(f"{path} ({clang.version})")
    why = f"found only {', '.join(rejected)}" if rejected else "no clang on PATH"
    raise CompileError("clang", f"no clang that targets BPF: {why}; {INSTALL_HINT}")


def target_arch() -> str:
    machine = platform.machine()
    return _TARGET_ARCH.get(machine, machine)


def multiarch_include_dirs() -> List[str]:
    """Debian puts asm/ headers under /usr/include/<triplet>; BPF compiles need that dir."""
    dirs = []
    try:
        triplet = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True,
                                 timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        triplet = ""
    if not triplet:
        triplet = f"{platform.machine()}-linux-gnu"
    d = f"/usr/include/{triplet}"
    if os.path.isdir(d):
        dirs.append(d)
    return dirs


def default_cflags(target: str = "bpfel", debug_prefix_map: Optional[str] = None) -> List[str]:
    if target not in ("bpfel", "bpfeb", "bpf"):
        raise CompileError(None, f"unknown BPF target {target!r} (expected bpfel or bpfeb)")
    flags = ["-g", "-O2", "-target", target, f"-D__TARGET_ARCH_{target_arch()}", "-fno-ident",
             "-Wall", "-Wno-unused-function"]
    if debug_prefix_map:
        flags.append(f"-fdebug-prefix-map={debug_prefix_map}=.")
    for d in multiarch_include_dirs():
        flags += ["-idirafter", d]
    return flags


def compile_bpf(source: str, output: str, *, target: str = "bpfel", cflags: Sequence[str] = (),
                include_dirs: Sequence[str] = (), depfile: Optional[str] = None) -> None:
    """Compile one BPF C source into an object; the output appears only if clang succeeds."""
    clang = find_clang()
    if not os.path.exists(source):
        raise CompileError(source, "no such source file")
    tmp = f"{output}.tmp-{os.getpid()}"
    argv = [clang.path] + default_cflags(target, os.path.dirname(os.path.abspath(source)))
    argv += [f"-I{d}" for d in include_dirs] + list(cflags)
    if depfile:
        argv += ["-MD", "-MF", depfile + ".tmp", "-MT", output]
    argv += ["-c", source, "-o", tmp]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.stderr:
        # Diagnostics exactly as the compiler printed them.
        import sys
        sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        for p in (tmp, (depfile or "") + ".tmp"):
            if p and os.path.exists(p):
                os.unlink(p)
        raise CompileError(source, f"clang failed with exit code {proc.returncode}")
    os.replace(tmp, output)
    if depfile:
        os.replace(depfile + ".tmp", depfile)
