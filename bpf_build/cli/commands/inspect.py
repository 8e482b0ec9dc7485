"""`bpf-build inspect OBJ`: sections, symbols, programs, maps, BTF type counts."""

from ...model.elf import Object
from ...loader.inspect import summarize


def register(sub):
    p = sub.add_parser("inspect", help="summarize a BPF object")
    p.add_argument("object")
    p.set_defaults(func=run)


def run(args):
    print(summarize(Object.read(args.object)), end="")
