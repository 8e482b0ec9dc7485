"""What every CLI shares: turning BpfBuildError into one line and an exit code."""

from __future__ import annotations

import argparse
import sys

# typing and bpf_build.errors (which imports typing) are not loaded for --help: the names below
# are for annotations only, and run_cli imports the error class when it runs a command.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Optional


class ArgumentParser(argparse.ArgumentParser):
    """argparse that exits 2 with one line on usage errors (argparse already does, kept explicit)."""

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
