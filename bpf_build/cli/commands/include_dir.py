"""`bpf-build include-dir`: print the directory of bpf-build's C headers, for ``-I``.

C light skeletons include ``<bpf_build/loader.h>``: ``gcc -I "$(bpf-build include-dir)" ...``.
The directory is ``bpf_build/include``, the one ``bpf_build.skel.light_c.include_dir()`` names;
it is found from this file's place rather than by importing the light skeleton generator, which
loads the loader generator and the runtime (~0.4 s of imports to print a path)."""

import argparse
import os


def configure(p: argparse.ArgumentParser) -> None:
    p.set_defaults(func=run)


def include_dir() -> str:
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return os.path.join(package, "include")


def run(args):
    print(include_dir())
