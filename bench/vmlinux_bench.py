"""Render vmlinux.h from /sys/kernel/btf/vmlinux, next to `bpftool btf dump ... format c`.

Rows: our whole `bpf-build vmlinux` run as a command (interpreter start, parse, render, write),
the same work in-process, and the render alone on already parsed BTF.

Run: python3 bench/vmlinux_bench.py [--repeat N]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import median_seconds, report, time_command  # noqa: E402
from bpf_build.model.btf import Btf  # noqa: E402
from bpf_build.btf.c import render_header  # noqa: E402
from bpf_build.cli.commands.vmlinux import SYSFS_BTF  # noqa: E402

VMLINUX = f"{SYSFS_BTF}/vmlinux"


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--repeat", type=int, default=5, help="runs per case (the median is shown)")
    repeat = args.parse_args().repeat
    data = open(VMLINUX, "rb").read()
    btf = Btf.parse(data, VMLINUX)
    text = render_header(btf)
    print(f"vmlinux BTF: {len(data)} bytes, {len(btf.types)} types -> vmlinux.h: "
          f"{len(text)} bytes, {text.count(chr(10))} lines")
    bpftool = time_command(["bpftool", "btf", "dump", "file", VMLINUX, "format", "c"], repeat)
    ours_cli = time_command([sys.executable, "-m", "bpf_build.cli.main", "vmlinux", "-o", os.devnull],
                            repeat)
    in_process = median_seconds(lambda: render_header(Btf.parse(data, VMLINUX)), repeat)
    render_only = median_seconds(lambda: render_header(btf), repeat)
    report([
        ("bpf-build vmlinux (command)", ours_cli, bpftool),
        ("parse + render in-process", in_process, bpftool),
        ("render only (BTF already parsed)", render_only, bpftool),
    ])


if __name__ == "__main__":
    main()
