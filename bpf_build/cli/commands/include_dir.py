"""`bpf-build include-dir`: print the directory of bpf-build's C headers, for ``-I``.

C light skeletons include ``<bpf_build/loader.h>``: ``gcc -I "$(bpf-build include-dir)" ...``."""

from ...skel.light_c import include_dir


def register(sub):
    p = sub.add_parser("include-dir", help="print the directory of bpf-build's C headers (for -I)")
    p.set_defaults(func=run)


def run(args):
    print(include_dir())
