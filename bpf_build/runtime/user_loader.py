"""Running a loader program from user space, for kernels that cannot run it themselves.

A loader program (see loader.py) is the whole load of an object written down once: its
instructions issue the bpf() calls and its blob holds every attr they pass. Kernels before 5.14
cannot run it (no BPF_PROG_TYPE_SYSCALL, no bpf_sys_bpf), and before 5.17 they cannot apply the
CO-RE records it hands to BPF_PROG_LOAD. Here the *same* instructions run in a small interpreter
over the same blob and context: each helper call becomes the system call or look-up it stands
for, so the operations, their order, the error step numbers and the clean-up on failure are the
loader's own, with nothing restated. Where this kernel needs it, three operations are adjusted on
the way into the kernel:

* BTF_LOAD: the BTF is sanitized for the kinds this kernel lacks (btf_sanitize.py);
* PROG_LOAD: CO-RE records are applied here (core_relo.py) against /sys/kernel/btf/vmlinux (and
  modules' BTF where vmlinux has no candidate, module_btf.py) and removed from the attr; map
  references through ``fd_array`` (Linux 5.14+) become plain map fds, as libbpf loads them;
* the helpers: bpf_btf_find_by_name_kind reads the kernel's BTF, bpf_kallsyms_lookup_name reads
  /proc/kallsyms, bpf_sys_close closes, bpf_copy_from_user copies.

Memory the loader touches is confined to its blob, its context and its stack; anything else is an
error, never a stray write.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import struct
import sys
from typing import Any, Callable, Dict, List, Optional, Set

from . import syscall
from .btf_sanitize import sanitize_btf
from .btf_types import BtfTypes, kernel_types
from .uapi import Cmd, Helper, PseudoCall, PseudoLoad
from .core_relo import CoreRelo, relocate
from .module_btf import find_candidates
from .errors import BpfRuntimeError, LoaderError
from .ints import s32
from .loader_contract import BTF_LOAD_ATTR, PROG_LOAD_ATTR
from .loader_interp import INSN, LoaderInterpreter


@functools.lru_cache(maxsize=1)
def _kallsyms() -> Dict[str, int]:
    found: Dict[str, int] = {}
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                found.setdefault(parts[2], int(parts[0], 16))
    return found


def _find_btf_id(name: str, kind: int) -> Optional[int]:
    from .kernel_btf import find_kernel_btf_id
    return find_kernel_btf_id(name, kind)


class UserSpaceLoader(LoaderInterpreter):
    """One run of a loader program's instructions over a fresh copy of its blob, its helper calls
    made here: bpf() (three commands adjusted for this kernel), close, copies and look-ups."""

    def __init__(self, insns: bytes, blob: bytes, ctx: "ctypes.Array[ctypes.c_char]",
                 kernel_btf: Callable[[], BtfTypes] = kernel_types,
                 has_btf_kind: Optional[Callable[[str], bool]] = None):
        super().__init__(insns, blob, ctx)
        self.kernel_btf = kernel_btf
        self.has_btf_kind = has_btf_kind
        self.open_fds: Set[int] = set()     # created and not closed by the loader yet
        self.local_btf: Optional[BtfTypes] = None
        self.error: Optional[BpfRuntimeError] = None  # why an adjusted operation was refused
        self.keep_alive: List["ctypes.Array[ctypes.c_char]"] = []

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> int:
        """Interpret the loader; returns its r0 (as s32). If the interpretation itself breaks
        down, every fd created so far is closed before the error propagates."""
        try:
            ret = self._interpret()
        except BaseException:
            self.close_open_fds()
            raise
        return s32(ret)

    def close_open_fds(self) -> None:
        for fd in sorted(self.open_fds):
            try:
                os.close(fd)
            except OSError:
                pass
        self.open_fds.clear()

    # -- helpers -------------------------------------------------------------------------------
    def _helper(self, helper: int, r1: int, r2: int, r3: int, r4: int, r5: int) -> int:
        if helper == Helper.SYS_BPF:
            return self._sys_bpf(r1 & 0xFFFFFFFF, r2, r3 & 0xFFFFFFFF)
        if helper == Helper.SYS_CLOSE:
            fd = s32(r1)
            try:
                os.close(fd)
            except OSError as e:
                return -(e.errno or errno.EBADF)
            self.open_fds.discard(fd)
            return 0
        if helper == Helper.COPY_FROM_USER:
            size = r2 & 0xFFFFFFFF
            self._where(r1, size)  # the destination must be the loader's own memory
            ctypes.memmove(r1, r3, size)
            return 0
        if helper == Helper.BTF_FIND_BY_NAME_KIND:
            name = self._c_string(r1, r2 & 0xFFFFFFFF)
            found = _find_btf_id(name, r3 & 0xFFFFFFFF)
            if found is not None and found >> 32:
                self.open_fds.add(found >> 32)  # a module's BTF fd: the loader closes it after use
            return found if found is not None else -errno.ENOENT
        if helper == Helper.KALLSYMS_LOOKUP_NAME:
            name = self._c_string(r1, r2 & 0xFFFFFFFF)
            addr = _kallsyms().get(name)
            if addr is None:
                return -errno.ENOENT
            self.store(r4, "Q", addr)
            return 0
        return super()._helper(helper, r1, r2, r3, r4, r5)

    def _sys_bpf(self, cmd: int, attr_addr: int, size: int) -> int:
        attr = bytearray(self.read_bytes(attr_addr, size))
        try:
            if cmd == Cmd.BTF_LOAD:
                self._adjust_btf_load(attr)
            elif cmd == Cmd.PROG_LOAD:
                self._adjust_prog_load(attr)
        except BpfRuntimeError as e:
            self.error = e
            return -errno.EINVAL
        buf = ctypes.create_string_buffer(bytes(attr), len(attr))
        retries = 5 if cmd in (Cmd.PROG_LOAD, Cmd.BTF_LOAD) else 1
        while True:
            ret, err = syscall.syscall(syscall.NR_BPF, ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))
            if ret >= 0:
                break
            retries -= 1
            if err == errno.EINTR or (err == errno.EAGAIN and retries > 0):
                continue
            return -err
        # What the kernel writes back into an attr (log_true_size) no loader reads: the blob
        # keeps the loader's own attr, not the adjusted copy.
        if cmd in (Cmd.MAP_CREATE, Cmd.PROG_LOAD, Cmd.BTF_LOAD):
            self.open_fds.add(ret)
        return ret

    def _keep(self, data: bytes) -> int:
        buf = ctypes.create_string_buffer(data, max(len(data), 1))
        self.keep_alive.append(buf)
        return ctypes.addressof(buf)

    def _adjust_btf_load(self, attr: bytearray) -> None:
        raw = ctypes.string_at(BTF_LOAD_ATTR.read(attr, 0, "btf"), BTF_LOAD_ATTR.read(attr, 0, "btf_size"))
        self.local_btf = BtfTypes(raw, "the object's BTF")
        clean = sanitize_btf(raw, self.has_btf_kind)
        BTF_LOAD_ATTR.write(attr, 0, "btf", self._keep(clean))
        BTF_LOAD_ATTR.write(attr, 0, "btf_size", len(clean))

    def _adjust_prog_load(self, attr: bytearray) -> None:
        name_at = PROG_LOAD_ATTR.offset("prog_name")
        name = bytes(attr[name_at:name_at + 16]).split(b"\0", 1)[0].decode("utf-8", "replace")
        insn_cnt = PROG_LOAD_ATTR.read(attr, 0, "insn_cnt")
        insns = bytearray(ctypes.string_at(PROG_LOAD_ATTR.read(attr, 0, "insns"), 8 * insn_cnt))
        relo_cnt = PROG_LOAD_ATTR.read(attr, 0, "core_relo_cnt")
        if relo_cnt:
            rec_size = PROG_LOAD_ATTR.read(attr, 0, "core_relo_rec_size")
            relos_ptr = PROG_LOAD_ATTR.read(attr, 0, "core_relos")
            if rec_size < 16:
                raise LoaderError(f"program '{name}': CO-RE records of {rec_size} bytes")
            raw = ctypes.string_at(relos_ptr, rec_size * relo_cnt)
            relos = [CoreRelo(*struct.unpack_from("=IIII", raw, rec_size * n)) for n in range(relo_cnt)]
            if self.local_btf is None:
                raise LoaderError(f"program '{name}' has CO-RE records but the object loaded no BTF")
            relocate(insns, relos, self.local_btf, self.kernel_btf(), f"program '{name}'",
                     modules=find_candidates if self.kernel_btf is kernel_types else None)
            for field in ("core_relo_cnt", "core_relos", "core_relo_rec_size"):
                PROG_LOAD_ATTR.write(attr, 0, field, 0)
        fd_array = PROG_LOAD_ATTR.read(attr, 0, "fd_array")
        if fd_array and not self._resolve_map_indices(insns, fd_array):
            PROG_LOAD_ATTR.write(attr, 0, "fd_array", 0)
        PROG_LOAD_ATTR.write(attr, 0, "insns", self._keep(bytes(insns)))

    def _resolve_map_indices(self, insns: bytearray, fd_array: int) -> bool:
        """Turn fd_array map references into map fds (kernels before 5.14 have no fd_array);
        returns whether the array is still needed (kfuncs in module BTF name their fd by index)."""
        still_needed = False
        little = sys.byteorder == "little"
        for at in range(0, len(insns), 8):
            code, regs, off, imm = INSN.unpack_from(insns, at)
            src = regs >> 4 if little else regs & 0xF
            if code == 0x18 and src in (PseudoLoad.MAP_IDX, PseudoLoad.MAP_IDX_VALUE):
                fd = self.load(fd_array + 4 * imm, "i")
                new_src = PseudoLoad.MAP_FD if src == PseudoLoad.MAP_IDX else PseudoLoad.MAP_VALUE
                regs = (regs & 0x0F) | new_src << 4 if little else (regs & 0xF0) | new_src
                INSN.pack_into(insns, at, code, regs, off, fd)
            elif code == 0x85 and src == PseudoCall.KFUNC_CALL and off:
                still_needed = True
        return still_needed


def run_in_user_space(insns: bytes, blob: bytes, ctx: "ctypes.Array[ctypes.c_char]", **kw: Any) -> int:
    """Run a loader program's operations from user space (see the module docstring); returns its
    r0 as the kernel's test run would (negative: -errno of the failed step, everything it created
    already closed). A step this runner refused itself (CO-RE, BTF sanitizing) raises its own
    error after the loader's clean-up ran."""
    from .features import lift_memlock_limit
    lift_memlock_limit()  # kernels old enough for this path may charge RLIMIT_MEMLOCK
    runner = UserSpaceLoader(insns, blob, ctx, **kw)
    ret = runner.run()
    if ret < 0 and runner.error is not None:
        raise runner.error
    return ret
