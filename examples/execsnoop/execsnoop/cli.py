"""bpf-execsnoop: print every exec() as it happens (optionally only children of one process)."""

from __future__ import annotations

import argparse
import ctypes
import sys
import time
from typing import List, Optional

from bpf_build.runtime import BpfRuntimeError
from bpf_build.runtime.ringbuf import RingBuffer

from .execsnoop_skel import execsnoop_bpf as ExecsnoopSkeleton  # generated at build time by bpf-build

TASK_COMM_LEN = 16
MAX_FILENAME_LEN = 127


class ExecEvent(ctypes.Structure):
    """struct exec_event of bpf/execsnoop.h, field for field (natural C alignment)."""

    _fields_ = [
        ("pid", ctypes.c_int),
        ("ppid", ctypes.c_int),
        ("uid", ctypes.c_uint),
        ("timestamp_ns", ctypes.c_ulonglong),
        ("comm", ctypes.c_char * TASK_COMM_LEN),
        ("filename", ctypes.c_char * (MAX_FILENAME_LEN + 1)),
    ]


def print_event(event: ExecEvent) -> None:
    comm = event.comm.decode(errors="replace")
    filename = event.filename.decode(errors="replace")
    print(f"{event.pid:<8} {event.ppid:<8} {event.uid:<6} {comm:<16} {filename}", flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bpf-execsnoop", description=__doc__)
    parser.add_argument("--ppid", type=int, default=0, help="only execs of this process's children")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    args = parser.parse_args(argv)
    try:
        skel = ExecsnoopSkeleton.open()
        with skel:
            skel.rodata.parent_pid = args.ppid  # .rodata: set before load, constant after
            skel.load()
            skel.attach()
            with RingBuffer(skel.maps.events, callback=print_event, event_type=ExecEvent) as events:
                deadline = None if args.duration is None else time.monotonic() + args.duration
                try:  # from the header on: Ctrl-C right after it still prints what arrived
                    print(f"{'PID':<8} {'PPID':<8} {'UID':<6} {'COMM':<16} FILENAME", flush=True)
                    while deadline is None or time.monotonic() < deadline:
                        left = 0.5 if deadline is None else deadline - time.monotonic()
                        events.poll(timeout=max(0.0, min(0.5, left)))
                except KeyboardInterrupt:
                    pass
                events.consume()  # what arrived in the last moment, Ctrl-C or not
    except BpfRuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
