"""Maps pinned by name (``__uint(pinning, LIBBPF_PIN_BY_NAME)``), as libbpf pins them, around a
loader program's run.

Before the run, each pinned map's path is looked up: ``<root>/<map name>``, root /sys/fs/bpf unless
the caller gives another (libbpf's ``pin_root_path``), or the map's own ``pin_path`` setting. A map
pinned there must match what the loader would create — type, key size, value size, max_entries,
flags, map_extra (libbpf's map_is_reuse_compat) — and its fd then goes into the map's context
descriptor: the loader uses it instead of creating the map, and writes no initial data into it
(the loader contract's reuse_map step). After a successful run every pinned map the loader
created is pinned at its path; if one pin fails, the pins this load made are removed again, so a
load pins all of its maps or none. A pin this load did not make is never removed.
"""

from __future__ import annotations

import errno
import os
import re
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from . import syscall
from .cpus import num_possible_cpus
from .errors import BpfSyscallError, LoaderError, os_errno
from .fd import Fd
from .loader_contract import MAP_CREATE_ATTR, REUSE_STEP_KIND
from .uapi import MapType

DEFAULT_PIN_ROOT = "/sys/fs/bpf"
BPF_F_RDONLY_PROG = 1 << 7  # DEVMAPs report it whether or not they were created with it
_DEVMAPS = (MapType.DEVMAP, MapType.DEVMAP_HASH)
_COMPARED = ("type", "key_size", "value_size", "max_entries", "map_flags", "map_extra")


def pinned_map_indices(steps: Sequence[Tuple[str, int]]) -> Set[int]:
    """The maps a loader lets the runner supply: those with a reuse_map step ((kind, index) pairs)."""
    return {index for kind, index in steps if kind == REUSE_STEP_KIND}


def default_pin_path(name: str, root: Optional[str] = None) -> str:
    return os.path.join(DEFAULT_PIN_ROOT if root is None else root, name)


class PinnedMap(NamedTuple):
    map_index: int
    name: str
    path: str
    reused: Optional[Fd]  # the pinned map found at ``path``; None: the loader creates one


class Pins:
    """The pinned maps of one load: opened before the run, pinned or handed over after it."""

    def __init__(self, maps: List[PinnedMap]):
        self.maps = maps

    def ctx_fds(self) -> Dict[int, int]:
        """Map index -> fd for the context descriptors of the reused maps."""
        return {m.map_index: m.reused.fileno() for m in self.maps if m.reused is not None}

    def close_reused(self) -> None:
        """The run failed: close the fds opened here (the pins stay, they were never ours)."""
        for m in self.maps:
            if m.reused is not None:
                m.reused.close()

    def hand_over(self) -> None:
        """The run succeeded: the context returned each reused fd as the map's, now owned there."""
        for m in self.maps:
            if m.reused is not None and not m.reused.closed:
                m.reused.detach()

    def pin_created(self, map_fds: Sequence[Fd]) -> None:
        """Pin each map the loader created; on a failure, unpin what this call pinned and raise."""
        done: List[str] = []
        for m in self.maps:
            if m.reused is not None:
                continue
            try:
                syscall.obj_pin(map_fds[m.map_index].fileno(), m.path)
            except BpfSyscallError as e:
                for path in reversed(done):
                    _unlink_quietly(path)
                why = "something was pinned there while this load ran; load again to reuse it" \
                    if e.errno == errno.EEXIST else str(e)
                raise LoaderError(f"map '{m.name}': cannot pin at {m.path}: {why}", "", e.errno) from None
            done.append(m.path)


def open_pins(blob: bytes, names: Sequence[str], attr_offsets: Sequence[int], map_types: Sequence[int],
              paths: Mapping[int, Optional[str]], max_entries: Mapping[int, int]) -> Pins:
    """Open the pinned map at each of ``paths`` (map index -> path; None: not pinned this load)
    that exists, checked against the map the loader would create: its BPF_MAP_CREATE attr in the
    (patched) blob at ``attr_offsets``, ``max_entries`` from the context's overrides."""
    found: List[PinnedMap] = []
    owners: Dict[str, str] = {}
    try:
        for i, path in sorted(paths.items()):
            if path is None:
                continue
            other = owners.setdefault(os.path.abspath(path), names[i])
            if other != names[i]:
                raise LoaderError(f"maps '{other}' and '{names[i]}' have the same pin path {path}", "", errno.EINVAL)
            if attr_offsets[i] < 0:
                raise LoaderError(f"map '{names[i]}' is pinned by name, but this loader does not say where its "
                                  "definition sits in the blob; regenerate the skeleton with this bpf-build")
            _require_bpffs(names[i], path)
            fd = _open_pinned(names[i], path)
            if fd is not None:
                found.append(PinnedMap(i, names[i], path, fd))
                _check_compatible(names[i], path, fd, _expected(blob, attr_offsets[i], map_types[i], max_entries.get(i, 0)))
            else:
                found.append(PinnedMap(i, names[i], path, None))
    except BaseException:
        Pins(found).close_reused()
        raise
    return Pins(found)


def _open_pinned(name: str, path: str) -> Optional[Fd]:
    try:
        fd = Fd(syscall.obj_get(path))
    except BpfSyscallError as e:
        if e.errno == errno.ENOENT:
            return None
        raise LoaderError(f"map '{name}': cannot open the map pinned at {path}: {e}", "", e.errno) from None
    if not _is_map(fd):  # a program or link pinned there: its info is not a map's
        fd.close()
        raise LoaderError(f"map '{name}': what is pinned at {path} is not a BPF map", "", errno.EINVAL)
    return fd


def _is_map(fd: Fd) -> bool:
    """A map's fdinfo has a map_type line (programs have prog_type, links link_type)."""
    try:
        with open(f"/proc/self/fdinfo/{fd.fileno()}") as f:
            return any(line.startswith("map_type:") for line in f)
    except OSError:
        return True  # no fdinfo to read: the comparison of the map's info decides


def _expected(blob: bytes, attr_offset: int, map_type: int, max_entries: int) -> Dict[str, int]:
    values = {f: MAP_CREATE_ATTR.read(blob, attr_offset, f)
              for f in ("map_type", "key_size", "value_size", "max_entries", "map_flags", "map_extra")}
    values["type"] = values.pop("map_type")
    if max_entries:
        values["max_entries"] = max_entries
    if not values["max_entries"] and map_type == MapType.PERF_EVENT_ARRAY:
        values["max_entries"] = num_possible_cpus()  # what the runner gives the loader (loader.py)
    return values


def _check_compatible(name: str, path: str, fd: Fd, expected: Mapping[str, int]) -> None:
    info = syscall.MapInfo()
    syscall.obj_info(fd.fileno(), info, f"get info of the map pinned at {path}")
    found = {"type": info.type, "key_size": info.key_size, "value_size": info.value_size,
             "max_entries": info.max_entries, "map_flags": info.map_flags, "map_extra": info.map_extra}
    if expected["type"] in _DEVMAPS:
        found["map_flags"] &= ~BPF_F_RDONLY_PROG
    differ = [f"{f} {found[f]:#x} there, {expected[f]:#x} here" if f == "map_flags"
              else f"{f} {found[f]} there, {expected[f]} here" for f in _COMPARED if found[f] != expected[f]]
    if differ:
        raise LoaderError(f"map '{name}': the map pinned at {path} does not match this object's definition "
                          f"({'; '.join(differ)}): remove the pin or give the map another pin path",
                          "", errno.EINVAL)


def _require_bpffs(name: str, path: str) -> None:
    """libbpf pins only on a BPF file system; say so before anything is created."""
    directory = os.path.dirname(os.path.abspath(path)) or "/"
    if not os.path.isdir(directory):
        raise LoaderError(f"map '{name}': cannot pin at {path}: {directory} is not a directory", "", errno.ENOENT)
    fstype = _fs_type(os.path.realpath(directory))
    if fstype != "bpf":
        raise LoaderError(f"map '{name}': cannot pin at {path}: {directory} is not on a BPF file system "
                          f"(it is on {fstype or 'an unknown file system'}; mount one with "
                          f"'mount -t bpf bpf {directory}')", "", errno.EINVAL)


_ESCAPE = re.compile(r"\\([0-7]{3})")


def _fs_type(directory: str) -> str:
    """The file system type of the mount holding ``directory`` (/proc/self/mountinfo: the last,
    i.e. topmost, of the longest mount points containing it)."""
    best, fstype = -1, ""
    try:
        with open("/proc/self/mountinfo") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise LoaderError(f"cannot read /proc/self/mountinfo to check for a BPF file system: {e}", "",
                          os_errno(e)) from None
    for line in lines:
        fields, _, rest = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or not rest:
            continue
        point = _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), parts[4])
        inside = directory == point or directory.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:
            best, fstype = len(point), rest.split()[0]
    return fstype


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
