"""The cyclic garbage collector paused while a phase builds many objects that form no cycles.

Parsing vmlinux's BTF, a library's DWARF type surface, a diff of two ABI snapshots: each creates
tens or hundreds of thousands of records, dicts and lists that reference no cycles, so the
collector's passes over the growing heap would free nothing. Kept in a module of its own, importing
nothing of the project, so every command can use it without loading the BTF model.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Iterator

__all__ = ["paused_gc"]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many acyclic objects.

    Parsing vmlinux creates ~350k records that reference no cycles; left on, the collector would
    walk the growing heap again and again (about 40% of the parse time). Re-enabled as is, its
    first young collection would still walk them all once (~75 ms for vmlinux): instead they
    are moved to the oldest generation unexamined (``gc.freeze`` then ``gc.unfreeze``, two
    list splices), where only a full collection looks at them. That promotes whatever else was
    young too, which a full collection still frees; it is skipped if the program has frozen
    objects of its own (unfreezing would release them). Nested pauses leave it to the outermost."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()
