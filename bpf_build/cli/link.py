"""`bpf-link`: link BPF objects into one, like `bpftool gen object OUT IN...` (libbpf's linker).

Usage: ``bpf-link IN.o... -o OUT``. ``-o`` is required, as ``bpftool gen object`` requires its
output: ld's ``a.out`` would name a BPF object like an executable, and naming it after an input
would overwrite that input on a slip. The linker module is imported only once the arguments are
parsed, to keep start-up fast: nothing here imports the BTF model or the dedup (``--help`` loads
argparse and this file), so the dedup flavours are spelled out below; they are the values of
``bpf_build.btf.dedup.FLAVOURS``, which checks the one it is given (an unknown name is refused
there).
"""

from __future__ import annotations

import sys

from .common import ArgumentParser, run_cli
from .version import add_version_option

TYPE_CHECKING = False  # typing is not loaded for --help: annotations only
if TYPE_CHECKING:
    from typing import List, Optional


# bpf_build.btf.dedup's LIBBPF and BPFTOOL_7_1, in its FLAVOURS order (not imported: it loads the
# whole BTF model and dedup, 20+ ms, for --help).
DEDUP_FLAVOURS = ("libbpf-1.1", "bpftool-7.1")
DEFAULT_DEDUP_FLAVOUR = "bpftool-7.1"


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="bpf-link",
        description="Statically link BPF object files into one (libbpf linker semantics, the "
                    "same output as `bpftool gen object`).")
    add_version_option(parser)
    parser.add_argument("inputs", nargs="+", metavar="IN.o", help="BPF ELF objects (ET_REL)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="the linked object to write")
    parser.add_argument("--btf-dedup", choices=DEDUP_FLAVOURS, default=DEFAULT_DEDUP_FLAVOUR,
                        help="whose BTF deduplication to reproduce: bpftool 7.1's (default, "
                             "byte-identical output) or libbpf 1.1's and later, which also "
                             "resolves unambiguous forward declarations")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        import gc

        from ..link.linker import link

        # A short-lived process that allocates hundreds of thousands of small objects and
        # makes no reference cycles: collecting them cyclically only costs time (half of it).
        gc.disable()

        linked = link(args.inputs, btf_dedup=args.btf_dedup)
        linked.write(args.output)
        return 0

    code = run_cli(body)
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
