"""`bpf-build vmlinux [--btf PATH] [--module NAME] -o vmlinux.h`: kernel types as a C header.

Default source is the running kernel's /sys/kernel/btf/vmlinux; ``--module NAME`` reads the
module's split BTF from /sys/kernel/btf/NAME on top of it (all types, as bpftool dumps them).
``--module`` also takes the path of a split BTF file (anything with a ``/`` in it), e.g. one
``pahole --btf_encode_detached --btf_base`` wrote for an out-of-tree module.

The BTF is read as words and checked over them (model/btf/words.py), and the header written from
the words: no record of the kernel's ~130k types is built.
"""

import argparse
import os
import re
import sys
from typing import Optional

SYSFS_BTF = "/sys/kernel/btf"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--btf", metavar="PATH",
                   help=f"BTF to read: raw BTF or a BPF object (default: {SYSFS_BTF}/vmlinux)")
    p.add_argument("--module", metavar="NAME|PATH",
                   help=f"a kernel module's split BTF ({SYSFS_BTF}/NAME, or a file path), on top of --btf")
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    # Imported here, not at the top: `bpf-build vmlinux --help` needs none of the BTF model and
    # C renderer (~20 ms of its start-up).
    from ...btf.c import render_header
    from ...errors import BtfError, UsageError
    from ...fileio import write_atomic
    from .btf import load_words

    base_path = args.btf or f"{SYSFS_BTF}/vmlinux"
    base: Optional[str] = None
    if args.module is None:
        source = base_path
    elif os.sep in args.module:
        source, base = args.module, base_path
    else:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.module) or args.module in (".", "..", "vmlinux"):
            raise UsageError(None, f"--module: {args.module!r} is not a kernel module name")
        source, base = os.path.join(SYSFS_BTF, args.module), base_path
        if not os.path.exists(source):
            raise BtfError(source, f"no BTF for module '{args.module}' (is the module loaded?)")
    # Handed over, not kept: the writer holds what it reads of the words, the rest can go.
    text = render_header(load_words(source, base), path=source)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
