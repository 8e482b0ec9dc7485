"""Skeleton renderers. Each module renders text from a model; none parses ELF or BTF itself.

Contract used by `bpf-build skel` (bpf_build/cli/commands/skel.py): a renderer module exposes
``generate(obj: bpf_build.model.elf.Object, name: str, **options) -> str``. Every name from the object
reaches the text through :mod:`.naming`; :func:`rendering_errors` turns what a malformed object
makes a renderer trip over into one error naming the file.
"""

from __future__ import annotations

import contextlib

from ..errors import BpfBuildError, SkeletonError
from .naming import default_skeleton_name

__all__ = ["default_skeleton_name", "rendering_errors"]


@contextlib.contextmanager
def rendering_errors(path):
    """Errors while rendering a skeleton of the object at ``path`` name that file: model errors
    raised without a path get it, and lookups a malformed object makes fail (a type id out of
    range, a size no type has) become a SkeletonError instead of a traceback."""
    try:
        yield
    except BpfBuildError as e:
        if e.path is None:
            raise SkeletonError(path, e.reason) from None
        raise
    except (KeyError, IndexError, ValueError, TypeError, AttributeError, RecursionError) as e:
        raise SkeletonError(path, f"malformed object: {e.__class__.__name__}: {e}") from None
