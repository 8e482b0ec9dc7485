"""`bpf-abi`: ABI checks for C libraries that follow libbpf's conventions.

    bpf-abi check --map libbpf.map LIB.so [--objects O.o ...] [--version-header H | --release X.Y]
    bpf-abi diff OLD NEW          (each a .so or a baseline written by dump)
    bpf-abi dump LIB.so -o baseline.json

Exit status: 0 clean, 1 ABI problems found, 2 bad input or usage.
"""

from __future__ import annotations

import sys
from typing import List, Optional

from ..abi.check import CheckInputs, run_check
from ..abi.diff import diff_snapshots
from ..abi.dwarftypes import definition_lines
from ..abi.elfread import read_object_symbols, read_shared_library
from ..abi.findings import Outcome
from ..abi.naming import DEFAULT_OBJECTS, DEFAULT_PREFIXES, NamingPolicy
from ..abi.release import format_release, parse_release, read_release_header
from ..abi.report import FORMATS, render
from ..abi.snapshot import load_snapshot, snapshot_from_library, snapshot_to_json
from ..abi.versionscript import read_version_script
from ..errors import AbiError, BpfBuildError
from ..fileio import write_atomic
from .common import ArgumentParser, run_cli


def _add_format_options(p) -> None:
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default), json, or github workflow annotations")
    p.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="bpf-abi", description="ABI checks for libbpf-style C libraries.")
    sub = parser.add_subparsers(dest="command", metavar="{check,diff,dump}", parser_class=ArgumentParser)
    sub.required = True

    check = sub.add_parser("check", help="check a library against its version script and naming rules")
    check.add_argument("library", metavar="LIB.so")
    check.add_argument("--map", required=True, metavar="MAP", help="the GNU ld version script (libbpf.map)")
    check.add_argument("--objects", nargs="+", default=[], metavar="O.o",
                       help="the library's objects: report globals the map does not list")
    release = check.add_mutually_exclusive_group()
    release.add_argument("--version-header", metavar="H",
                         help="header defining <PREFIX>_MAJOR_VERSION and <PREFIX>_MINOR_VERSION")
    release.add_argument("--release", metavar="X.Y", help="the library's release version")
    check.add_argument("--prefix", action="append", default=[], metavar="P",
                       help="allowed export prefix, repeatable; replaces the defaults "
                            f"({', '.join(DEFAULT_PREFIXES)})")
    check.add_argument("--object", action="append", default=[], metavar="NAME",
                       help="allow NAME__method object-style exports, repeatable; replaces the default "
                            f"({', '.join(DEFAULT_OBJECTS)})")
    check.add_argument("--node-prefix", default="LIBBPF", metavar="PREFIX",
                       help="version nodes are named PREFIX_x.y.z (default LIBBPF)")
    _add_format_options(check)

    diff = sub.add_parser("diff", help="compare a new library (or baseline) with a released one")
    diff.add_argument("old", metavar="OLD")
    diff.add_argument("new", metavar="NEW")
    diff.add_argument("--no-types", action="store_true", help="skip DWARF type comparison")
    _add_format_options(diff)

    dump = sub.add_parser("dump", help="write a reviewable JSON baseline of a library's ABI")
    dump.add_argument("library", metavar="LIB.so")
    dump.add_argument("-o", "--output", metavar="FILE", help="write here (atomically) instead of stdout")
    dump.add_argument("--no-types", action="store_true", help="leave DWARF types out of the baseline")
    return parser


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _finish(outcome: Outcome, fmt: str) -> int:
    sys.stdout.write(render(outcome, fmt))
    return 0 if outcome.clean else 1


def cmd_check(args) -> int:
    script = read_version_script(args.map)
    if not script.nodes:
        raise AbiError(args.map, "no version nodes")
    library = read_shared_library(args.library)
    objects = [sym for path in args.objects for sym in read_object_symbols(path)]
    release, source = None, "--release"
    if args.release is not None:
        release = parse_release(args.release)
    elif args.version_header is not None:
        release, source = read_release_header(args.version_header, args.node_prefix), args.version_header
    inputs = CheckInputs(script, library, objects, release, source,
                         NamingPolicy.from_options(args.prefix, args.object), args.node_prefix,
                         locate=definition_lines)
    outcome = Outcome("check", run_check(inputs))
    outcome.summary = f"{len(library.exports)} exported symbols, {_count(len(script.nodes), 'version node')}"
    if release is not None:
        outcome.summary += f", release {format_release(release)}"
    return _finish(outcome, args.format)


def cmd_diff(args) -> int:
    old = load_snapshot(args.old, with_types=not args.no_types)
    new = load_snapshot(args.new, with_types=not args.no_types)
    outcome = Outcome("diff")
    outcome.findings = diff_snapshots(old, new, outcome.notes)
    if args.no_types:
        outcome.notes[:] = [n for n in outcome.notes if not n.startswith("types not compared")]
    outcome.summary = f"{len(new.symbols)} symbols, {_count(len(new.versions), 'version node')}"
    return _finish(outcome, args.format)


def cmd_dump(args) -> int:
    snap = snapshot_from_library(read_shared_library(args.library), with_types=not args.no_types)
    text = snapshot_to_json(snap)
    if args.output:
        try:
            write_atomic(args.output, text)
        except BpfBuildError as e:  # an unwritable output is bad usage: exit 2 like other bad input
            raise AbiError(e.path, e.reason) from None
    else:
        sys.stdout.write(text)
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"check": cmd_check, "diff": cmd_diff, "dump": cmd_dump}
    return run_cli(lambda: commands[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
