"""bpf-opensnoop: print every openat() of a process (or all) as it happens, then a log2 histogram
of their latencies and how many events the ring buffer had to drop."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import List, Optional

from bpf_build.runtime import BpfRuntimeError
from bpf_build.runtime.ringbuf import RingBuffer
from bpf_build.runtime.skeleton import text

from .opensnoop_skel import open_event, opensnoop_bpf  # generated at build time by bpf-build

HEADER = f"{'PID':<8} {'TID':<8} {'COMM':<16} {'RET':>5} {'FLAGS':>8} {'LAT(us)':>9} PATH"


def format_event(event: open_event) -> str:
    return (f"{event.pid:<8} {event.tid:<8} {text(event, 'comm'):<16} {event.ret:>5} {event.flags:>#8o} "
            f"{event.latency_ns / 1000:>9.1f} {text(event, 'name')}")


def histogram(counts: List[int]) -> str:
    """Rows of [low, high) microseconds with a bar, from the first to the last non-empty slot."""
    used = [slot for slot, count in enumerate(counts) if count]
    if not used:
        return "no calls"
    widest = max(counts)
    rows = [f"{'usecs':>21} : count"]
    for slot in range(used[0], used[-1] + 1):
        low, high = (0 if slot == 0 else 1 << slot), (1 << (slot + 1)) - 1
        bar = "*" * (40 * counts[slot] // widest)
        rows.append(f"{low:>10} -> {high:<8} : {counts[slot]:<8} |{bar:<40}|")
    return "\n".join(rows)


async def trace(skel, duration: Optional[float]) -> None:
    # Ctrl-C ends the wait as the duration does, so the last events and the histogram still print.
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    with RingBuffer(skel.maps.events, event_type=open_event) as events:
        print(HEADER, flush=True)

        async def print_events() -> None:
            async for event in events:
                print(format_event(event), flush=True)

        printer = asyncio.ensure_future(print_events())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({printer, stopped}, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
            if printer.done():
                printer.result()  # the ring buffer failed: raise its error
        finally:
            printer.cancel()
            stopped.cancel()
        for event in events.read():  # what arrived in the last moment
            print(format_event(event), flush=True)
        print(f"dropped: {events.dropped}")
    counts = [skel.maps.latency_us[slot] for slot in range(skel.maps.latency_us.max_entries)]
    print(histogram(counts), flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bpf-opensnoop", description=__doc__)
    parser.add_argument("--pid", type=int, default=0, help="only this process (default: every process)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    args = parser.parse_args(argv)
    try:
        with opensnoop_bpf.open() as skel:
            skel.rodata.target_tgid = args.pid  # .rodata: set before load, constant after
            skel.load()
            skel.attach()
            asyncio.run(trace(skel, args.duration))
    except KeyboardInterrupt:
        return 0
    except BpfRuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
