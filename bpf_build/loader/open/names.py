"""How libbpf names things at open time: the sections it recognises by name, the object's own
name, and the names of the maps it makes from global data (and bpftool's skeleton field names)."""

from __future__ import annotations

import os
import re
from typing import Optional

from ...runtime.uapi import BPF_OBJ_NAME_LEN as BPF_OBJ_NAME_LEN  # loader.open exports it too
from .model import OpenedMap

MAPS_SEC, KCONFIG_SEC, KSYMS_SEC = ".maps", ".kconfig", ".ksyms"
STRUCT_OPS_SECS = (".struct_ops", ".struct_ops.link", "?.struct_ops", "?.struct_ops.link")
ARENA_SEC = ".addr_space.1"
JUMPTABLES_SEC = ".jumptables"


def default_object_name(path: Optional[str]) -> str:
    """libbpf's name for an object opened from a file: its base name up to the first dot."""
    base = os.path.basename(path or "") or "object"
    return base.split(".", 1)[0][:BPF_OBJ_NAME_LEN - 1] or "object"


def internal_map_name(obj_name: str, real_name: str) -> str:
    """libbpf's kernel-visible name for a global-data map (see internal_map_name in libbpf).

    ``.data``/``.rodata``/``.bss``/``.kconfig`` get as much of the object name as fits in front
    (7 characters are reserved for the suffix even when it is shorter); custom ``.data.foo``
    style sections use their own name only. The result is at most 15 characters."""
    sfx_len = min(max(7, len(real_name)), BPF_OBJ_NAME_LEN - 1)
    pfx_len = 0 if "." in real_name[1:] else min(BPF_OBJ_NAME_LEN - sfx_len - 1, len(obj_name))
    name = (obj_name[:pfx_len] + real_name[:sfx_len])[:BPF_OBJ_NAME_LEN - 1]
    return re.sub(r"[^A-Za-z0-9_.]", "_", name)


def skeleton_ident(m: OpenedMap) -> Optional[str]:
    """bpftool's skeleton field name for a map (get_map_ident): BTF maps by name, internal maps
    by what follows the object prefix, non-identifier characters as ``_``."""
    if not m.is_internal:
        return m.name
    # A custom section's map name is cut to 15 characters for the kernel; bpftool names the field
    # after the whole section (``.data.read_mostly`` -> ``data_read_mostly``), as libbpf 1.1 does.
    name = m.real_name if m.name.startswith(".") else m.name
    for sfx in (".data", ".rodata", ".bss", ".kconfig"):
        p = name.find(sfx)
        if p >= 0:
            return re.sub(r"[^A-Za-z0-9_]", "_", name[p + 1:])
    return None
