"""`bpf-build inspect OBJ`: sections, symbols, programs, maps, BTF type counts."""

import argparse



def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("object")
    p.set_defaults(func=run)


def run(args):
    from ...model.elf import Object
    from ...loader.inspect import summarize
    print(summarize(Object.read(args.object)), end="")
