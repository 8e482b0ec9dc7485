"""`bpf-build btf dump OBJ|BTF-FILE [--base BTF]`: the types, one per line (bpftool raw style).

The dump reads the BTF as words (model/btf/words.py) and prints from them: no record is built,
so vmlinux's dump needs a few MiB besides its input, not the ~100 MiB of a parsed model."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Optional, cast

from ...errors import BtfError
from ...fileio import read_bytes
from ...model.btf import Btf
from ...model.btf.text import dump_words
from ...model.btf.validate import validate
from ...model.btf.words import TypeWords, read_words

if TYPE_CHECKING:
    from ...model.elf import Object


def configure(p: argparse.ArgumentParser) -> None:
    bsub = p.add_subparsers(dest="btf_command", metavar="ACTION")
    bsub.required = True
    d = bsub.add_parser("dump", help="print BTF types in a stable text form")
    d.add_argument("source", help="a BPF object (.BTF section) or a raw BTF file such as /sys/kernel/btf/vmlinux")
    d.add_argument("--base", help="base BTF for split BTF (default for /sys/kernel/btf/<module>: vmlinux)")
    d.set_defaults(func=run_dump)


def _object(data: bytes, source: str) -> Object:
    """The ELF object in ``data``, read with all its checks; BtfError if it has no BTF."""
    from ...model.elf import Object  # only for objects: a raw BTF dump needs less in memory

    obj = Object.read(data, path=source)
    if obj.btf is None:
        raise BtfError(source, "object has no .BTF section")
    return obj


def _base_path(source: str, base_path: Optional[str]) -> Optional[str]:
    """The base BTF: the one given, or vmlinux for a kernel module's /sys/kernel/btf/<module>."""
    if base_path is None and source.startswith("/sys/kernel/btf/") and not source.endswith("/vmlinux"):
        return "/sys/kernel/btf/vmlinux"
    return base_path


def load_btf(source: str, base_path: Optional[str] = None) -> Btf:
    """A Btf from an ELF object or a raw BTF file; module BTF gets vmlinux as its base."""
    data = read_bytes(source, BtfError)
    if data[:4] == b"\x7fELF":
        return cast(Btf, _object(data, source).btf)
    base_path = _base_path(source, base_path)
    base = Btf.from_file(base_path) if base_path else None
    return Btf.parse(data, source, base=base)


def load_words(source: str, base_path: Optional[str] = None) -> TypeWords:
    """``load_btf`` read as words (no record made), validated."""
    data = read_bytes(source, BtfError)
    if data[:4] == b"\x7fELF":
        section = _object(data, source).section(".BTF")  # its BTF parsed and checked with it
        assert section is not None
        return read_words(bytes(section.data), source)
    base_path = _base_path(source, base_path)
    base = None
    if base_path:
        base = read_words(read_bytes(base_path, BtfError), base_path, names_pending=True)
        validate(base)
    types = read_words(data, source, base, names_pending=True)  # validate checks the names
    del data  # the words hold all the dump needs: ~5 MiB less for vmlinux
    validate(types)
    return types


def run_dump(args: argparse.Namespace) -> None:
    types = load_words(args.source, args.base)
    write = sys.stdout.write
    for chunk in dump_words(types):  # as it comes: vmlinux's dump is ~12 MB of text
        write(chunk)
