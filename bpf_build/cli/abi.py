"""`bpf-abi` entry point (placeholder until its issue lands)."""

import sys


def main(argv=None) -> int:
    print("bpf-abi: not implemented yet", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
