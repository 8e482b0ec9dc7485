"""`bpf-build skel OBJ -o OUT`: render a skeleton.

--lang c (default): bpftool-compatible C skeleton   -> bpf_build.skel.c
--lang c --light:   light skeleton on a loader prog -> bpf_build.skel.light_c
--lang python:      Python skeleton                 -> bpf_build.skel.python
"""

import argparse
import importlib
import sys

from ...errors import UsageError

RENDERERS = {("c", False): "c", ("c", True): "light_c", ("python", False): "python"}


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("object")
    p.add_argument("-o", "--output", help="output file (default: stdout)")
    p.add_argument("--name", help="skeleton name (default: object file name without .o, as bpftool)")
    p.add_argument("--lang", choices=("c", "python"), default="c")
    p.add_argument("--light", "-L", action="store_true", help="C light skeleton built on a loader program")
    p.add_argument("--subskeleton", action="store_true", help="C subskeleton (bpftool gen subskeleton)")
    p.set_defaults(func=run)


def run(args):
    from ...model.elf import Object
    from ...fileio import write_atomic
    from ...skel import default_skeleton_name
    if args.subskeleton and (args.light or args.lang != "c"):
        raise UsageError(None, "--subskeleton is only for C skeletons (not --light or --lang python)")
    if args.light and args.lang != "c":
        # A Python skeleton always loads through a loader program: there is no other kind.
        raise UsageError(None, "--light is only for C skeletons (a Python skeleton is always light)")
    module = importlib.import_module(f"bpf_build.skel.{RENDERERS[(args.lang, args.light)]}")
    obj = Object.read(args.object)
    name = args.name or default_skeleton_name(args.object)
    options = {"subskeleton": True} if args.subskeleton else {}
    text = module.generate(obj, name, **options)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
