"""The runtime's messages to the application, through one replaceable hook (libbpf's
``libbpf_set_print``).

Errors are raised, never only printed; the hook carries what is worth knowing without failing:
``"warn"`` (programs attach(skip_failed=True) skipped), ``"info"``, ``"debug"`` (the kernel's
verifier/BTF log of a successful ``load(log_level=N)``: the loader shares one log buffer among
its loads, so it is the log of the last one). The default prints warn and info to stderr and drops
debug, as libbpf's does.

    def hook(level, message):                     # level: "warn" | "info" | "debug"
        logging.getLogger("bpf").log(LEVELS[level], message)
    previous = bpf_build.runtime.set_print(hook)  # set_print(None) silences everything
"""

from __future__ import annotations

import sys
from typing import Callable, Optional

Printer = Callable[[str, str], None]
LEVELS = ("warn", "info", "debug")


def _default(level: str, message: str) -> None:
    if level != "debug":
        sys.stderr.write(f"bpf_build: {level}: {message}\n")


_printer: Optional[Printer] = _default


def set_print(printer: Optional[Printer]) -> Optional[Printer]:
    """Send the runtime's messages to ``printer(level, message)`` (None: nowhere); returns the
    previous hook so a caller can restore it."""
    global _printer
    previous, _printer = _printer, printer
    return previous


def _emit(level: str, message: str) -> None:
    if _printer is not None:
        _printer(level, message)


def warn(message: str) -> None:
    _emit("warn", message)


def info(message: str) -> None:
    _emit("info", message)


def debug(message: str) -> None:
    _emit("debug", message)
