"""BPF programs: load from instructions (with the verifier log on failure), run with
BPF_PROG_TEST_RUN, open pinned/by id. Attaching lives in ``attach``; ``Program`` forwards to it so
``prog.attach_xdp(ifindex)`` reads naturally."""

from __future__ import annotations

import ctypes
import errno
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Sequence, TypeVar, Union

from . import attach as _attach
from . import kernel_btf, syscall
from .errors import BpfSyscallError, VerifierError
from .fd import Fd
from .kobject import BpfObject
from .links import BpfLink, IterLink, Link, PerfEventLink, SocketFilterLink
from .uapi import AttachType, Cmd, ProgType, known

if TYPE_CHECKING:
    from .freplace import FreplaceTarget
    from .syscall import CData
    from .usdt import UsdtLink

_AnyLink = TypeVar("_AnyLink", bound=Link)

# Verifier logs for big programs run to megabytes; start at 1 MiB and grow on ENOSPC.
_LOG_START = 1 << 20
_LOG_MAX = 1 << 28

# Program kinds whose load needs the BTF id of a kernel function or tracepoint: (prefix, kind).
_ATTACH_BTF_TARGETS = {
    AttachType.TRACE_RAW_TP: ("btf_trace_", kernel_btf.KIND_TYPEDEF),
    AttachType.TRACE_FENTRY: ("", kernel_btf.KIND_FUNC),
    AttachType.TRACE_FEXIT: ("", kernel_btf.KIND_FUNC),
    AttachType.MODIFY_RETURN: ("", kernel_btf.KIND_FUNC),
    AttachType.LSM_MAC: ("bpf_lsm_", kernel_btf.KIND_FUNC),
    AttachType.LSM_CGROUP: ("bpf_lsm_", kernel_btf.KIND_FUNC),
    AttachType.TRACE_ITER: ("bpf_iter_", kernel_btf.KIND_FUNC),
}

_LOAD_HINTS = {
    errno.EPERM: "the kernel refused this program kind for this process before verifying it (needs "
                 "CAP_BPF/CAP_SYS_ADMIN, CAP_PERFMON for tracing; lockdown also answers EPERM)",
    errno.E2BIG: "program too large",
    errno.EINVAL: "the kernel rejected the attributes (program type, attach type or flags)",
}
_TRAMPOLINE_ATTACH = frozenset({AttachType.TRACE_FENTRY, AttachType.TRACE_FEXIT, AttachType.MODIFY_RETURN,
                                AttachType.LSM_MAC, AttachType.LSM_CGROUP})
_TRAMPOLINE_EPERM = ("this kernel does not permit BPF trampoline programs (fentry/fexit/fmod_ret/lsm): "
                     "refused before verification; use tp_btf or raw_tp, or a kernel that allows them")
_FREPLACE_EPERM = ("this kernel does not permit freplace programs: they run through BPF trampolines, which it "
                   "refuses before verification (as for fentry/fexit); freplace needs a kernel that allows them "
                   "(Linux 5.10+)")


def load_hint(err: int, expected_attach_type: int, prog_type: int = 0) -> str:
    """What an errno from BPF_PROG_LOAD most likely means, for a message (may be empty)."""
    if err == errno.EPERM and prog_type == ProgType.EXT:
        return _FREPLACE_EPERM
    if err == errno.EPERM and expected_attach_type in _TRAMPOLINE_ATTACH:
        return _TRAMPOLINE_EPERM
    return _LOAD_HINTS.get(err, "")


def attach_btf_id_for(attach_type: int, target: str) -> int:
    """The vmlinux BTF id a program of ``attach_type`` aimed at ``target`` is loaded with
    (``sys_enter`` for tp_btf, a function name for fentry, a hook name for lsm)."""
    prefix, kind = _ATTACH_BTF_TARGETS[AttachType(attach_type)]
    return kernel_btf.require_type_id(prefix + target, kind, f"{AttachType(attach_type).name.lower()} target")


class TestRun(NamedTuple):
    retval: int
    duration_ns: int
    data: bytes
    ctx: bytes


class Program(BpfObject):
    kind = "program"
    _fd_by_id = Cmd.PROG_GET_FD_BY_ID
    _open_phase_settings = frozenset({"autoload", "type", "expected_attach_type", "flags", "attach_target",
                                      "log_level"})

    def __init__(self, fd: Union[Fd, int], *, name: Optional[str] = None,
                 expected_attach_type: Optional[int] = None, attach_target: Optional[str] = None,
                 freplace_target: Optional[FreplaceTarget] = None):
        super().__init__(fd)
        try:
            info = syscall.ProgInfo()
            syscall.obj_info(self.fileno(), info, "get program info")
        except BaseException:
            self.close()
            raise
        self.id: int = info.id
        self.type = known(ProgType, info.type)
        self.tag: str = bytes(info.tag).hex()
        self.name: str = name or info.name.decode(errors="replace")
        # The kernel does not report these back; links need them, so whoever loads remembers.
        self.expected_attach_type = expected_attach_type
        self.attach_target = attach_target
        self.freplace_target = freplace_target  # an freplace program's target at load (freplace.py)
        self.autoattach = True  # whether a skeleton's attach() attaches it
        self.link_owner: Optional[Callable[[Link], None]] = None  # receives every link made here
        self.usdt_specs: Any = None  # the object's __bpf_usdt_specs map, for attach_usdt (set by skeletons)
        self._described = True

    @classmethod
    def load(cls, prog_type: int, insns: Union[bytes, bytearray, memoryview], *, name: str = "",
             license: str = "GPL", expected_attach_type: int = 0, attach_target: Optional[str] = None,
             attach_btf_id: int = 0, flags: int = 0, fd_array: Optional[Sequence[int]] = None,
             kern_version: int = 0, log_level: int = 0, ifindex: int = 0) -> "Program":
        """Load raw instructions. ``attach_target`` names the kernel function/tracepoint/hook for
        tp_btf/fentry/fexit/lsm/iter programs (its BTF id is looked up); on refusal the
        VerifierError carries the verifier log."""
        insns = bytes(insns)
        if len(insns) % 8:
            raise ValueError(f"instructions are {len(insns)} bytes, not a multiple of 8")
        if attach_target is not None and not attach_btf_id:
            attach_btf_id = attach_btf_id_for(expected_attach_type, attach_target)
        code = ctypes.create_string_buffer(insns, len(insns))
        lic = ctypes.create_string_buffer(license.encode())
        fds = (ctypes.c_int32 * len(fd_array))(*fd_array) if fd_array else None
        attr = syscall.ProgLoadAttr(
            prog_type=int(prog_type), insn_cnt=len(insns) // 8, insns=syscall.address_of(code),
            license=syscall.address_of(lic), kern_version=kern_version, prog_flags=flags,
            prog_name=syscall.c_name(name), prog_ifindex=ifindex,
            expected_attach_type=int(expected_attach_type), attach_btf_id=attach_btf_id,
            fd_array=syscall.address_of(fds))
        what = f"load program '{name or known(ProgType, prog_type)}'"
        fd = _load_with_log(attr, what, log_level, int(expected_attach_type))
        return cls(fd, name=name or None, expected_attach_type=expected_attach_type, attach_target=attach_target)

    def test_run(self, data: bytes = b"", *, ctx: Optional[Union[bytes, bytearray, CData]] = None,
                 data_out_size: Optional[int] = None, ctx_out_size: Optional[int] = None,
                 repeat: int = 0, flags: int = 0, cpu: int = 0) -> TestRun:
        """BPF_PROG_TEST_RUN: run in the kernel on ``data`` (a packet) and/or ``ctx``.

        A ctypes ``ctx`` is passed in place, so programs that write their context (syscall
        programs) update the caller's object. ``repeat`` 0 means once (syscall programs accept
        nothing else)."""
        data_in = ctypes.create_string_buffer(bytes(data), len(data)) if data else None
        out_size = data_out_size if data_out_size is not None else (len(data) + 256 if data else 0)
        data_out = ctypes.create_string_buffer(out_size) if out_size else None
        ctx_in: Optional[CData]
        if ctx is None:
            ctx_in, ctx_len = None, 0
        elif isinstance(ctx, (bytes, bytearray)):
            ctx_in, ctx_len = ctypes.create_string_buffer(bytes(ctx), len(ctx)), len(ctx)
        else:
            ctx_in, ctx_len = ctx, ctypes.sizeof(ctx)
        if not ctx_len:
            ctx_in = None  # the kernel refuses a pointer with a zero size (and the reverse)
        ctx_out = ctypes.create_string_buffer(ctx_out_size) if ctx_out_size else None
        attr = syscall.TestRunAttr(
            prog_fd=self.fileno(), data_size_in=len(data), data_size_out=out_size,
            data_in=syscall.address_of(data_in), data_out=syscall.address_of(data_out), repeat=repeat,
            ctx_size_in=ctx_len, ctx_size_out=ctx_out_size or 0, ctx_in=syscall.address_of(ctx_in),
            ctx_out=syscall.address_of(ctx_out), flags=flags, cpu=cpu)
        syscall.prog_test_run(attr, f"test run program '{self.name}'")
        return TestRun(attr.retval, attr.duration,
                       data_out.raw[:attr.data_size_out] if data_out is not None else b"",
                       ctx_out.raw[:attr.ctx_size_out] if ctx_out is not None else b"")

    # -- attach (see attach.py for what each does) -----------------------------------------
    # Every link goes through _adopt: a skeleton's programs hand their links to the skeleton,
    # which releases them in close() (a tc filter must not outlive the object).

    def _adopt(self, link: _AnyLink) -> _AnyLink:
        if self.link_owner is not None:
            self.link_owner(link)
        return link

    def attach_tracepoint(self, category: str, name: str, *, cookie: int = 0) -> PerfEventLink:
        return self._adopt(_attach.tracepoint(self, category, name, cookie=cookie))

    def attach_raw_tracepoint(self, name: str) -> BpfLink:
        return self._adopt(_attach.raw_tracepoint(self, name))

    def attach_tracing(self, *, cookie: int = 0) -> BpfLink:
        """tp_btf, fentry, fexit, fmod_ret, lsm: the target was fixed at load time."""
        return self._adopt(_attach.tracing(self, cookie=cookie))

    def attach_freplace(self, target: Any = None, func_name: Optional[str] = None) -> BpfLink:
        """freplace programs: run in place of ``func_name`` of the program ``target`` (a Program
        or fd) while the link lives; without arguments, in place of the target given at load."""
        return self._adopt(_attach.freplace(self, target, func_name))

    def attach_iter(self, *, map: Any = None) -> IterLink:
        """iter/ programs; ``link.read()`` runs the iterator and returns what it wrote."""
        return self._adopt(_attach.iterator(self, map=map))

    def attach_kprobe(self, function: str, *, retprobe: bool = False, offset: int = 0,
                      cookie: int = 0) -> PerfEventLink:
        return self._adopt(_attach.kprobe(self, function, retprobe=retprobe, offset=offset, cookie=cookie))

    def attach_ksyscall(self, syscall_name: str, *, retprobe: bool = False, cookie: int = 0) -> PerfEventLink:
        return self._adopt(_attach.ksyscall(self, syscall_name, retprobe=retprobe, cookie=cookie))

    def attach_uprobe(self, binary: str, symbol: Optional[str] = None, *, offset: int = 0,
                      retprobe: bool = False, pid: int = -1, cookie: int = 0) -> PerfEventLink:
        return self._adopt(_attach.uprobe(self, binary, symbol, offset=offset, retprobe=retprobe, pid=pid,
                                          cookie=cookie))

    def attach_usdt(self, binary: str, provider: str, name: str, *, pid: int = -1,
                    usdt_cookie: int = 0) -> UsdtLink:
        """USDT probes (programs built on <bpf/usdt.bpf.h>, loaded by a skeleton): see usdt.py."""
        return self._adopt(_attach.usdt(self, binary, provider, name, pid=pid, usdt_cookie=usdt_cookie))

    def attach_xdp(self, ifindex: Union[int, str], flags: int = 0) -> Link:
        return self._adopt(_attach.xdp(self, ifindex, flags))

    def attach_tcx(self, ifindex: Union[int, str], direction: str = "ingress") -> BpfLink:
        return self._adopt(_attach.tcx(self, ifindex, direction))

    def attach_tc(self, ifindex: Union[int, str], direction: str = "ingress", *, priority: int = 1,
                  handle: int = 1) -> Link:
        return self._adopt(_attach.tc(self, ifindex, direction, priority=priority, handle=handle))

    def attach_cgroup(self, cgroup: Union[str, int], attach_type: Optional[int] = None) -> BpfLink:
        return self._adopt(_attach.cgroup(self, cgroup, attach_type))

    def attach_socket(self, sock: Any) -> SocketFilterLink:
        return self._adopt(_attach.socket_filter(self, sock))

    def attach_perf_event(self, perf_fd: Union[int, Fd], *, cookie: int = 0) -> PerfEventLink:
        return self._adopt(_attach.perf_event(self, perf_fd, cookie=cookie))

    def __repr__(self) -> str:
        kind = self.type.name if isinstance(self.type, ProgType) else self.type
        state = "closed" if self.closed else f"id={self.id}"
        return f"<Program {self.name!r} {kind} {state}>"


def _load_with_log(attr: syscall.ProgLoadAttr, what: str, log_level: int, expected_attach_type: int) -> int:
    """Load quietly first (verifier logging costs time); on refusal load again with a log so the
    error can say why, growing the buffer until the whole log fits."""
    log_size = _LOG_START if log_level else 0
    while True:
        log = ctypes.create_string_buffer(log_size) if log_size else None
        attr.log_level, attr.log_size, attr.log_buf = (log_level or 1 if log else 0), log_size, syscall.address_of(log)
        try:
            return syscall.prog_load(attr, what)
        except BpfSyscallError as e:
            if log is None:
                log_size = _LOG_START
                continue
            if e.errno == errno.ENOSPC and log_size < _LOG_MAX:
                log_size *= 4
                continue
            text = log.value.decode("utf-8", "replace")
            hint = "" if text.strip() else load_hint(e.errno, expected_attach_type, attr.prog_type)
            raise VerifierError(what, e.errno, text, hint) from None
