"""`bpf-build compile SRC... (-o OUT | --out-dir DIR)`: BPF C sources to objects with clang.

Up-to-date outputs are not recompiled; sources compile in parallel (-j); `--depfile` writes a
Make/ninja depfile for build systems such as Meson.
"""

import argparse
import os
import shlex
import sys

from ...project.targets import TARGET_HELP, resolve_target
from ...errors import CompileError, UsageError


def target_name(value: str) -> str:
    try:
        resolve_target(value)
    except CompileError as e:
        raise argparse.ArgumentTypeError(e.reason) from None
    return value


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="+", metavar="SRC")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", help="the object to write (one source only)")
    out.add_argument("--out-dir", help="write each SRC as DIR/<name>.o (x.bpf.c -> x.bpf.o)")
    p.add_argument("--target", type=target_name, default="native",
                   help=f"what to build for: {TARGET_HELP} (default: native, this machine)")
    p.add_argument("-I", dest="include_dirs", action="append", default=[], metavar="DIR",
                   help="add an include directory (repeatable)")
    p.add_argument("--cflags", default="", help="extra clang flags, shell-quoted, after the defaults (write --cflags=\"-DX -Wextra\")")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="compiles at once (default: the number of CPUs)")
    p.add_argument("--depfile", help="write a Make/ninja depfile for the output (with -o)")
    p.add_argument("--force", action="store_true", help="recompile even outputs that are up to date")
    p.add_argument("-v", "--verbose", action="store_true", help="name each source as it compiles")
    p.set_defaults(func=run)


def run(args):
    from ...project.compile import CompileJob, CompileOptions, compile_all, output_for
    if args.output and len(args.sources) != 1:
        raise UsageError(None, "-o takes one source; use --out-dir for several")
    if args.depfile and not args.output:
        raise UsageError(None, "--depfile needs -o")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(None, "-j needs a positive number")
    try:
        cflags = tuple(shlex.split(args.cflags))
    except ValueError as e:
        raise UsageError(None, f"--cflags: {e}") from None
    if args.output:
        jobs = [CompileJob(args.sources[0], args.output, args.depfile)]
    else:
        os.makedirs(args.out_dir, exist_ok=True)
        jobs = [CompileJob(s, output_for(s, args.out_dir)) for s in args.sources]
    options = CompileOptions(target=args.target, cflags=cflags, include_dirs=tuple(args.include_dirs))
    announce = (lambda job: print(f"compiling {job.source}", flush=True)) if args.verbose else None
    result = compile_all(jobs, options, parallel=args.jobs, force=args.force, on_compile=announce)
    if args.verbose:
        for job in result.up_to_date:
            print(f"up to date: {job.output}")
    sys.stdout.flush()
