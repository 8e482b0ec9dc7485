"""`bpf-build include-dir`: print the directory of bpf-build's C headers, for ``-I``.

C light skeletons include ``<bpf_build/loader.h>``: ``gcc -I "$(bpf-build include-dir)" ...``."""

import argparse

from ...headers import include_dir


def configure(p: argparse.ArgumentParser) -> None:
    p.set_defaults(func=run)


def run(args):
    print(include_dir())
