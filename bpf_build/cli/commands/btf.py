"""`bpf-build btf dump OBJ|BTF-FILE [--base BTF]`: the types, one per line (bpftool raw style)."""

import argparse
import sys

from ...model.btf import Btf
from ...model.btf.text import dump_raw_chunks
from ...model.elf import Object
from ...errors import BtfError
from ...fileio import read_bytes


def configure(p: argparse.ArgumentParser) -> None:
    bsub = p.add_subparsers(dest="btf_command", metavar="ACTION")
    bsub.required = True
    d = bsub.add_parser("dump", help="print BTF types in a stable text form")
    d.add_argument("source", help="a BPF object (.BTF section) or a raw BTF file such as /sys/kernel/btf/vmlinux")
    d.add_argument("--base", help="base BTF for split BTF (default for /sys/kernel/btf/<module>: vmlinux)")
    d.set_defaults(func=run_dump)


def load_btf(source: str, base_path=None) -> Btf:
    """A Btf from an ELF object or a raw BTF file; module BTF gets vmlinux as its base."""
    data = read_bytes(source, BtfError)
    if data[:4] == b"\x7fELF":
        obj = Object.read(data, path=source)
        if obj.btf is None:
            raise BtfError(source, "object has no .BTF section")
        return obj.btf
    if base_path is None and source.startswith("/sys/kernel/btf/") and not source.endswith("/vmlinux"):
        base_path = "/sys/kernel/btf/vmlinux"
    base = Btf.from_file(base_path) if base_path else None
    return Btf.parse(data, source, base=base)


def run_dump(args):
    btf = load_btf(args.source, args.base)
    write = sys.stdout.write
    for chunk in dump_raw_chunks(btf):  # as it comes: vmlinux's dump is ~12 MB of text
        write(chunk)
