"""Parse /sys/kernel/btf/vmlinux into the model and encode it back, next to bpftool's raw dump.

Run: python3 bench/btf_bench.py [--repeat N]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import median_seconds, report, time_command  # noqa: E402
from bpf_build.model.btf import Btf, dump_raw  # noqa: E402

VMLINUX = "/sys/kernel/btf/vmlinux"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data = open(VMLINUX, "rb").read()
    btf = Btf.parse(data)
    print(f"vmlinux BTF: {len(data)} bytes, {len(btf.types)} types")
    parse = median_seconds(lambda: Btf.parse(data), args.repeat)
    encode = median_seconds(lambda: btf.encode(), args.repeat)
    both = median_seconds(lambda: Btf.parse(data).encode(), args.repeat)
    text = median_seconds(lambda: dump_raw(Btf.parse(data)), max(1, args.repeat // 2))
    bpftool = time_command(["bpftool", "btf", "dump", "file", VMLINUX, "format", "raw"], args.repeat)
    report([
        ("parse vmlinux", parse, None),
        ("encode vmlinux", encode, None),
        ("parse + encode vmlinux (vs bpftool raw dump)", both, bpftool),
        ("parse + raw text dump (vs bpftool raw dump)", text, bpftool),
    ])


if __name__ == "__main__":
    main()
