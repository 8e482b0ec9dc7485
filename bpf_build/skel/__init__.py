"""Skeleton renderers. Each module renders text from a model; none parses ELF or BTF itself.

Contract used by `bpf-build skel` (bpf_build/cli/commands/skel.py): a renderer module exposes
``generate(obj: bpf_build.elf.Object, name: str, **options) -> str``.
"""

from __future__ import annotations

import os
import re


def default_skeleton_name(object_path: str) -> str:
    """bpftool's rule: the file name without its ``.o``, non-identifier characters as ``_``.

    ``x.bpf.o`` gives ``x_bpf``."""
    base = os.path.basename(object_path)
    if base.endswith(".o"):
        base = base[:-2]
    name = re.sub(r"[^A-Za-z0-9_]", "_", base)
    if not name or name[0].isdigit():
        name = "_" + name
    return name
