"""``--version`` for every bpf-build command line tool: one spelling, one source of the number."""

from __future__ import annotations

import argparse


def add_version_option(parser: argparse.ArgumentParser) -> None:
    from ..version import __version__
    parser.add_argument("--version", action="version", version=f"{parser.prog} (bpf-build) {__version__}")
