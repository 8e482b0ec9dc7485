"""bpf-hello: count getpid() calls system-wide, printing the count as it grows."""

from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

from bpf_build.runtime import BpfRuntimeError

from .hello_skel import hello_bpf as HelloSkeleton  # generated at build time by bpf-build


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bpf-hello", description=__doc__)
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: Ctrl-C)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between counts (default: 1)")
    args = parser.parse_args(argv)
    try:
        with HelloSkeleton.open_and_load() as skel:
            skel.attach()
            deadline = None if args.duration is None else time.monotonic() + args.duration
            try:  # from the announcement on: Ctrl-C right after it still prints the total
                print("counting getpid() calls; Ctrl-C to stop", flush=True)
                while deadline is None or time.monotonic() < deadline:
                    left = args.interval if deadline is None else deadline - time.monotonic()
                    time.sleep(max(0.0, min(args.interval, left)))
                    # .bss is mmapped: reading the field reads the kernel's counter.
                    print(f"getpid() calls: {skel.bss.getpid_calls}", flush=True)
            except KeyboardInterrupt:
                pass
            print(f"total getpid() calls: {skel.bss.getpid_calls}")
    except BpfRuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
