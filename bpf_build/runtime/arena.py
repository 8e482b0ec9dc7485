"""BPF arenas (BPF_MAP_TYPE_ARENA, Linux 6.9+) of a skeleton: memory shared by its programs and
this process at the same addresses, mapped here the way libbpf maps them.

The kernel turns a program's arena pointers into this process's addresses, so it must know where
the arena sits in user space before the first program using it is verified: either the map's
``map_extra`` says (the object chose an address) or user space mmapped the map. A loader program
creates the map and loads the programs in one run, with no moment in between to mmap, so the runner
chooses first: ``reserve_arenas`` reserves the address range here (an inaccessible anonymous
mapping, the object's ``map_extra`` if it gave one) and writes it into the map's BPF_MAP_CREATE
attr in the blob; after the run ``ArenaReservation.map`` replaces the reservation with the arena
(MAP_SHARED of the map's fd at exactly that address) and copies the ``__arena`` globals in at
``ARENA_GLOBALS_OFFSET`` (libbpf's placement on kernels that take only small ld_imm64 offsets,
which a loader generated for every kernel must assume). ``ArenaRegion`` is the result: the raw
memory, and typed views at the addresses the programs store.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import mmap
import os
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple, Type, TypeVar

from .errors import BpfRuntimeError, BpfSyscallError, NotSupportedError
from .fd import Fd
from .loader_contract import MAP_CREATE_ATTR
from .uapi import MapType

if TYPE_CHECKING:
    from .loader import MapSpec

ARENA_GLOBALS_OFFSET = 0
"""Where the ``__arena`` globals (ELF section ``.addr_space.1``) start in the arena."""

_BPF_F_MMAPABLE = 1 << 10
# Linux's numbers (the mmap module has neither PROT_NONE nor the MAP_FIXED family)
_PROT_NONE = 0
_MAP_FIXED = 0x10
_MAP_NORESERVE = 0x4000
_MAP_FIXED_NOREPLACE = 0x100000
_FOUR_GIB = 1 << 32
_MAP_FAILED = ctypes.c_void_p(-1).value

_C = TypeVar("_C")

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.restype = ctypes.c_int
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def _mmap(address: int, size: int, prot: int, flags: int, fd: int, what: str) -> int:
    got = _libc.mmap(address or None, size, prot, flags, fd, 0)
    if got is None or got == _MAP_FAILED:
        raise BpfSyscallError(what, ctypes.get_errno() or errno.ENOMEM)
    return int(got)


def _munmap(address: int, size: int) -> None:
    if size:
        _libc.munmap(address, size)


@functools.lru_cache(maxsize=1)
def arena_create_errno() -> int:
    """0 if this process can create ARENA maps here, else the kernel's errno for a one-page arena:
    EINVAL before Linux 6.9 (no such map type), EPERM where a security policy refuses them."""
    from .syscall import map_create  # a light import, kept here so loading this module costs nothing
    try:
        fd = map_create(MapType.ARENA, 0, 0, 1, name="arena_probe", flags=_BPF_F_MMAPABLE)
    except BpfSyscallError as e:
        return e.errno
    os.close(fd)
    return 0


def require_arenas(map_name: str) -> None:
    """Refuse, saying why, where ARENA maps cannot be created."""
    err = arena_create_errno()
    if err == 0:
        return
    release = os.uname().release
    if err in (errno.EPERM, errno.EACCES):
        why = f"creating one is not permitted here ({errno.errorcode[err]}: a security policy of this kernel refuses it)"
    elif err == errno.EOPNOTSUPP:
        why = f"this kernel's ({release}) BPF JIT does not support arenas"
    else:
        why = f"this kernel ({release}) has none: they need Linux 6.9+"
    raise NotSupportedError(f"map '{map_name}': BPF arena maps (BPF_MAP_TYPE_ARENA): {why}")


class ArenaRegion:
    """An arena mapped into this process: ``size`` bytes at ``address``, the same addresses its
    programs store in arena pointers. Pages the programs have not allocated are allocated (zeroed)
    when touched here, unless the map has BPF_F_SEGV_ON_FAULT.

    ``memory`` is a writable memoryview of the whole arena; ``view(ctype, address)`` a ctypes
    object at an arena address (a node a program linked, say). Both are valid until ``close()``
    (the skeleton's close), which unmaps the arena: keep no views past it."""

    def __init__(self, name: str, address: int, size: int):
        self.name, self.address, self.size = name, address, size
        self._memory: Optional[memoryview] = memoryview((ctypes.c_ubyte * size).from_address(address)).cast("B")

    @property
    def memory(self) -> memoryview:
        if self._memory is None:
            raise BpfRuntimeError(f"arena '{self.name}' is unmapped (its skeleton was closed)")
        return self._memory

    def contains(self, address: int, size: int = 1) -> bool:
        return self.address <= address and address + size <= self.address + self.size

    def view(self, ctype: Type[_C], address: int) -> _C:
        """The ctypes object of type ``ctype`` at ``address`` in the arena."""
        if self._memory is None:
            raise BpfRuntimeError(f"arena '{self.name}' is unmapped (its skeleton was closed)")
        size = ctypes.sizeof(ctype)  # type: ignore[arg-type]
        if not self.contains(address, size):
            raise ValueError(f"arena '{self.name}': {size} bytes at {address:#x} are outside the arena "
                             f"({self.address:#x}..{self.address + self.size:#x})")
        return ctype.from_address(address)  # type: ignore[attr-defined, no-any-return]

    def close(self) -> None:
        if self._memory is None:
            return
        try:
            self._memory.release()
        except BufferError:
            pass  # a view made from it still exists; the mapping goes anyway, as the skeleton's close says
        self._memory = None
        _munmap(self.address, self.size)

    def __repr__(self) -> str:
        state = "unmapped" if self._memory is None else f"at {self.address:#x}"
        return f"<ArenaRegion {self.name!r} {self.size} bytes {state}>"


class ArenaReservation:
    """The address range held for one arena map until the loader has created it."""

    def __init__(self, index: int, name: str, address: int, size: int):
        self.index, self.name, self.address, self.size = index, name, address, size

    def map(self, fd: int, globals_data: bytes) -> ArenaRegion:
        """Put the arena (``fd``) where the reservation was and copy the globals in."""
        if ARENA_GLOBALS_OFFSET + len(globals_data) > self.size:
            raise BpfRuntimeError(f"map '{self.name}': {self.size} bytes of arena cannot hold its "
                                  f"{len(globals_data)} bytes of __arena globals")
        prot = mmap.PROT_READ | mmap.PROT_WRITE
        _mmap(self.address, self.size, prot, mmap.MAP_SHARED | _MAP_FIXED, fd, f"mmap arena '{self.name}'")
        region = ArenaRegion(self.name, self.address, self.size)
        self.size = 0  # the reservation is gone: the arena replaced it
        try:
            region.memory[ARENA_GLOBALS_OFFSET:ARENA_GLOBALS_OFFSET + len(globals_data)] = globals_data
        except BaseException:
            region.close()
            raise
        return region

    def release(self) -> None:
        _munmap(self.address, self.size)
        self.size = 0


def _reserve(name: str, address: int, size: int) -> int:
    """An inaccessible range of ``size`` bytes that does not cross a 4 GiB boundary (the kernel
    refuses such an arena), at ``address`` if given."""
    prot, flags = _PROT_NONE, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE
    what = f"reserve the address range of arena '{name}'"
    if address:
        got = _mmap(address, size, prot, flags | _MAP_FIXED_NOREPLACE, -1, f"{what} at {address:#x} (its map_extra)")
        if got != address:  # kernels before 4.17 take MAP_FIXED_NOREPLACE as a hint
            _munmap(got, size)
            raise BpfSyscallError(f"{what} at {address:#x} (its map_extra)", errno.EEXIST)
        return got
    spare = 2 * size  # room to move the start past a 4 GiB boundary
    got = _mmap(0, spare, prot, flags, -1, what)
    start = got
    if start // _FOUR_GIB != (start + size - 1) // _FOUR_GIB:
        start = (start + size - 1) // _FOUR_GIB * _FOUR_GIB
    _munmap(got, start - got)
    _munmap(start + size, got + spare - start - size)
    return start


def reserve_arenas(maps: Sequence[MapSpec], blob: bytes,
                   max_entries: Dict[int, int]) -> Tuple[bytes, List[ArenaReservation]]:
    """For each ARENA map: refuse a kernel without arenas, reserve its address range and write the
    address into its BPF_MAP_CREATE attr (``map_extra``). Returns the patched blob and the
    reservations (in map order), which the caller maps or releases."""
    arenas = [(i, m) for i, m in enumerate(maps) if m.type == MapType.ARENA]
    if not arenas:
        return blob, []
    data = bytearray(blob)
    out: List[ArenaReservation] = []
    try:
        for i, m in arenas:
            require_arenas(m.name)
            if m.attr_offset < 0:
                raise BpfRuntimeError(f"map '{m.name}': this skeleton does not say where the arena's attr sits "
                                      "in the loader; regenerate it with this bpf-build")
            pages = max_entries.get(i) or MAP_CREATE_ATTR.read(data, m.attr_offset, "max_entries")
            size = pages * mmap.PAGESIZE
            if not 0 < size <= _FOUR_GIB:
                raise BpfRuntimeError(f"map '{m.name}': an arena holds 1 to {_FOUR_GIB // mmap.PAGESIZE} pages, "
                                      f"not {pages}")
            address = _reserve(m.name, MAP_CREATE_ATTR.read(data, m.attr_offset, "map_extra"), size)
            out.append(ArenaReservation(i, m.name, address, size))
            MAP_CREATE_ATTR.write(data, m.attr_offset, "map_extra", address)
    except BaseException:
        release_all(out)
        raise
    return bytes(data), out


def release_all(reservations: Sequence[ArenaReservation]) -> None:
    for r in reservations:
        r.release()


def map_arenas(reservations: Sequence[ArenaReservation], fds: Sequence[Fd],
               globals_data: Optional[bytes]) -> List[ArenaRegion]:
    """Map every reserved arena with its map's fd; the first (the object's only) gets the globals.
    On failure nothing stays mapped or reserved."""
    regions: List[ArenaRegion] = []
    try:
        for r in reservations:
            regions.append(r.map(fds[r.index].fileno(), globals_data or b""))
    except BaseException:
        for region in regions:
            region.close()
        release_all(reservations)
        raise
    return regions
