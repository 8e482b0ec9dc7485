"""Attaching programs, one function per kind. Each returns an owned ``Link``; closing it detaches.

Where the kernel offers both, bpf links (BPF_LINK_CREATE) are preferred over the older
attach-by-side-effect APIs: a link detaches when its fd closes, so a crashed process leaves
nothing attached. Errors say which target and why, including when this kernel simply lacks the
feature (kprobes without CONFIG_KPROBES, tcx before 6.6).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import socket
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple, Union

from . import elfsym, features, freplace as freplace_support, perf, syscall
from . import xdp_netlink
from . import usdt as usdt_support
from .uapi import AttachType, KprobeMultiFlag, ProgType
from .cpus import online_cpus
from .errors import AttachError, BpfSyscallError
from .fd import Fd
if TYPE_CHECKING:
    from .program import Program
from .links import SO_ATTACH_BPF, BpfLink, IterLink, Link, LinkGroup, PerfEventLink, SocketFilterLink

TRACEFS_ROOTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
PMU_ROOT = "/sys/bus/event_source/devices"

# The kernel names syscall entry points with an architecture prefix (ksyscall attaches there).
_SYSCALL_PREFIX = {"x86_64": "__x64_sys_", "aarch64": "__arm64_sys_", "s390x": "__s390x_sys_",
                   "riscv64": "__riscv_sys_", "ppc64le": "sys_", "ppc64": "sys_", "i686": "__ia32_sys_"}

# What a cgroup program attaches to when the caller does not say (its expected_attach_type
# normally decides; these are for programs loaded without one).
_DEFAULT_CGROUP_ATTACH: Dict[int, AttachType] = {  # keyed by Program.type: a ProgType or a newer number
    ProgType.CGROUP_SKB: AttachType.CGROUP_INET_INGRESS,
    ProgType.CGROUP_SOCK: AttachType.CGROUP_INET_SOCK_CREATE,
    ProgType.SOCK_OPS: AttachType.CGROUP_SOCK_OPS,
    ProgType.CGROUP_DEVICE: AttachType.CGROUP_DEVICE,
    ProgType.CGROUP_SYSCTL: AttachType.CGROUP_SYSCTL,
}


def _link_create(prog: "Program", target: int, attach_type: int, what: str, flags: int = 0,
                 **options: Dict[str, int]) -> BpfLink:
    attr = syscall.LinkCreateAttr(prog_fd=prog.fileno(), target=target, attach_type=int(attach_type), flags=flags)
    for family, fields in options.items():
        part = getattr(attr.options, family)
        for field, value in fields.items():
            setattr(part, field, value)
    return BpfLink(syscall.link_create(attr, what), what)


# ----------------------------------------------------------------------------------------------
# perf-event based: tracepoint, kprobe, uprobe, sampling events

def _perf_links_usable() -> bool:
    return features.has_perf_event_links() and not features.legacy_attach_forced("perf_event")


def _attach_to_perf_event(prog: "Program", perf_fd: Fd, what: str, cookie: int = 0) -> PerfEventLink:
    """Put ``prog`` on an open perf event and enable it; the link owns ``perf_fd`` from here on.
    With perf links (5.15+) a bpf link holds the program; before them PERF_EVENT_IOC_SET_BPF does,
    for as long as the perf event is open (closing it detaches)."""
    link: Optional[BpfLink] = None
    try:
        if _perf_links_usable():
            link = _link_create(prog, perf_fd.fileno(), AttachType.PERF_EVENT, what,
                                perf_event={"bpf_cookie": cookie})
        elif cookie:
            raise AttachError(f"{what}: a BPF cookie needs perf links (Linux 5.15+), which "
                              + ("$BPF_BUILD_ATTACH_LEGACY turns off" if features.has_perf_event_links()
                                 else "this kernel lacks"))
        else:
            perf.ioctl(perf_fd, perf.PERF_EVENT_IOC_SET_BPF, prog.fileno(), what)
        perf.ioctl(perf_fd, perf.PERF_EVENT_IOC_ENABLE, 0, f"{what}: enable perf event")
    except BaseException:
        if link is not None:
            link.close()
        perf_fd.close()
        raise
    return PerfEventLink(perf_fd, link, what)


def tracefs_root() -> str:
    for root in TRACEFS_ROOTS:
        if os.path.isdir(os.path.join(root, "events")):
            return root
    raise AttachError("tracefs is not mounted (mount -t tracefs tracefs /sys/kernel/tracing); "
                      "tracepoint ids are read from it")


def tracepoint_id(category: str, name: str) -> int:
    path = os.path.join(tracefs_root(), "events", category, name, "id")
    try:
        with open(path) as f:
            return int(f.read())
    except FileNotFoundError:
        raise AttachError(f"tracepoint {category}/{name} does not exist ({path} is missing)") from None


def tracepoint(prog: "Program", category: str, name: str, *, cookie: int = 0) -> PerfEventLink:
    what = f"attach '{prog.name}' to tracepoint {category}/{name}"
    attr = perf.PerfEventAttr(type=perf.PERF_TYPE_TRACEPOINT, config=tracepoint_id(category, name))
    perf_fd = perf.perf_event_open(attr, pid=-1, cpu=0, what=what)
    return _attach_to_perf_event(prog, perf_fd, what, cookie)


def _pmu_type(pmu: str, missing: str) -> int:
    try:
        with open(f"{PMU_ROOT}/{pmu}/type") as f:
            return int(f.read())
    except FileNotFoundError:
        raise AttachError(missing) from None


def _retprobe_bit(pmu: str) -> int:
    """The PMU's format file says which config bit selects a return probe ('config:0')."""
    with open(f"{PMU_ROOT}/{pmu}/format/retprobe") as f:
        return 1 << int(f.read().strip().split(":")[1])


def _probe_event(pmu: str, target: bytes, offset: int, retprobe: bool, pid: int, what: str,
                 missing: str, ref_ctr_offset: int = 0) -> Fd:
    """``ref_ctr_offset``: file offset of a u16 the kernel raises while the uprobe exists (USDT
    semaphores); it sits in config bits 32 and up."""
    pmu_type = _pmu_type(pmu, missing)
    target_buf = ctypes.create_string_buffer(target)
    config = (_retprobe_bit(pmu) if retprobe else 0) | ref_ctr_offset << 32
    attr = perf.PerfEventAttr(type=pmu_type, config=config, config1=ctypes.addressof(target_buf), config2=offset)
    # A probe for every process is opened on CPU 0; one for a single process on any CPU.
    return perf.perf_event_open(attr, pid=-1 if pid < 0 else pid, cpu=0 if pid < 0 else -1, what=what)


def kprobe(prog: "Program", function: str, *, retprobe: bool = False, offset: int = 0, cookie: int = 0) -> PerfEventLink:
    kind = "kretprobe" if retprobe else "kprobe"
    what = f"attach '{prog.name}' as {kind} on {function}{f'+{offset:#x}' if offset else ''}"
    missing = (f"{what}: this kernel has no kprobe support ({PMU_ROOT}/kprobe is missing: "
               "CONFIG_KPROBES/CONFIG_KPROBE_EVENTS are off); use a tracepoint, raw_tp or tp_btf instead")
    perf_fd = _probe_event("kprobe", function.encode(), offset, retprobe, -1, what, missing)
    return _attach_to_perf_event(prog, perf_fd, what, cookie)


def syscall_function(syscall_name: str) -> str:
    """The kernel function behind a syscall on this architecture (``openat`` -> ``__x64_sys_openat``)."""
    return _SYSCALL_PREFIX.get(platform.machine(), "sys_") + syscall_name


def ksyscall(prog: "Program", syscall_name: str, *, retprobe: bool = False, cookie: int = 0) -> PerfEventLink:
    return kprobe(prog, syscall_function(syscall_name), retprobe=retprobe, cookie=cookie)


def uprobe(prog: "Program", binary: str, symbol: Optional[str] = None, *, offset: int = 0, retprobe: bool = False,
           pid: int = -1, cookie: int = 0) -> PerfEventLink:
    """A uprobe on ``symbol`` (+``offset``) of ``binary`` (path, library soname or command name),
    for every process (pid=-1) or one."""
    path, file_offset = elfsym.symbol_file_offset(binary, symbol, offset)
    kind = "uretprobe" if retprobe else "uprobe"
    what = f"attach '{prog.name}' as {kind} on {path}:{symbol or ''}+{file_offset:#x}"
    missing = f"{what}: this kernel has no uprobe support ({PMU_ROOT}/uprobe is missing: CONFIG_UPROBE_EVENTS off)"
    perf_fd = _probe_event("uprobe", path.encode(), file_offset, retprobe, pid, what, missing)
    return _attach_to_perf_event(prog, perf_fd, what, cookie)


def usdt(prog: "Program", binary: str, provider: str, name: str, *, pid: int = -1,
         usdt_cookie: int = 0) -> "usdt_support.UsdtLink":
    """Every USDT probe ``provider:name`` of ``binary`` (path, library or command), for every
    process (pid=-1) or one: a uprobe per probe site, its spec in the object's usdt maps."""
    path = elfsym.resolve_binary(binary)
    what = f"attach '{prog.name}' to USDT {provider}:{name} in {path}"
    specs = usdt_support.specs_map_of(prog, what)
    missing = f"{what}: this kernel has no uprobe support ({PMU_ROOT}/uprobe is missing: CONFIG_UPROBE_EVENTS off)"
    group = usdt_support.UsdtLink([], [], specs, what)
    try:
        for note in usdt_support.find_notes(path, provider, name):
            spec_id = usdt_support.write_spec(specs, usdt_support.parse_args(note.args, what), usdt_cookie, what)
            group.spec_ids.append(spec_id)
            perf_fd = _probe_event("uprobe", path.encode(), note.file_offset, False, pid, what, missing,
                                   ref_ctr_offset=note.semaphore_offset)
            group.links.append(_attach_to_perf_event(prog, perf_fd, what, cookie=spec_id))
    except BaseException:
        group.close()
        raise
    return group


def open_perf_event(type_: int, config: int, *, cpu: int, pid: int = -1, sample_period: int = 0,
                    sample_freq: int = 0) -> Fd:
    """A sampling perf event for a BPF_PROG_TYPE_PERF_EVENT program (e.g. PERF_TYPE_SOFTWARE,
    PERF_COUNT_SW_CPU_CLOCK with sample_freq=1000)."""
    attr = perf.PerfEventAttr(type=type_, config=config,
                              sample_period=sample_freq or sample_period,
                              flags=perf.ATTR_FREQ if sample_freq else 0)
    return perf.perf_event_open(attr, pid=pid, cpu=cpu, what=f"open perf event type {type_} config {config} on cpu {cpu}")


def perf_event(prog: "Program", perf_fd: Union[Fd, int], *, cookie: int = 0) -> PerfEventLink:
    """Attach to a perf event the caller opened; the returned link owns (and closes) it."""
    fd = perf_fd if isinstance(perf_fd, Fd) else Fd(perf_fd)
    return _attach_to_perf_event(prog, fd, f"attach '{prog.name}' to perf event fd {fd.fileno()}", cookie)


def perf_event_all_cpus(prog: "Program", type_: int, config: int, *, sample_period: int = 0, sample_freq: int = 0,
                        cpus: Optional[Sequence[int]] = None) -> LinkGroup:
    """One sampling event per online CPU, all running ``prog``."""
    links: List[Link] = []
    try:
        for cpu in (cpus if cpus is not None else online_cpus()):
            fd = open_perf_event(type_, config, cpu=cpu, sample_period=sample_period, sample_freq=sample_freq)
            links.append(perf_event(prog, fd))
    except BaseException:
        for link in links:
            link.close()
        raise
    return LinkGroup(links, f"'{prog.name}' on perf event type {type_} config {config}")


# ----------------------------------------------------------------------------------------------
# BTF-typed tracing, raw tracepoints

def kprobe_multi(prog: "Program", pattern: str, *, retprobe: bool = False) -> BpfLink:
    """SEC("kprobe.multi/PATTERN"): one link on every kernel function the glob ``pattern`` names
    (matched against tracefs' available_filter_functions, as libbpf does). Needs fprobe
    (CONFIG_FPROBE, Linux 5.18+): kernels without it answer EOPNOTSUPP."""
    kind = "kretprobe.multi" if retprobe else "kprobe.multi"
    what = f"attach '{prog.name}' as {kind} on {pattern}"
    names = _filter_functions(pattern, what) if any(c in pattern for c in "*?[") else [pattern]
    syms = (ctypes.c_char_p * len(names))(*(n.encode() for n in names))
    try:
        return _link_create(prog, 0, AttachType.TRACE_KPROBE_MULTI, what,
                            kprobe_multi={"flags": KprobeMultiFlag.RETURN if retprobe else 0, "cnt": len(names),
                                          "syms": ctypes.addressof(syms)})
    except BpfSyscallError as e:
        if e.errno == errno.EOPNOTSUPP:
            raise AttachError(f"{what}: this kernel has no kprobe.multi links (they need fprobe, "
                              "CONFIG_FPROBE, Linux 5.18+); use kprobe/ per function") from None
        raise


def _filter_functions(pattern: str, what: str) -> List[str]:
    import fnmatch
    for root in TRACEFS_ROOTS:
        path = os.path.join(root, "available_filter_functions")
        try:
            with open(path) as f:
                # "name [module]" lines; a function may be listed more than once
                names = {line.split()[0] for line in f if line.strip()}
        except OSError:
            continue
        matched = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
        if not matched:
            raise AttachError(f"{what}: no kernel function matches {pattern!r}")
        return matched
    raise AttachError(f"{what}: tracefs is not mounted (available_filter_functions is needed to expand a glob)")


def raw_tracepoint(prog: "Program", name: str) -> BpfLink:
    return BpfLink(syscall.raw_tracepoint_open(name, prog.fileno()), f"'{prog.name}' on raw tracepoint {name}")


def tracing(prog: "Program", *, cookie: int = 0) -> BpfLink:
    """tp_btf/fentry/fexit/fmod_ret/lsm: the target was fixed at load (attach_btf_id)."""
    attach_type = prog.expected_attach_type
    what = f"attach '{prog.name}' ({AttachType(attach_type).name.lower() if attach_type is not None else 'tracing'}" \
           f"{' ' + prog.attach_target if prog.attach_target else ''})"
    if attach_type is None:
        return BpfLink(syscall.raw_tracepoint_open(None, prog.fileno()), what)
    try:
        return _link_create(prog, 0, attach_type, what, tracing={"cookie": cookie})
    except BpfSyscallError as e:
        if e.errno != errno.EINVAL or cookie:
            raise
        return BpfLink(syscall.raw_tracepoint_open(None, prog.fileno()), what)


def freplace(prog: "Program", target: Any = None, func_name: Optional[str] = None) -> BpfLink:
    """An freplace program in place of ``func_name`` of the program ``target`` (a Program or fd;
    None: the target it was loaded for) for as long as the link lives (libbpf's
    bpf_program__attach_freplace)."""
    where = f"attach '{prog.name}' as freplace"
    resolved = prog.freplace_target
    if target is not None:
        fd, name = freplace_support.setting(target if func_name is None else (target, func_name), where)
        name = name or (resolved.func_name if resolved is not None else None)
        if not name:
            raise AttachError(f"{where}: say which function of the target it replaces")
        resolved = freplace_support.FreplaceTarget(fd, name, freplace_support.func_btf_id(fd, name, where))
    elif resolved is None:
        raise AttachError(f"{where}: no target: give attach_freplace(target_program, \"function\")")
    what = f"{where} of {resolved.func_name}() of program fd {resolved.prog_fd}"
    return _link_create(prog, resolved.prog_fd, 0, what, tracing={"target_btf_id": resolved.btf_id})


def iterator(prog: "Program", *, map: Any = None) -> IterLink:
    """iter/ programs: a link whose every read walks the objects (tasks, maps...) anew. ``map``
    (a Map or fd) is the map a map-element iterator (``iter/bpf_map_elem``) walks."""
    what = f"'{prog.name}' as iterator" + (f" over map '{getattr(map, 'name', map)}'" if map is not None else "")
    info = ctypes.c_uint32(_fd_number(map)) if map is not None else None
    attr = syscall.LinkCreateAttr(prog_fd=prog.fileno(), target=0, attach_type=int(AttachType.TRACE_ITER))
    if info is not None:
        attr.options.iter.iter_info = ctypes.addressof(info)
        attr.options.iter.iter_info_len = ctypes.sizeof(info)
    return IterLink(syscall.link_create(attr, f"attach {what}"), what)


def _fd_number(obj: Any) -> int:
    return obj if isinstance(obj, int) else obj.fileno()


# ----------------------------------------------------------------------------------------------
# Networking

def interface_index(interface: Union[int, str]) -> int:
    if isinstance(interface, int):
        return interface
    try:
        return socket.if_nametoindex(interface)
    except OSError:
        raise AttachError(f"network interface '{interface}' does not exist in this network namespace") from None


def xdp(prog: "Program", interface: Union[int, str], flags: int = 0) -> Link:
    """XDP through a bpf link (5.9+): the program leaves the interface when the link closes. On
    older kernels (or with $BPF_BUILD_ATTACH_LEGACY=xdp) through rtnetlink, detached on close
    too, but left attached if the process dies first."""
    ifindex = interface_index(interface)
    what = f"attach '{prog.name}' as XDP on {interface}"
    if features.has_xdp_links() and not features.legacy_attach_forced("xdp"):
        return _link_create(prog, ifindex, AttachType.XDP, what, flags=flags)
    return xdp_netlink.attach(prog.fileno(), ifindex, flags, what)


def tcx(prog: "Program", interface: Union[int, str], direction: str = "ingress") -> BpfLink:
    """tc ingress/egress through tcx links (6.6+): no qdisc or netlink needed. Older kernels get
    an error naming tc(), the classic filter over rtnetlink that they do have (not chosen here
    silently: a tcx link and a cls_bpf filter order and outlive their process differently)."""
    kinds = {"ingress": AttachType.TCX_INGRESS, "egress": AttachType.TCX_EGRESS}
    if direction not in kinds:
        raise ValueError(f"tcx direction must be 'ingress' or 'egress', not {direction!r}")
    ifindex = interface_index(interface)
    what = f"attach '{prog.name}' as tcx {direction} on {interface}"
    if not features.has_tcx_links():
        raise AttachError(f"{what}: tcx links need Linux 6.6+ and this kernel has none; "
                          "attach_tc() puts a classic tc filter there instead")
    try:
        return _link_create(prog, ifindex, kinds[direction], what)
    except BpfSyscallError as e:
        if e.errno == errno.EINVAL:
            raise AttachError(f"{what}: the kernel refused (EINVAL); tcx needs a SCHED_CLS program") from None
        raise


def tc(prog: "Program", interface: Union[int, str], direction: str = "ingress", *, priority: int = 1,
       handle: int = 1) -> Link:
    """Classic tc: a direct-action cls_bpf filter on a clsact qdisc, through rtnetlink. Works on
    kernels without tcx (before 6.6); the link deletes the filter when closed."""
    from . import tc as _tc
    return _tc.attach(prog, interface_index(interface), str(interface), direction, priority, handle)


def cgroup(prog: "Program", target: Union[str, int], attach_type: Optional[int] = None, flags: int = 0) -> BpfLink:
    """Attach to a cgroup v2 directory (path or open fd) with a bpf link."""
    if attach_type is None:
        attach_type = prog.expected_attach_type or _DEFAULT_CGROUP_ATTACH.get(prog.type)
    if attach_type is None:
        raise AttachError(f"attach '{prog.name}' to cgroup: say which attach type (the program has none)")
    what = f"attach '{prog.name}' to cgroup {target} as {AttachType(attach_type).name.lower()}"
    if isinstance(target, int):
        return _link_create(prog, target, attach_type, what, flags=flags)
    try:
        cg_fd = Fd(os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
    except OSError as e:
        raise AttachError(f"{what}: cannot open cgroup directory: {e.strerror}") from None
    with cg_fd:  # the link holds its own reference to the cgroup
        return _link_create(prog, cg_fd.fileno(), attach_type, what, flags=flags)


def socket_filter(prog: "Program", sock: Any) -> SocketFilterLink:
    """SO_ATTACH_BPF: the program filters what ``sock`` receives until the link or socket closes."""
    if not isinstance(sock, socket.socket):
        raise TypeError("socket_filter needs a socket.socket")
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_BPF, prog.fileno())
    except OSError as e:
        raise BpfSyscallError(f"attach '{prog.name}' to socket fd {sock.fileno()}", e.errno or 0) from None
    return SocketFilterLink(sock, f"'{prog.name}' on socket fd {sock.fileno()}")


# ----------------------------------------------------------------------------------------------
# Attaching by section name (skeleton attach())

def _split_offset(target: str) -> Tuple[str, int]:
    """'func+0x10' -> ('func', 16)."""
    name, plus, off = target.partition("+")
    return name, (int(off, 0) if plus else 0)


def _uprobe_target(prog: "Program", rest: str, retprobe: bool) -> Optional[Link]:
    if ":" not in rest:
        return None  # SEC("uprobe") without a target: the caller attaches explicitly
    binary, _, func = rest.rpartition(":")
    symbol, offset = _split_offset(func)
    if symbol.startswith("0x") or symbol.isdigit():
        return uprobe(prog, binary, None, offset=int(symbol, 0) + offset, retprobe=retprobe)
    return uprobe(prog, binary, symbol, offset=offset, retprobe=retprobe)


def attach_by_section(prog: "Program", section: str) -> Optional[Link]:
    """Attach the way libbpf's auto-attach does for ``SEC(section)``; None for kinds that need a
    target only the caller knows (xdp, tc, cgroup, socket, perf_event...)."""
    kind, _, rest = section.partition("/")
    if kind in ("tracepoint", "tp") and "/" in rest:
        category, _, name = rest.partition("/")
        return tracepoint(prog, category, name)
    if kind in ("raw_tracepoint", "raw_tp", "raw_tracepoint.w", "raw_tp.w") and rest:
        return raw_tracepoint(prog, rest)
    if kind in ("tp_btf", "fentry", "fexit", "fmod_ret", "fentry.s", "fexit.s", "fmod_ret.s", "lsm", "lsm.s") and rest:
        return tracing(prog)
    if kind in ("kprobe", "kretprobe") and rest:
        name, offset = _split_offset(rest)
        return kprobe(prog, name, retprobe=kind == "kretprobe", offset=offset)
    if kind in ("kprobe.multi", "kretprobe.multi") and rest:
        return kprobe_multi(prog, rest, retprobe=kind == "kretprobe.multi")
    if kind in ("ksyscall", "kretsyscall") and rest:
        return ksyscall(prog, rest, retprobe=kind == "kretsyscall")
    if kind in ("uprobe", "uretprobe", "uprobe.s", "uretprobe.s") and rest:
        return _uprobe_target(prog, rest, kind.startswith("uretprobe"))
    if kind in ("iter", "iter.s") and rest:
        return iterator(prog)
    if kind == "freplace" and prog.freplace_target is not None:
        return freplace(prog)
    if kind in ("usdt", "usdt.s") and rest.count(":") >= 2:
        binary, provider, name = rest.rsplit(":", 2)  # SEC("usdt/path:provider:name")
        return usdt(prog, binary, provider, name)
    return None
