"""`bpf-build` entry point: the list of sub-commands, and the one that runs.

Each sub-command is a module of ``bpf_build.cli.commands`` defining ``configure(parser)``, which
adds its arguments and sets ``func`` to a callable taking the parsed arguments. Only the module
of the command being run is imported: ``bpf-build --help`` and each command load just what they
need (the compile driver does not load the BTF model, nor the linker the skeleton renderers).
"""

from __future__ import annotations

import importlib
import sys

from .common import ArgumentParser, run_cli
from .version import add_version_option

TYPE_CHECKING = False  # typing is not loaded for --help: annotations only
if TYPE_CHECKING:
    from typing import List, Optional, Sequence


class Command:
    """A sub-command (a plain class: typing.NamedTuple would load typing for --help)."""

    __slots__ = ("name", "module", "help")

    def __init__(self, name: str, module: str, help: str) -> None:
        self.name = name        # as typed: bpf-build NAME ...
        self.module = module    # its module in bpf_build.cli.commands
        self.help = help        # its line in `bpf-build --help`


COMMANDS = (
    Command("btf", "btf", "BTF tools"),
    Command("compile", "compile", "compile BPF C sources into BPF objects with clang"),
    Command("include-dir", "include_dir", "print the directory of bpf-build's C headers (for -I)"),
    Command("inspect", "inspect", "summarize a BPF object"),
    Command("loader", "loader", "inspect loader programs"),
    Command("skel", "skel", "generate a skeleton (C, light C, or Python) for a BPF object"),
    Command("vmlinux", "vmlinux", "write kernel BTF types as a C header (vmlinux.h) for CO-RE programs"),
)


def build_parser(command: Optional[str] = None) -> ArgumentParser:
    """The parser of ``bpf-build``; of the sub-commands only ``command`` gets its arguments (and
    its module imported): the others are there for --help and the "invalid choice" message."""
    parser = ArgumentParser(prog="bpf-build", description="Build, inspect and ship BPF objects.")
    add_version_option(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for entry in COMMANDS:
        command_parser = sub.add_parser(entry.name, help=entry.help)
        if entry.name == command:
            importlib.import_module(f"{__package__}.commands.{entry.module}").configure(command_parser)
    return parser


def command_named_in(argv: Sequence[str]) -> Optional[str]:
    """The sub-command an argument list names: bpf-build's own options take no value, so it is
    the first argument that is not an option."""
    return next((arg for arg in argv if arg == "-" or not arg.startswith("-")), None)


def main(argv: Optional[List[str]] = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(command_named_in(argv)).parse_args(argv)
    code = run_cli(lambda: args.func(args))
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
