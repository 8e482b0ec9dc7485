"""`bpf-build` entry point.

Sub-commands live one per module in ``bpf_build.cli.commands``; each module defines
``register(subparsers)`` which adds its parser and sets ``func`` to a callable taking the parsed
arguments. Discovering them keeps this file free of per-command edits.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import List, Optional

from . import commands
from .common import ArgumentParser, run_cli
from .version import add_version_option


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="bpf-build", description="Build, inspect and ship BPF objects.")
    add_version_option(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    sub.required = True
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    code = run_cli(lambda: args.func(args))
    sys.stdout.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
