"""vmlinux.h on demand: when a BPF source includes vmlinux.h and none is in its include path,
render one from the kernel's BTF (or a BTF file the project names) and cache it.

Of bpf_build.project, only this module meets the BTF renderer (bpf_build.btf.c), through its
public render_header and HEADER_REVISION, and imports it only when a header is keyed or rendered.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import threading
from typing import List, Optional, Sequence

from ..errors import CompileError
from ..fileio import sha256_file, write_atomic

# The running kernel's BTF: the default source of vmlinux.h and of a project's "running-kernel".
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"

_INCLUDE_RE = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', re.M)


def _quoted_include_dirs(include_dirs: Sequence[str], cflags: Sequence[str]) -> List[str]:
    dirs = list(include_dirs)
    it = iter(cflags)
    for flag in it:
        if flag in ("-I", "-iquote", "-isystem", "-idirafter"):
            dirs.append(next(it, ""))
        elif flag.startswith("-I"):
            dirs.append(flag[2:])
    return [d for d in dirs if d]


def _resolve_include(name: str, from_dir: str, dirs: Sequence[str]) -> Optional[str]:
    for d in [from_dir, *dirs]:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return p
    return None


def needs_generated_vmlinux_h(source: str, include_dirs: Sequence[str] = (),
                              cflags: Sequence[str] = ()) -> bool:
    """True when the source (or a header of the project it includes) includes vmlinux.h and no
    vmlinux.h is found next to it or in the include directories given."""
    dirs = _quoted_include_dirs(include_dirs, cflags)
    pending, seen = [os.path.abspath(source)], set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError:
            continue
        here = os.path.dirname(path)
        for m in _INCLUDE_RE.finditer(text):
            name = m.group(2).decode(errors="replace")
            found = _resolve_include(name, here, dirs)
            if os.path.basename(name) == "vmlinux.h":
                if found is None:
                    return True
            elif found is not None:
                # Only the project's own headers are scanned; system headers never include it.
                pending.append(os.path.abspath(found))
    return False


def cache_dir() -> str:
    explicit = os.environ.get("BPF_BUILD_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bpf-build")


_vmlinux_lock = threading.Lock()
_CACHE_KEY_FILE = "key.json"


def _private_dir(path: str, trusted_from: str) -> str:
    """``path`` and its missing parents created 0700. Every directory from ``trusted_from`` down
    to ``path`` must be ours and writable by nobody else (unless sticky, as /tmp), or anyone
    could plant or swap the header every later compile includes."""
    missing = []
    d = os.path.abspath(path)
    while not os.path.isdir(d):
        missing.append(d)
        d = os.path.dirname(d)
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise CompileError(d, f"cannot create the vmlinux.h cache: {e.strerror or e}") from None
    top = os.path.abspath(trusted_from)
    d = os.path.abspath(path)
    while True:
        st = os.lstat(d)
        if st.st_uid != os.geteuid() or (st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
            raise CompileError(d, "the vmlinux.h cache directory is writable by other users (or not owned "
                                  "by this one); refusing to trust it: fix its permissions or set "
                                  "$BPF_BUILD_CACHE_DIR")
        if d == top or os.path.dirname(d) == d:
            return path
        d = os.path.dirname(d)


def _cached_header_valid(directory: str, key: dict) -> bool:
    """The cached vmlinux.h is the one its key says: same BTF identity, content hash matching."""
    try:
        with open(os.path.join(directory, _CACHE_KEY_FILE)) as f:
            stored = json.load(f)
        if not isinstance(stored, dict) or {k: stored.get(k) for k in key} != key:
            return False
        return sha256_file(os.path.join(directory, "vmlinux.h")) == stored.get("sha256")
    except (OSError, ValueError):
        return False


def generated_vmlinux_h_dir(btf_path: str = VMLINUX_BTF) -> str:
    """A directory holding vmlinux.h for this BTF, generated once and cached.

    The cache key is the BTF file's identity (path, size, mtime), the kernel release and the
    bpf-build version, not the BTF's content: hashing 6 MB on every compile would cost more than a
    no-op rebuild may. The header's own hash, stored beside it with the key, is checked on every
    use (a truncated or edited header is rendered again)."""
    try:
        st = os.stat(btf_path)
    except OSError as e:
        raise CompileError(btf_path, f"cannot read kernel BTF to generate vmlinux.h: {e.strerror or e}; "
                                     f"provide a vmlinux.h in an include directory instead") from None
    from ..btf.c import HEADER_REVISION
    from ..version import __version__  # a newer renderer must not reuse an older header
    key = {"btf": os.path.abspath(btf_path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
           "kernel": os.uname().release, "bpf_build": __version__, "header": HEADER_REVISION}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    directory = os.path.join(cache_dir(), "vmlinux", digest)
    header = os.path.join(directory, "vmlinux.h")
    with _vmlinux_lock:
        _private_dir(directory, trusted_from=cache_dir())
        if not _cached_header_valid(directory, key):
            try:
                with open(btf_path, "rb") as f:
                    btf_bytes = f.read()
            except OSError as e:
                raise CompileError(btf_path, f"cannot read kernel BTF: {e.strerror or e}") from None
            text = _render_vmlinux_h(btf_bytes, btf_path).encode()
            write_atomic(header, text)
            stored = dict(key, sha256=hashlib.sha256(text).hexdigest())
            write_atomic(os.path.join(directory, _CACHE_KEY_FILE), json.dumps(stored, sort_keys=True))
    return directory


def _render_vmlinux_h(btf_bytes: bytes, btf_path: str) -> str:
    try:
        from ..btf.c import render_header
    except ImportError:
        raise CompileError(btf_path, "vmlinux.h is included but none was found in the include path, "
                                     "and this bpf-build cannot generate one; pass -I <dir with "
                                     "vmlinux.h>") from None
    from ..model.btf import read_words, validate
    types = read_words(btf_bytes, btf_path, names_pending=True)  # as bpf-build vmlinux: words, no records
    validate(types)
    return render_header(types, path=btf_path)
