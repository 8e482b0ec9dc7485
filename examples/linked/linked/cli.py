"""bpf-linked: count getpid() and getppid() calls with a BPF object linked from two sources."""

from __future__ import annotations

import argparse
import sys
import time
from typing import List, Optional

from bpf_build.runtime import BpfRuntimeError

from .linked_skel import linked_bpf as LinkedSkeleton  # generated at build time by bpf-build

# enum syscall_kind of bpf/linked.h
KIND_GETPID, KIND_GETPPID = 0, 1


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="bpf-linked", description=__doc__)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds to count (default: 5)")
    args = parser.parse_args(argv)
    try:
        with LinkedSkeleton.open_and_load() as skel:
            skel.attach()
            try:  # from the announcement on: Ctrl-C right after it still prints the counts
                print(f"counting getpid()/getppid() calls for {args.duration:g} s", flush=True)
                time.sleep(args.duration)
            except KeyboardInterrupt:
                pass
            # syscall_counts is defined in stats.bpf.c; the linker made it one map of this object.
            counts = skel.maps.syscall_counts
            print(f"getpid: {counts[KIND_GETPID]}")
            print(f"getppid: {counts[KIND_GETPPID]}")
            print(f"getpid count at the last getppid: {skel.bss.getpid_count_at_getppid}")
    except BpfRuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
