"""What the running kernel can do, asked of the kernel itself the way libbpf's kernel_supports()
does: load a tiny program or a tiny BTF and see whether it is accepted. Version numbers are not
used: distributions backport BPF features, and a kernel can be built without one.

Each probe runs once per process; its kernel objects are closed at once.

Attach probes (perf event and XDP links) decide between a bpf link and the older API that kernels
before them offer. ``BPF_BUILD_ATTACH_LEGACY`` forces the older API where the kernel has both, so
that it can be tested on any kernel: a comma-separated list of ``perf_event``, ``xdp``, or
``all``. It is read at every attach, not cached."""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import struct
import sys

from . import syscall
from .errors import BpfRuntimeError, BpfSyscallError
from .uapi import BPF_F_SLEEPABLE, AttachType, Cmd, Helper, ProgType, XdpFlag

_BTF_MAGIC, _BTF_VERSION, _BTF_HEADER_SIZE = 0xEB9F, 1, 24


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    regs = (src << 4 | dst) if sys.byteorder == "little" else (dst << 4 | src)
    return struct.pack("=BBhi", code, regs, off, imm)


_RETURN_0 = _insn(0xB7) + _insn(0x95)  # r0 = 0; exit


def _program_loads(prog_type: int, insns: bytes) -> bool:
    from .program import Program  # program imports attach, which asks us for features
    try:
        Program.load(prog_type, insns, name="feature_probe").close()
        return True
    except BpfRuntimeError:
        return False


@functools.lru_cache(maxsize=None)
def has_bpf_cookie() -> bool:
    """bpf_get_attach_cookie() for tracing programs (Linux 5.15): libbpf's LINUX_HAS_BPF_COOKIE."""
    return _program_loads(ProgType.TRACEPOINT, _insn(0x85, imm=Helper.GET_ATTACH_COOKIE) + _RETURN_0)


_HELPER_KTIME_GET_COARSE_NS = 160  # not in uapi.Helper: only this probe uses it


@functools.lru_cache(maxsize=None)
def has_memcg_accounting() -> bool:
    """BPF maps and programs charged to the memory cgroup (Linux 5.11) instead of RLIMIT_MEMLOCK.
    libbpf's probe: bpf_ktime_get_coarse_ns, a helper for every program type, came in the same
    release."""
    return _program_loads(ProgType.SOCKET_FILTER, _insn(0x85, imm=_HELPER_KTIME_GET_COARSE_NS) + _RETURN_0)


def lift_memlock_limit() -> None:
    """Before 5.11 every map and program counts against RLIMIT_MEMLOCK, 64 KiB by default in
    many places (a 10240-entry hash map alone is refused with EPERM). As libbpf does, raise it
    to unlimited there; a process not allowed to (no CAP_SYS_RESOURCE) keeps its limit, and the
    kernel's EPERM then says so."""
    if has_memcg_accounting():
        return
    import resource
    try:
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


def _btf_loads(types: bytes, strings: bytes) -> bool:
    header = struct.pack("=HBBIIIII", _BTF_MAGIC, _BTF_VERSION, 0, _BTF_HEADER_SIZE,
                         0, len(types), len(types), len(strings))
    raw = ctypes.create_string_buffer(header + types + strings)
    attr = syscall.BtfLoadAttr(btf=ctypes.addressof(raw), btf_size=len(raw.raw) - 1)
    try:
        fd = syscall.bpf(Cmd.BTF_LOAD, attr, "probe BTF")
    except BpfRuntimeError:
        return False
    os.close(fd)
    return True


def _type(name_off: int, kind: int, vlen: int, size_or_type: int, kflag: int = 0) -> bytes:
    return struct.pack("=III", name_off, kind << 24 | kflag << 31 | vlen, size_or_type)


# The BTF kinds libbpf sanitizes for older kernels, each with the smallest BTF using it:
# [1] int (4 bytes, signed) named "a", then the probed type. Strings: "\0a\0".
_INT = _type(1, 1, 0, 4) + struct.pack("=I", 1 << 24 | 32)
_KIND_PROBES = {
    "FLOAT": _type(1, 16, 0, 4),                                     # 5.13
    "DECL_TAG": _type(1, 14, 0, 1) + struct.pack("=I", 0)            # a VAR to tag (5.16)
                + _type(1, 17, 0, 2) + struct.pack("=i", -1),
    "TYPE_TAG": _type(1, 18, 0, 1) + _type(0, 2, 0, 2),               # tag + pointer to it (5.17)
    "ENUM64": _type(1, 19, 1, 8) + struct.pack("=III", 1, 1, 0),      # 6.0
}


@functools.lru_cache(maxsize=None)
def has_btf_kind(kind: str) -> bool:
    """Whether the kernel's BTF loader accepts the kind (FLOAT, DECL_TAG, TYPE_TAG, ENUM64)."""
    return _btf_loads(_INT + _KIND_PROBES[kind], b"\0a\0")


@functools.lru_cache(maxsize=None)
def has_loader_programs() -> bool:
    """BPF_PROG_TYPE_SYSCALL programs calling bpf_sys_bpf (Linux 5.14): what a loader program is."""
    from .program import Program
    call_sys_bpf = _insn(0x85, imm=Helper.SYS_BPF)
    # bpf_sys_bpf(0, fp - 8, 8) over 8 zeroed stack bytes: the verifier must accept the call
    # (it is never run)
    insns = (_insn(0x7A, dst=10, off=-8)                              # *(u64 *)(r10 - 8) = 0
             + _insn(0xB7, dst=1) + _insn(0xBF, dst=2, src=10)        # r1 = 0; r2 = r10
             + _insn(0x07, dst=2, imm=-8) + _insn(0xB7, dst=3, imm=8)  # r2 += -8; r3 = 8
             + call_sys_bpf + _RETURN_0)
    try:
        Program.load(ProgType.SYSCALL, insns, name="feature_probe", flags=BPF_F_SLEEPABLE).close()
        return True
    except BpfRuntimeError:
        return False



@functools.lru_cache(maxsize=None)
def has_kernel_core() -> bool:
    """CO-RE records applied by the kernel in BPF_PROG_LOAD (Linux 5.17): what a loader program
    hands the kernel instead of relocating. Probed with one TYPE_ID_LOCAL record on ``r0 = 0``;
    an older kernel refuses the attr's unknown trailing fields (E2BIG)."""
    # BTF: [1] int "a", [2] int (void), [3] static func "a" of [2]; strings "\0a\0" + "0\0"
    types = _INT + _type(0, 13, 0, 1) + _type(1, 12, 0, 2)
    strings = b"\0a\0" + b"0\0"
    header = struct.pack("=HBBIIIII", _BTF_MAGIC, _BTF_VERSION, 0, _BTF_HEADER_SIZE,
                         0, len(types), len(types), len(strings))
    raw = ctypes.create_string_buffer(header + types + strings)
    try:
        btf_fd = syscall.bpf(Cmd.BTF_LOAD, syscall.BtfLoadAttr(btf=ctypes.addressof(raw), btf_size=len(raw.raw) - 1),
                             "probe BTF")
    except BpfRuntimeError:
        return False
    try:
        code = ctypes.create_string_buffer(_RETURN_0, len(_RETURN_0))
        func_info = ctypes.create_string_buffer(struct.pack("=II", 0, 3), 8)
        relo = ctypes.create_string_buffer(struct.pack("=IIII", 0, 1, 3, 6), 16)  # TYPE_ID_LOCAL
        lic = ctypes.create_string_buffer(b"GPL")
        attr = syscall.ProgLoadAttr(
            prog_type=int(ProgType.SOCKET_FILTER), insn_cnt=2, insns=ctypes.addressof(code),
            license=ctypes.addressof(lic), prog_name=b"feature_probe", prog_btf_fd=btf_fd,
            func_info_rec_size=8, func_info=ctypes.addressof(func_info), func_info_cnt=1,
            core_relo_cnt=1, core_relos=ctypes.addressof(relo), core_relo_rec_size=16)
        try:
            os.close(syscall.prog_load(attr, "probe in-kernel CO-RE"))
            return True
        except BpfRuntimeError:
            return False
    finally:
        os.close(btf_fd)


# -- attach: bpf links or the API before them -----------------------------------------------------

LEGACY_ATTACH_ENV = "BPF_BUILD_ATTACH_LEGACY"
LEGACY_ATTACH_KINDS = ("perf_event", "xdp")
_LOOPBACK_IFINDEX = 1  # every network namespace's lo


def legacy_attach_forced(kind: str) -> bool:
    """Whether ``$BPF_BUILD_ATTACH_LEGACY`` asks for the pre-link API of ``kind`` (see above)."""
    if kind not in LEGACY_ATTACH_KINDS:
        raise ValueError(f"unknown attach kind {kind!r}; one of {', '.join(LEGACY_ATTACH_KINDS)}")
    asked = {word.strip() for word in os.environ.get(LEGACY_ATTACH_ENV, "").split(",")}
    return kind in asked or "all" in asked


def _link_create_errno(prog_type: int, code: bytes, target: int, attach_type: int, flags: int = 0) -> int:
    """The errno BPF_LINK_CREATE answers for a trivial program of ``prog_type`` (0: a link was made,
    and is closed at once). The probes below aim at targets that fail *after* the kernel has
    accepted the attach type, so the errno tells an unknown attach type (EINVAL) from a known one."""
    from .program import Program
    with Program.load(prog_type, code, name="feature_probe") as prog:
        attr = syscall.LinkCreateAttr(prog_fd=prog.fileno(), target=target & 0xFFFFFFFF,
                                      attach_type=int(attach_type), flags=flags)
        try:
            os.close(syscall.link_create(attr, "probe link_create"))
        except BpfSyscallError as e:
            return e.errno or 0
        return 0


def _probe(prog_type: int, code: bytes, target: int, attach_type: int, supported: int, flags: int = 0) -> bool:
    try:
        return _link_create_errno(prog_type, code, target, attach_type, flags) in (0, supported)
    except BpfRuntimeError:
        return False  # the probe program itself was refused: treat the link kind as missing


@functools.lru_cache(maxsize=None)
def has_perf_event_links() -> bool:
    """BPF_LINK_CREATE on perf events (tracepoint, kprobe, uprobe; Linux 5.15), libbpf's
    probe_perf_link: a kernel that knows BPF_PERF_EVENT looks the event fd -1 up and answers
    EBADF; an older one refuses the attach type (EINVAL)."""
    return _probe(ProgType.TRACEPOINT, _RETURN_0, -1, AttachType.PERF_EVENT, errno.EBADF)


@functools.lru_cache(maxsize=None)
def has_xdp_links() -> bool:
    """XDP through bpf links (Linux 5.9). Probed on lo in hardware-offload mode, which lo has
    no driver hook for: a kernel with XDP links answers EOPNOTSUPP before anything is attached,
    an older one refuses the attach type (EINVAL)."""
    xdp_pass = _insn(0xB7, imm=2) + _insn(0x95)
    return _probe(ProgType.XDP, xdp_pass, _LOOPBACK_IFINDEX, AttachType.XDP, errno.EOPNOTSUPP,
                  flags=XdpFlag.HW_MODE)


@functools.lru_cache(maxsize=None)
def has_tcx_links() -> bool:
    """tc ingress/egress through tcx links (Linux 6.6); without them, attach.tc(). Probed on interface index 0, which no
    device has: a kernel with tcx answers ENODEV, an older one refuses the attach type (EINVAL)."""
    return _probe(ProgType.SCHED_CLS, _RETURN_0, 0, AttachType.TCX_INGRESS, errno.ENODEV)
