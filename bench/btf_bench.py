"""Parse /sys/kernel/btf/vmlinux into the model and encode it back, next to bpftool's raw dump.

In process: parse, encode, both, and parse + raw text dump (wall medians), against the whole
`bpftool btf dump ... format raw` run. Then `bpf-build btf dump` as a command next to bpftool's
(wall, CPU, peak RSS under GNU time, runs alternating: see bench/vmlinux_bench.py).

Run: python3 bench/btf_bench.py [--repeat N]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import median_seconds, report, time_command  # noqa: E402
from bench.vmlinux_bench import TIME, alternate  # noqa: E402
from bpf_build.model.btf import Btf, dump_raw  # noqa: E402

VMLINUX = "/sys/kernel/btf/vmlinux"
BPFTOOL_RAW = ["bpftool", "btf", "dump", "file", VMLINUX, "format", "raw"]
OURS_DUMP = [sys.executable, "-m", "bpf_build.cli.main", "btf", "dump", VMLINUX]


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
    bpftool = time_command(BPFTOOL_RAW, args.repeat)
    report([
        ("parse vmlinux", parse, None),
        ("encode vmlinux", encode, None),
        ("parse + encode vmlinux (vs bpftool raw dump)", both, bpftool),
        ("parse + raw text dump (vs bpftool raw dump)", text, bpftool),
    ])
    if bpftool is not None and os.access(TIME, os.X_OK):
        ours, theirs = alternate(OURS_DUMP, BPFTOOL_RAW, args.repeat)
        print(f"{'bpf-build btf dump vs bpftool (raw)':<34} {'ours':>9} {'bpftool':>9} {'ratio':>7}")
        for key, label in (("wall", "wall (s)"), ("cpu", "cpu, user+sys (s)"), ("rss", "peak RSS (MiB)")):
            print(f"{label:<34} {ours[key]:9.3f} {theirs[key]:9.3f} {ours[key] / theirs[key]:6.2f}x")


if __name__ == "__main__":
    main()
