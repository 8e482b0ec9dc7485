"""Open phase 3b, libbpf's arena part of ``bpf_object__init_user_btf_maps``: the one
BPF_MAP_TYPE_ARENA map of an object (Linux 6.9+) and the ``__arena`` globals clang puts in
``.addr_space.1``.

Those globals live in the arena itself, not in a map value: their bytes become the arena map's
``initial_value`` (what libbpf keeps as ``obj->arena_data``), which the runner copies into the
arena's mmap once the map exists, at ``ARENA_GLOBALS_OFFSET``; a program's ld_imm64 of such a
global becomes a map-value reference into the arena map at that offset plus the variable's
(relocs.py). libbpf puts them at the arena's start unless the loading kernel takes ld_imm64
offsets over the whole arena, which only the machine that loads knows; a loader is generated once
for every kernel, so its globals always sit at the start."""

from __future__ import annotations

import resource

from ...runtime.arena import ARENA_GLOBALS_OFFSET
from ...runtime.uapi import MapType
from .names import ARENA_SEC
from .state import OpenState

__all__ = ["ARENA_GLOBALS_OFFSET", "init_arena"]


def init_arena(st: OpenState) -> None:
    """Find the arena map (at most one), and hand it the globals of ``.addr_space.1``."""
    arenas = [m for m in st.out.maps if m.type == MapType.ARENA]
    if len(arenas) > 1:
        st.fail(f"map '{arenas[1].name}': only one ARENA map is supported (map '{arenas[0].name}' is also one)")
    if st.arena_index is None:
        return
    sec = st.obj.sections[st.arena_index]
    if not arenas:
        st.fail(f"section '{ARENA_SEC}': __arena global variables need an ARENA map declared in SEC(\".maps\")")
    arena = arenas[0]
    page = resource.getpagesize()
    arena_size = arena.max_entries * page
    needed = -(-sec.size // page) * page
    if ARENA_GLOBALS_OFFSET + needed > arena_size:
        st.fail(f"section '{ARENA_SEC}': ARENA map '{arena.name}' ({arena.max_entries} pages, {arena_size} "
                f"bytes) is too small for {sec.size} bytes of __arena global variables")
    arena.initial_value = bytes(sec.data)
