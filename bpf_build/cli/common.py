"""What every CLI shares: turning BpfBuildError into one line and an exit code."""

from __future__ import annotations

import argparse
import os
import sys

# typing and bpf_build.errors (which imports typing) are not loaded for --help: the names below
# are for annotations only, and run_cli imports the error class when it runs a command.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Optional


def _terminal_columns() -> int:
    """shutil.get_terminal_size().columns, without importing shutil (with bz2, lzma and zlib:
    ~2 ms of every command's start-up, for argparse's help width): $COLUMNS, else the terminal
    of stdout, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        stdout = sys.__stdout__
        try:
            columns = os.get_terminal_size(stdout.fileno()).columns if stdout is not None else 0
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, its width found without shutil (argparse makes one for every
    argument added, so the default one loads shutil even when no help is printed)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: Optional[int] = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         width if width is not None else _terminal_columns() - 2)


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits 2 with one line on usage errors (argparse already does, kept
    explicit), and formats help with HelpFormatter unless told otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401 - argparse API
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def run_cli(body: Callable[[], Optional[int]]) -> int:
    """Run a CLI body; map our errors to 'error: <file>: <reason>' and their exit code."""
    from ..errors import BpfBuildError
    try:
        return body() or 0
    except BpfBuildError as e:
        # Readers refuse names that are not UTF-8, but a message must never be what fails:
        # anything unprintable in it is written escaped.
        line = f"error: {e.one_line()}".encode("utf-8", "backslashreplace").decode("utf-8")
        print(line, file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def exit_with(code: int) -> None:
    sys.stdout.flush()
    sys.exit(code)


def parse_or_exit(parser: argparse.ArgumentParser, argv: Optional[List[str]]):
    return parser.parse_args(argv)
