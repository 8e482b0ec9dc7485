"""`bpf-abi`: ABI checks for C libraries that follow libbpf's conventions.

    bpf-abi check --map libbpf.map LIB.so [--objects O.o ...] [--version-header H | --release X.Y]
    bpf-abi diff OLD NEW [--headers DIR ...] [--suppressions FILE] [--strict]
                                  (each a .so or a baseline written by dump)
    bpf-abi dump LIB.so -o baseline.json [--headers DIR ...]

Exit status: 0 clean or only compatible changes, 1 incompatible changes (with --strict also
compatible ones), 2 bad input or usage. Settings may also come from [tool.bpf-abi] in the
project's pyproject.toml (see bpf_build/abi/settings.py).

Only what a command needs is imported: --help and JSON baselines never load the DWARF reader.
"""

from __future__ import annotations

import os
import sys
from typing import List, Optional

from ..abi.findings import Outcome
from ..abi.naming import DEFAULT_OBJECTS, DEFAULT_PREFIXES
from ..abi.report import FORMATS, render
from ..errors import AbiError, BpfBuildError
from .common import ArgumentParser, run_cli
from .version import add_version_option


def _add_format_options(p) -> None:
    p.add_argument("--format", choices=FORMATS, default="text",
                   help="text (default), json, or github workflow annotations")
    p.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    p.add_argument("--root", metavar="DIR", default=None,
                   help="the repository: file names are shown relative to it, and its pyproject.toml's "
                        "[tool.bpf-abi] gives defaults (default: the current directory)")


def _add_type_options(p) -> None:
    p.add_argument("--no-types", action="store_true", help="compare symbols and versions only, not DWARF types")
    p.add_argument("--headers", action="append", default=None, metavar="DIR",
                   help="public headers (a file or directory; repeatable): only types they expose are ABI; a "
                        "struct they only forward-declare is opaque (like abidiff --hd1/--hd2)")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="bpf-abi", description="ABI checks for libbpf-style C libraries.")
    add_version_option(parser)
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
    _add_type_options(diff)
    diff.add_argument("--old-headers", action="append", default=None, metavar="DIR",
                      help="the released public headers, when they differ from --headers; repeatable")
    diff.add_argument("--suppressions", metavar="FILE", help="TOML file of reviewed findings to accept")
    diff.add_argument("--size-versioned", action="append", default=None, metavar="TYPE",
                      help="a struct whose callers pass its size (\"struct foo\"), so it may grow; repeatable")
    diff.add_argument("--strict", action="store_true", default=None,
                      help="exit 1 on compatible changes (and unused suppressions) too")
    _add_format_options(diff)

    dump = sub.add_parser("dump", help="write a reviewable JSON baseline of a library's ABI")
    dump.add_argument("library", metavar="LIB.so")
    dump.add_argument("-o", "--output", metavar="FILE",
                      help="write here (atomically) instead of stdout; an existing baseline is only replaced "
                           "when the library is compatible with it")
    _add_type_options(dump)
    dump.add_argument("--accept-incompatible", action="store_true",
                      help="replace the baseline even though the library breaks it (a new major version)")
    _add_format_options(dump)
    return parser


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _finish(outcome: Outcome, args, strict: bool = False) -> int:
    sys.stdout.write(render(outcome, args.format, args.root))
    return outcome.exit_code(strict)


def cmd_check(args) -> int:
    from ..abi.check import CheckInputs, run_check
    from ..abi.dwarftypes import definition_lines
    from ..abi.elfread import read_object_symbols, read_shared_library
    from ..abi.naming import NamingPolicy
    from ..abi.release import format_release, parse_release, read_release_header
    from ..abi.versionscript import read_version_script

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
    return _finish(outcome, args)


def _settings(args):
    from ..abi.settings import load_settings

    return load_settings(args.root if args.root is not None else os.getcwd())


def _headers(paths):
    from ..abi.public import PublicHeaders

    return PublicHeaders.from_paths(paths) if paths else None


def _compare(old, new, settings, suppressions: Optional[str]) -> Outcome:
    from ..abi.diff import diff_snapshots

    outcome = Outcome("diff")
    outcome.findings = diff_snapshots(old, new, outcome.notes, settings.size_versioned)
    if old.types is None and new.types is None:  # --no-types: asked for, nothing to note
        outcome.notes[:] = [n for n in outcome.notes if not n.startswith("types not compared")]
    if suppressions:
        from ..abi.suppress import load_suppressions

        outcome.findings = load_suppressions(suppressions).apply(outcome.findings)
    outcome.summary = f"{len(new.symbols)} symbols, {_count(len(new.versions), 'version node')}"
    return outcome


def cmd_diff(args) -> int:
    from ..abi.snapshot import load_snapshot

    settings = _settings(args)
    if args.size_versioned:
        settings.size_versioned = args.size_versioned
    new_headers = args.headers if args.headers is not None else settings.headers
    old_headers = args.old_headers if args.old_headers is not None else (settings.old_headers or new_headers)
    with_types = not args.no_types
    new_public = _headers(new_headers) if with_types else None
    old_public = new_public if old_headers == new_headers else (_headers(old_headers) if with_types else None)
    old = load_snapshot(args.old, with_types, old_public)
    new = load_snapshot(args.new, with_types, new_public)
    outcome = _compare(old, new, settings, args.suppressions or settings.suppressions)
    return _finish(outcome, args, args.strict if args.strict is not None else settings.strict)


def cmd_dump(args) -> int:
    from ..abi.elfread import read_shared_library
    from ..abi.snapshot import load_snapshot, snapshot_from_library, snapshot_to_json
    from ..fileio import write_atomic

    settings = _settings(args)
    with_types = not args.no_types
    headers = _headers(args.headers if args.headers is not None else settings.headers) if with_types else None
    snap = snapshot_from_library(read_shared_library(args.library), with_types, headers)
    text = snapshot_to_json(snap)
    if not args.output:
        sys.stdout.write(text)
        return 0
    if os.path.exists(args.output) and not args.accept_incompatible:
        # Re-dumping must not silently accept a break: the old baseline has to allow the new one.
        outcome = _compare(load_snapshot(args.output, with_types), snap, settings, settings.suppressions)
        if not outcome.clean:
            outcome.command = "dump"
            outcome.notes.append(f"{args.output} not replaced: the library breaks it; pass --accept-incompatible "
                                 "for a new major version")
            sys.stdout.write(render(outcome, args.format, args.root))
            return 1
    try:
        write_atomic(args.output, text)
    except BpfBuildError as e:  # an unwritable output is bad usage: exit 2 like other bad input
        raise AbiError(e.path, e.reason) from None
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"check": cmd_check, "diff": cmd_diff, "dump": cmd_dump}
    return run_cli(lambda: commands[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
