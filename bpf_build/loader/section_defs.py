"""What an ELF section name means to libbpf: program type, expected attach type, load flags.

The table mirrors the order and matching rules of libbpf's ``section_defs`` (libbpf 1.7), because
the first matching entry wins and ``tc/ingress`` must be tried before ``tc``. A pattern ending in
``+`` matches the bare name or ``name/anything``; one ending in ``/`` matches any name with that
prefix; anything else must match exactly.

Also here: the ``bpf_attach_type -> (prefix, BTF kind)`` rule used to find an attach target in
kernel BTF. The kernel's numbers themselves are ``bpf_build.runtime.uapi``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from ..model import btf as btfmod
from ..runtime.uapi import AttachType, ProgLoadFlag, ProgType

# Flags a section definition carries (libbpf's enum sec_def_flags).
SEC_NONE = 0
SEC_EXP_ATTACH_OPT = 1   # expected attach type may be dropped on kernels that reject it
SEC_ATTACHABLE = 2
SEC_ATTACHABLE_OPT = SEC_ATTACHABLE | SEC_EXP_ATTACH_OPT
SEC_ATTACH_BTF = 4       # the attach target is a kernel BTF id found from the section name
SEC_SLEEPABLE = 8
SEC_XDP_FRAGS = 16
SEC_USDT = 32


@dataclass(frozen=True)
class SecDef:
    pattern: str
    prog_type: ProgType
    expected_attach_type: int  # an AttachType, or 0 where the section names none
    flags: int

    def matches(self, section: str) -> bool:
        p = self.pattern
        if p.endswith("/"):
            return section.startswith(p)
        if p.endswith("+"):
            base = p[:-1]
            return section == base or section.startswith(base + "/")
        return section == p

    @property
    def prog_flags(self) -> int:
        """bpf_attr.prog_flags this section implies (what libbpf's prepare-load hook adds)."""
        flags = ProgLoadFlag.SLEEPABLE if self.flags & SEC_SLEEPABLE else 0
        if self.prog_type == ProgType.XDP and self.flags & SEC_XDP_FRAGS:
            flags |= ProgLoadFlag.XDP_HAS_FRAGS
        return flags


def _d(pattern: str, prog: str, attach: Optional[str], flags: int) -> SecDef:
    return SecDef(pattern, ProgType[prog], AttachType[attach] if attach else 0, flags)


_N, _A, _AO, _B, _S, _F = SEC_NONE, SEC_ATTACHABLE, SEC_ATTACHABLE_OPT, SEC_ATTACH_BTF, SEC_SLEEPABLE, SEC_XDP_FRAGS

SECTION_DEFS = (
    _d("socket", "SOCKET_FILTER", None, _N),
    _d("sk_reuseport/migrate", "SK_REUSEPORT", "SK_REUSEPORT_SELECT_OR_MIGRATE", _A),
    _d("sk_reuseport", "SK_REUSEPORT", "SK_REUSEPORT_SELECT", _A),
    _d("kprobe+", "KPROBE", None, _N),
    _d("uprobe+", "KPROBE", None, _N),
    _d("uprobe.s+", "KPROBE", None, _S),
    _d("kretprobe+", "KPROBE", None, _N),
    _d("uretprobe+", "KPROBE", None, _N),
    _d("uretprobe.s+", "KPROBE", None, _S),
    _d("kprobe.multi+", "KPROBE", "TRACE_KPROBE_MULTI", _N),
    _d("kretprobe.multi+", "KPROBE", "TRACE_KPROBE_MULTI", _N),
    _d("kprobe.session+", "KPROBE", "TRACE_KPROBE_SESSION", _N),
    _d("uprobe.multi+", "KPROBE", "TRACE_UPROBE_MULTI", _N),
    _d("uretprobe.multi+", "KPROBE", "TRACE_UPROBE_MULTI", _N),
    _d("uprobe.session+", "KPROBE", "TRACE_UPROBE_SESSION", _N),
    _d("uprobe.multi.s+", "KPROBE", "TRACE_UPROBE_MULTI", _S),
    _d("uretprobe.multi.s+", "KPROBE", "TRACE_UPROBE_MULTI", _S),
    _d("uprobe.session.s+", "KPROBE", "TRACE_UPROBE_SESSION", _S),
    _d("ksyscall+", "KPROBE", None, _N),
    _d("kretsyscall+", "KPROBE", None, _N),
    _d("usdt+", "KPROBE", None, SEC_USDT),
    _d("usdt.s+", "KPROBE", None, SEC_USDT | _S),
    _d("tc/ingress", "SCHED_CLS", "TCX_INGRESS", _N),
    _d("tc/egress", "SCHED_CLS", "TCX_EGRESS", _N),
    _d("tcx/ingress", "SCHED_CLS", "TCX_INGRESS", _N),
    _d("tcx/egress", "SCHED_CLS", "TCX_EGRESS", _N),
    _d("tc", "SCHED_CLS", None, _N),
    _d("classifier", "SCHED_CLS", None, _N),
    _d("action", "SCHED_ACT", None, _N),
    _d("netkit/primary", "SCHED_CLS", "NETKIT_PRIMARY", _N),
    _d("netkit/peer", "SCHED_CLS", "NETKIT_PEER", _N),
    _d("tracepoint+", "TRACEPOINT", None, _N),
    _d("tp+", "TRACEPOINT", None, _N),
    _d("tracepoint.s+", "TRACEPOINT", None, _S),
    _d("tp.s+", "TRACEPOINT", None, _S),
    _d("raw_tracepoint+", "RAW_TRACEPOINT", None, _N),
    _d("raw_tp+", "RAW_TRACEPOINT", None, _N),
    _d("raw_tracepoint.s+", "RAW_TRACEPOINT", None, _S),
    _d("raw_tp.s+", "RAW_TRACEPOINT", None, _S),
    _d("raw_tracepoint.w+", "RAW_TRACEPOINT_WRITABLE", None, _N),
    _d("raw_tp.w+", "RAW_TRACEPOINT_WRITABLE", None, _N),
    _d("tp_btf+", "TRACING", "TRACE_RAW_TP", _B),
    _d("tp_btf.s+", "TRACING", "TRACE_RAW_TP", _B | _S),
    _d("fentry+", "TRACING", "TRACE_FENTRY", _B),
    _d("fmod_ret+", "TRACING", "MODIFY_RETURN", _B),
    _d("fexit+", "TRACING", "TRACE_FEXIT", _B),
    _d("fentry.s+", "TRACING", "TRACE_FENTRY", _B | _S),
    _d("fmod_ret.s+", "TRACING", "MODIFY_RETURN", _B | _S),
    _d("fexit.s+", "TRACING", "TRACE_FEXIT", _B | _S),
    _d("fsession+", "TRACING", "TRACE_FSESSION", _B),
    _d("fsession.s+", "TRACING", "TRACE_FSESSION", _B | _S),
    _d("fsession.multi+", "TRACING", "TRACE_FSESSION_MULTI", _N),
    _d("fsession.multi.s+", "TRACING", "TRACE_FSESSION_MULTI", _S),
    _d("fentry.multi+", "TRACING", "TRACE_FENTRY_MULTI", _N),
    _d("fexit.multi+", "TRACING", "TRACE_FEXIT_MULTI", _N),
    _d("fentry.multi.s+", "TRACING", "TRACE_FENTRY_MULTI", _S),
    _d("fexit.multi.s+", "TRACING", "TRACE_FEXIT_MULTI", _S),
    _d("freplace+", "EXT", None, _B),
    _d("lsm+", "LSM", "LSM_MAC", _B),
    _d("lsm.s+", "LSM", "LSM_MAC", _B | _S),
    _d("lsm_cgroup+", "LSM", "LSM_CGROUP", _B),
    _d("iter+", "TRACING", "TRACE_ITER", _B),
    _d("iter.s+", "TRACING", "TRACE_ITER", _B | _S),
    _d("syscall", "SYSCALL", None, _S),
    _d("xdp.frags/devmap", "XDP", "XDP_DEVMAP", _F),
    _d("xdp/devmap", "XDP", "XDP_DEVMAP", _A),
    _d("xdp.frags/cpumap", "XDP", "XDP_CPUMAP", _F),
    _d("xdp/cpumap", "XDP", "XDP_CPUMAP", _A),
    _d("xdp.frags", "XDP", "XDP", _F),
    _d("xdp", "XDP", "XDP", _AO),
    _d("perf_event", "PERF_EVENT", None, _N),
    _d("lwt_in", "LWT_IN", None, _N),
    _d("lwt_out", "LWT_OUT", None, _N),
    _d("lwt_xmit", "LWT_XMIT", None, _N),
    _d("lwt_seg6local", "LWT_SEG6LOCAL", None, _N),
    _d("sockops", "SOCK_OPS", "CGROUP_SOCK_OPS", _AO),
    _d("sk_skb/stream_parser", "SK_SKB", "SK_SKB_STREAM_PARSER", _AO),
    _d("sk_skb/stream_verdict", "SK_SKB", "SK_SKB_STREAM_VERDICT", _AO),
    _d("sk_skb/verdict", "SK_SKB", "SK_SKB_VERDICT", _AO),
    _d("sk_skb", "SK_SKB", None, _N),
    _d("sk_msg", "SK_MSG", "SK_MSG_VERDICT", _AO),
    _d("lirc_mode2", "LIRC_MODE2", "LIRC_MODE2", _AO),
    _d("flow_dissector", "FLOW_DISSECTOR", "FLOW_DISSECTOR", _AO),
    _d("cgroup_skb/ingress", "CGROUP_SKB", "CGROUP_INET_INGRESS", _AO),
    _d("cgroup_skb/egress", "CGROUP_SKB", "CGROUP_INET_EGRESS", _AO),
    _d("cgroup/skb", "CGROUP_SKB", None, _N),
    _d("cgroup/sock_create", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE", _A),
    _d("cgroup/sock_release", "CGROUP_SOCK", "CGROUP_INET_SOCK_RELEASE", _A),
    _d("cgroup/sock", "CGROUP_SOCK", "CGROUP_INET_SOCK_CREATE", _AO),
    _d("cgroup/post_bind4", "CGROUP_SOCK", "CGROUP_INET4_POST_BIND", _A),
    _d("cgroup/post_bind6", "CGROUP_SOCK", "CGROUP_INET6_POST_BIND", _A),
    _d("cgroup/bind4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_BIND", _A),
    _d("cgroup/bind6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_BIND", _A),
    _d("cgroup/connect4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_CONNECT", _A),
    _d("cgroup/connect6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_CONNECT", _A),
    _d("cgroup/connect_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_CONNECT", _A),
    _d("cgroup/sendmsg4", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_SENDMSG", _A),
    _d("cgroup/sendmsg6", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_SENDMSG", _A),
    _d("cgroup/sendmsg_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_SENDMSG", _A),
    _d("cgroup/recvmsg4", "CGROUP_SOCK_ADDR", "CGROUP_UDP4_RECVMSG", _A),
    _d("cgroup/recvmsg6", "CGROUP_SOCK_ADDR", "CGROUP_UDP6_RECVMSG", _A),
    _d("cgroup/recvmsg_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_RECVMSG", _A),
    _d("cgroup/getpeername4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_GETPEERNAME", _A),
    _d("cgroup/getpeername6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_GETPEERNAME", _A),
    _d("cgroup/getpeername_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_GETPEERNAME", _A),
    _d("cgroup/getsockname4", "CGROUP_SOCK_ADDR", "CGROUP_INET4_GETSOCKNAME", _A),
    _d("cgroup/getsockname6", "CGROUP_SOCK_ADDR", "CGROUP_INET6_GETSOCKNAME", _A),
    _d("cgroup/getsockname_unix", "CGROUP_SOCK_ADDR", "CGROUP_UNIX_GETSOCKNAME", _A),
    _d("cgroup/sysctl", "CGROUP_SYSCTL", "CGROUP_SYSCTL", _A),
    _d("cgroup/getsockopt", "CGROUP_SOCKOPT", "CGROUP_GETSOCKOPT", _A),
    _d("cgroup/setsockopt", "CGROUP_SOCKOPT", "CGROUP_SETSOCKOPT", _A),
    _d("cgroup/dev", "CGROUP_DEVICE", "CGROUP_DEVICE", _AO),
    _d("struct_ops+", "STRUCT_OPS", None, _N),
    _d("struct_ops.s+", "STRUCT_OPS", None, _S),
    _d("sk_lookup", "SK_LOOKUP", "SK_LOOKUP", _A),
    _d("netfilter", "NETFILTER", "NETFILTER", _N),
)


def find_sec_def(section: str) -> Optional[SecDef]:
    """The first definition matching ``section`` (without its ``?`` prefix), or None."""
    for d in SECTION_DEFS:
        if d.matches(section):
            return d
    return None


# Where the kernel keeps the BTF type a BTF-attached program names (libbpf's
# btf_get_kernel_prefix_kind): raw tracepoints are typedefs "btf_trace_<tp>", LSM hooks and
# iterators are functions with a prefix, everything else is the function itself.
BTF_TRACE_PREFIX = "btf_trace_"
BTF_LSM_PREFIX = "bpf_lsm_"
BTF_ITER_PREFIX = "bpf_iter_"


def kernel_btf_prefix_kind(attach_type: int) -> Tuple[str, int]:
    """(prefix, BTF kind) under which the kernel names the target of ``attach_type``."""
    if attach_type == AttachType.TRACE_RAW_TP:
        return BTF_TRACE_PREFIX, btfmod.TYPEDEF
    if attach_type in (AttachType.LSM_MAC, AttachType.LSM_CGROUP):
        return BTF_LSM_PREFIX, btfmod.FUNC
    if attach_type == AttachType.TRACE_ITER:
        return BTF_ITER_PREFIX, btfmod.FUNC
    return "", btfmod.FUNC
