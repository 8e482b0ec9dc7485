"""`bpf-build loader explain FILE`: what a loader program will do, one operation per line.

FILE is a BPF object (its loader is generated first) or a light skeleton header, ours or
bpftool's (its embedded loader is read back by following its instructions)."""

import argparse

from ...errors import LoaderError


def configure(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    e = actions.add_parser("explain", help="list the bpf() operations a loader performs, in order")
    e.add_argument("file", help="a BPF object (.o) or a light skeleton header (.lskel.h)")
    e.add_argument("--name", help="object name used for global-data maps (default: as bpftool)")
    e.set_defaults(func=run_explain)


def run_explain(args):
    from ...model.elf import Object
    from ...fileio import read_bytes
    from ...loader.explain import describe_loader, find_embedded_loader
    from ...loader.gen import loader_for_object
    from ...skel import default_skeleton_name
    data = read_bytes(args.file, LoaderError)
    if data.startswith(b"\x7fELF"):
        obj = Object.read(data, args.file)
        loader = loader_for_object(obj, args.name or default_skeleton_name(args.file))
        insns, blob, byteorder = loader.insns, loader.blob, loader.byteorder
    else:
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise LoaderError(args.file, "neither a BPF object nor a light skeleton header") from None
        insns, blob = find_embedded_loader(text, args.file)
        byteorder = "little"
    lines = describe_loader(insns, blob, byteorder, args.file)
    print(f"{args.file}: {len(insns)} instructions, {len(blob)} bytes of data, "
          f"{len(lines)} operations")
    width = len(str(len(lines)))
    for i, line in enumerate(lines, 1):
        print(f"  {i:>{width}}  {line}")
