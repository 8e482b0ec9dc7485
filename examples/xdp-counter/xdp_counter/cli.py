"""bpf-xdp-counter: count packets and bytes per IP protocol arriving on an interface (XDP)."""

from __future__ import annotations

import argparse
import socket
import sys
import time
from typing import Dict, List, Optional, Tuple

from bpf_build.runtime import BpfRuntimeError

from .xdp_counter_skel import xdp_counter_bpf as XdpCounterSkeleton  # generated at build time by bpf-build

NOT_IP = 256  # the map slot for frames that are not IPv4/IPv6 (bpf/xdp_counter.bpf.c)
PROTOCOL_NAMES = {socket.IPPROTO_ICMP: "icmp", socket.IPPROTO_IGMP: "igmp", socket.IPPROTO_TCP: "tcp",
                  socket.IPPROTO_UDP: "udp", socket.IPPROTO_ICMPV6: "icmpv6", socket.IPPROTO_SCTP: "sctp",
                  NOT_IP: "non-ip"}


def protocol_name(number: int) -> str:
    return PROTOCOL_NAMES.get(number, f"ip-proto-{number}")


def totals(stats_map) -> Dict[int, Tuple[int, int]]:
    """Per protocol (packets, bytes), summed over CPUs; protocols never seen left out."""
    out = {}
    for protocol, per_cpu in stats_map.items():
        packets = sum(v.packets for v in per_cpu)
        if packets:
            out[protocol] = (packets, sum(v.bytes for v in per_cpu))
    return out


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bpf-xdp-counter", description=__doc__)
    parser.add_argument("interface")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to count (default: 10)")
    args = parser.parse_args(argv)
    try:
        with XdpCounterSkeleton.open_and_load() as skel:
            # XDP needs a target only the caller knows: no auto-attach, attach to the interface.
            link = skel.progs.count_packets.attach_xdp(args.interface)
            try:
                try:  # from the announcement on: Ctrl-C right after it still prints the counts
                    print(f"counting packets on {args.interface} for {args.duration:g} s", flush=True)
                    time.sleep(args.duration)
                except KeyboardInterrupt:
                    pass
            finally:
                link.close()
            for protocol, (packets, nbytes) in sorted(totals(skel.maps.stats).items()):
                print(f"{protocol_name(protocol):<8} packets={packets} bytes={nbytes}")
    except BpfRuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
