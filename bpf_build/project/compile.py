"""Drive clang to produce BPF objects.

Finding a clang that can target BPF, the flags that make good (and reproducible) BPF objects,
incremental rebuilds from depfiles, and parallel compiles live here; the build plugin, the Meson
custom targets and the `bpf-build compile` CLI all come through this module. What a target name
means is bpf_build.project.targets; a vmlinux.h rendered on demand, bpf_build.project.vmlinux.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

from ..errors import CompileError
from ..fileio import sha256_file, write_atomic
from .targets import resolve_target
from .vmlinux import VMLINUX_BTF, generated_vmlinux_h_dir, needs_generated_vmlinux_h

MIN_CLANG_MAJOR = 14
INSTALL_HINT = ("install one with: apt-get install clang llvm (any clang >= 14 with the BPF target), "
                "or point $BPF_CLANG at one")


# Bumped when the state file layout or the meaning of its fields changes.
_STATE_VERSION = 1


# --------------------------------------------------------------------------------------------
# Finding clang


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


def _clangs_on_path(search_path: str) -> List[str]:
    """Every clang / clang-NN on PATH, first occurrence of each real file, in PATH order."""
    found, seen = [], set()
    for d in search_path.split(os.pathsep):
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for n in names:
            p = os.path.join(d, n)
            if re.fullmatch(r"clang(-\d+)?", n) and os.access(p, os.X_OK):
                real = os.path.realpath(p)
                if real not in seen:
                    seen.add(real)
                    found.append(p)
    return found


def _version_key(clang: Clang) -> Tuple[int, ...]:
    return tuple(int(x) for x in clang.version.split("."))


def _usable(clang: Clang) -> bool:
    return clang.major >= MIN_CLANG_MAJOR and _has_bpf_target(clang.path)


@functools.lru_cache(maxsize=None)
def _find_clang(explicit: Optional[str], search_path: str) -> Clang:
    if explicit:
        path = shutil.which(explicit, path=search_path) or explicit
        clang = _probe(path)
        if clang is None:
            raise CompileError(explicit, f"$BPF_CLANG is not a working clang; {INSTALL_HINT}")
        if not _usable(clang):
            raise CompileError(explicit, f"clang {clang.version} cannot build BPF objects "
                                         f"(need >= {MIN_CLANG_MAJOR} with the BPF target); {INSTALL_HINT}")
        return clang
    probed = [c for c in map(_probe, _clangs_on_path(search_path)) if c is not None]
    # Newest first; sorted() is stable, so equal versions keep PATH order.
    probed.sort(key=_version_key, reverse=True)
    for clang in probed:
        if _usable(clang):
            return clang
    rejected = ", ".join(f"{c.path} ({c.version})" for c in probed)
    why = f"found only {rejected}" if rejected else "no clang on PATH"
    raise CompileError("clang", f"no clang that targets BPF: {why}; {INSTALL_HINT}")


def find_clang() -> Clang:
    """$BPF_CLANG, then clang/clang-NN on PATH, newest first; must be >= 14 with the BPF target."""
    return _find_clang(os.environ.get("BPF_CLANG") or None, os.environ.get("PATH", os.defpath))


# --------------------------------------------------------------------------------------------
# Flags


@functools.lru_cache(maxsize=None)
def multiarch_include_dirs() -> List[str]:
    """Debian puts asm/ headers under /usr/include/<triplet>; BPF compiles need that dir."""
    triplet = sysconfig.get_config_var("MULTIARCH") or ""
    if not triplet:
        try:
            triplet = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True,
                                     timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            triplet = ""
    if not triplet:
        triplet = f"{platform.machine()}-linux-gnu"
    d = f"/usr/include/{triplet}"
    return [d] if os.path.isdir(d) else []


def libbpf_include_dirs() -> List[str]:
    """libbpf's headers (bpf/bpf_helpers.h & co) from libbpf-dev are in /usr/include, which clang
    searches anyway; $LIBBPF_INCLUDE_DIR adds another copy (a libbpf checkout, a vendored one)."""
    explicit = os.environ.get("LIBBPF_INCLUDE_DIR")
    return [explicit] if explicit else []


def default_cflags(target: str = "native", debug_prefix_map: Optional[str] = None) -> List[str]:
    """The flags every BPF compile gets before the user's own.

    ``target`` is any name resolve_target takes. ``debug_prefix_map`` is the directory written as
    ``.`` in debug info and BTF line info, so the object does not depend on where the project was
    built."""
    resolved = resolve_target(target)
    flags = ["-g", "-O2", "-target", resolved.bpf]
    if resolved.arch is not None:
        flags.append(f"-D__TARGET_ARCH_{resolved.arch.target_arch}")
    flags += ["-fno-ident", "-Wall", "-Wno-unused-function"]
    if debug_prefix_map:
        flags.append(f"-ffile-prefix-map={os.path.abspath(debug_prefix_map)}=.")
    for d in libbpf_include_dirs() + multiarch_include_dirs():
        flags += ["-idirafter", d]
    return flags


# --------------------------------------------------------------------------------------------
# Depfiles


def parse_depfile(text: str) -> List[str]:
    """The prerequisites of a Make-style depfile as clang writes it (one or more rules)."""
    text = text.replace("\\\r\n", " ").replace("\\\n", " ")
    deps: List[str] = []
    for line in text.splitlines():
        words, word, i, in_deps = [], [], 0, False
        while i < len(line):
            c = line[i]
            if c == "\\" and i + 1 < len(line) and line[i + 1] in " #\\":
                word.append(line[i + 1])
                i += 2
                continue
            if c == "$" and line[i + 1:i + 2] == "$":
                word.append("$")
                i += 2
                continue
            if c in " \t":
                if word:
                    words.append("".join(word))
                    word = []
            elif c == ":" and not in_deps and (i + 1 == len(line) or line[i + 1] in " \t"):
                if word:
                    word = []  # the target, not a prerequisite
                words, in_deps = [], True
            else:
                word.append(c)
            i += 1
        if word:
            words.append("".join(word))
        if in_deps:
            deps += words
    return deps


# --------------------------------------------------------------------------------------------
# Incremental state: one hidden file next to each output.


def _state_path(output: str) -> str:
    d, base = os.path.split(output)
    return os.path.join(d, f".{base}.bpf-build-state")


def _stat_key(path: str) -> Tuple[int, int]:
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size


def _input_unchanged(entry: Sequence) -> bool:
    path, mtime_ns, size, digest = entry
    try:
        if tuple(_stat_key(path)) == (mtime_ns, size):
            return True
        # Touched (a checkout, a copy) but maybe not changed: the content decides.
        return sha256_file(path) == digest
    except OSError:
        return False


def _up_to_date(job: "CompileJob", command: List[str]) -> bool:
    try:
        with open(_state_path(job.output)) as f:
            state = json.load(f)
        if state.get("version") != _STATE_VERSION or state.get("command") != command:
            return False
        if list(_stat_key(job.output)) != state["output"]:
            return False
        if job.depfile and not os.path.exists(job.depfile):
            return False
        return all(_input_unchanged(e) for e in state["inputs"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _save_state(job: "CompileJob", command: List[str], inputs: List[str]) -> None:
    entries = []
    for p in inputs:
        mtime_ns, size = _stat_key(p)
        entries.append([p, mtime_ns, size, sha256_file(p)])
    state = {"version": _STATE_VERSION, "command": command, "output": list(_stat_key(job.output)),
             "inputs": entries}
    write_atomic(_state_path(job.output), json.dumps(state, indent=0))


def _remove(*paths: Optional[str]) -> None:
    for p in paths:
        if p:
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass


# --------------------------------------------------------------------------------------------
# Compiling


@dataclass(frozen=True)
class CompileOptions:
    """What applies to every source of one compile run."""

    target: str = "native"         # any name resolve_target takes
    cflags: Tuple[str, ...] = ()
    include_dirs: Tuple[str, ...] = ()
    # The directory debug info and BTF name as "."; default: the current directory.
    base_dir: Optional[str] = None
    # Where an included but missing vmlinux.h comes from: the BTF to render it from, or a
    # directory holding one. None: nowhere (a cross-arch build must not use this host's kernel).
    vmlinux_btf: Optional[str] = VMLINUX_BTF
    vmlinux_h_dir: Optional[str] = None


@dataclass(frozen=True)
class CompileJob:
    source: str
    output: str
    # A Make/ninja depfile to write for the caller (-MD -MF), naming ``output`` as its target.
    depfile: Optional[str] = None
    # Options of this job when they differ from the run's (objects of a project each have theirs).
    options: Optional[CompileOptions] = None


@dataclass
class CompileResult:
    compiled: List[CompileJob]
    up_to_date: List[CompileJob]


def compile_command(job: CompileJob, options: CompileOptions, clang: Clang) -> List[str]:
    """The clang command line for a job, without the output and depfile arguments (those name
    temporary files); the same job always gives the same list, which is what incremental
    builds compare."""
    argv = [clang.path] + default_cflags(options.target, options.base_dir or os.getcwd())
    argv += [f"-I{d}" for d in options.include_dirs]
    if needs_generated_vmlinux_h(job.source, options.include_dirs, options.cflags):
        if options.vmlinux_h_dir:
            argv += ["-idirafter", options.vmlinux_h_dir]
        elif options.vmlinux_btf:
            vmlinux_dir = generated_vmlinux_h_dir(options.vmlinux_btf)
            # The cache lives in $HOME; debug info must not say so.
            argv += ["-idirafter", vmlinux_dir, f"-ffile-prefix-map={vmlinux_dir}=vmlinux"]
        else:
            raise CompileError(job.source, f"includes vmlinux.h, and for target {options.target} none may come "
                                           "from this machine's kernel: give one (vmlinux-h) or the "
                                           "target kernel's BTF (vmlinux-btf)")
    argv += list(options.cflags)
    argv += ["-c", job.source]
    return argv


class _Printer:
    """Diagnostics of parallel compiles, each compile's block printed whole."""

    def __init__(self, stream):
        self.stream = stream
        self.lock = threading.Lock()

    def write(self, text: str) -> None:
        if text:
            with self.lock:
                self.stream.write(text)
                self.stream.flush()


def _run_one(job: CompileJob, command: List[str], printer: _Printer) -> None:
    out_dir = os.path.dirname(os.path.abspath(job.output))
    os.makedirs(out_dir, exist_ok=True)
    # Created here, exclusively, under unpredictable names: clang then writes files we own, never
    # a path someone else placed (a symlink) beside the output.
    tmp_out = _private_temp(out_dir, job.output, ".tmp")
    try:
        tmp_dep = _private_temp(out_dir, job.output, ".tmp.d")
    except CompileError:
        _remove(tmp_out)
        raise
    argv = command + ["-o", tmp_out, "-MD", "-MF", tmp_dep, "-MQ", job.output]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True)
    except OSError as e:
        raise CompileError(argv[0], f"cannot run: {e.strerror or e}") from None
    printer.write(proc.stdout + proc.stderr)  # exactly as the compiler printed them
    if proc.returncode != 0:
        _remove(tmp_out, tmp_dep, job.output, _state_path(job.output), job.depfile)
        reason = f"compile failed (clang exited with status {proc.returncode})"
        if re.search(r"'bpf/bpf_\w+\.h' file not found", proc.stderr):
            reason += "; libbpf's headers are missing: apt-get install libbpf-dev, or set $LIBBPF_INCLUDE_DIR"
        raise CompileError(job.source, reason)
    try:
        with open(tmp_dep) as f:
            inputs = [os.path.abspath(p) for p in parse_depfile(f.read())]
        os.replace(tmp_out, job.output)
        if job.depfile:
            os.replace(tmp_dep, job.depfile)  # as clang wrote it: ninja reads clang's depfiles
        _save_state(job, command, inputs)
    except OSError as e:
        _remove(tmp_out, job.output, _state_path(job.output))
        raise CompileError(job.output, f"cannot write: {e.strerror or e}") from None
    finally:
        _remove(tmp_dep, tmp_out)


def _private_temp(directory: str, output: str, suffix: str) -> str:
    try:
        fd, path = tempfile.mkstemp(prefix=f".{os.path.basename(output)}.", suffix=suffix, dir=directory)
    except OSError as e:
        raise CompileError(output, f"cannot write: {e.strerror or e}") from None
    os.close(fd)
    return path


def compile_all(jobs: Sequence[CompileJob], options: CompileOptions = CompileOptions(), *,
                parallel: Optional[int] = None, force: bool = False, stderr=None,
                on_compile: Optional[Callable[[CompileJob], None]] = None) -> CompileResult:
    """Compile every job whose output is missing or out of date, ``parallel`` at a time.

    The first failure stops the run: compiles not yet started are not started and their old
    outputs removed with the failed job's (and their depfiles), and the CompileError is raised
    once the running compiles end.
    """
    for opts in {job.options or options for job in jobs}:
        resolve_target(opts.target)  # an unknown target fails before any compile starts
    outputs = [os.path.abspath(j.output) for j in jobs]
    if len(set(outputs)) != len(outputs):
        dup = next(o for o in outputs if outputs.count(o) > 1)
        raise CompileError(dup, "two sources would compile to this same output")
    for job in jobs:
        if not os.path.isfile(job.source):
            raise CompileError(job.source, "no such source file")
    clang = find_clang()
    commands = [compile_command(j, j.options or options, clang) for j in jobs]
    fresh = [not force and _up_to_date(j, c) for j, c in zip(jobs, commands)]
    stale = [(j, c) for j, c, ok in zip(jobs, commands, fresh) if not ok]
    result = CompileResult(compiled=[j for j, _ in stale],
                           up_to_date=[j for j, ok in zip(jobs, fresh) if ok])
    if not stale:
        return result
    printer = _Printer(stderr or sys.stderr)
    workers = max(1, min(parallel or os.cpu_count() or 1, len(stale)))

    stop = threading.Event()

    def run(job: CompileJob, command: List[str]) -> bool:
        """False when a failure elsewhere stopped the run before this job began."""
        if stop.is_set():
            return False
        if on_compile:
            on_compile(job)
        try:
            _run_one(job, command, printer)
        except BaseException:
            stop.set()
            raise
        return True

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run, j, c) for j, c in stale]
        wait(futures)
    failed = [e for e in (f.exception() for f in futures) if e is not None]
    if failed:
        # Out of date and not rebuilt: an old output would pass for a current one.
        for (job, _), f in zip(stale, futures):
            if f.exception() is None and not f.result():
                _remove(job.output, _state_path(job.output), job.depfile)
        raise failed[0]
    return result


def compile_bpf(source: str, output: str, *, target: str = "native", cflags: Sequence[str] = (),
                include_dirs: Sequence[str] = (), depfile: Optional[str] = None) -> bool:
    """Compile one BPF C source into an object; the output appears only if clang succeeds.

    Returns True if clang ran, False if the output was already up to date."""
    options = CompileOptions(target=target, cflags=tuple(cflags), include_dirs=tuple(include_dirs))
    result = compile_all([CompileJob(source, output, depfile)], options, parallel=1)
    return bool(result.compiled)


def output_for(source: str, out_dir: str) -> str:
    """x.bpf.c -> <out_dir>/x.bpf.o (what `--out-dir` produces)."""
    base = os.path.basename(source)
    stem = base[:-2] if base.endswith(".c") else base
    return os.path.join(out_dir, stem + ".o")


__all__ = ["Clang", "CompileJob", "CompileOptions", "CompileResult", "compile_all", "compile_bpf",
           "compile_command", "default_cflags", "find_clang", "output_for", "parse_depfile"]
