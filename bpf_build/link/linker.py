"""Static linker for BPF objects: libbpf's ``bpf_linker`` (what ``bpftool gen object`` runs).

``link(inputs)`` takes Objects (or paths, or ELF bytes) and returns one Object. It follows
libbpf's linker step for step, because the order in which libbpf creates sections, symbols,
strings and BTF types is what makes our output byte-identical to bpftool's. ``link`` below is
the list of phases, in libbpf's order; each is a function over the typed state of state.py:

per input: read and check it, fix up its DATASEC sizes and VAR offsets (inputs.py), then append
its section data (sections.py), symbols, resolving globals, weak and extern symbols
(symbols.py), relocations (relocs.py), BTF types (btf.py) and .BTF.ext records (btf_ext.py);
at the end: DATASECs for the merged sections, .BTF.ext assembled, BTF deduplicated
(``btf_dedup``), and the sections emitted (finalize.py).

Every conflict is a ``LinkError`` naming the input being added and, in its one-line reason, the
symbol or section, the earlier input it conflicts with and what differs.
"""

from __future__ import annotations

from typing import Sequence

from ..btf.dedup import BPFTOOL_7_1, FLAVOURS as DEDUP_FLAVOURS
from ..errors import LinkError
from ..model.elf import Object
from .btf import append_btf
from .btf_ext import append_btf_ext, build_btf_ext
from .finalize import add_datasecs, dedup_btf, emit_object
from .inputs import Input, load_input
from .relocs import append_relocations
from .sections import append_sections
from .state import LinkerState
from .symbols import append_symbols

__all__ = ["Input", "link"]


def link(inputs: Sequence[Input], *, btf_dedup: str = BPFTOOL_7_1) -> Object:
    """Link BPF objects into one, as ``bpftool gen object`` does. Raises LinkError (or the
    ElfError/BtfError of an unreadable input).

    ``btf_dedup`` names the libbpf whose BTF deduplication to reproduce (see btf.dedup): by
    default bpftool 7.1's, so the output is byte-identical to `bpftool gen object` there;
    btf.dedup.LIBBPF for libbpf 1.1 and later, which also resolves forward declarations."""
    if not inputs:
        raise LinkError(None, "no input objects")
    if btf_dedup not in DEDUP_FLAVOURS:
        raise LinkError(None, f"unknown BTF dedup flavour '{btf_dedup}' (expected one of "
                              f"{', '.join(DEDUP_FLAVOURS)})")
    state = LinkerState(btf_dedup)
    for position, item in enumerate(inputs):
        _append_input(state, item, position)
    # Only the appending needs the names' index (~2.5 MiB for 20 vmlinux.h inputs): let it go
    # before the dedup, the link's peak.
    state.btf_names.clear()
    btf_ext = None
    if state.btf.offsets:                        # linker_finalize_btf
        add_datasecs(state)
        btf_ext = build_btf_ext(state)
        dedup_btf(state, btf_ext)
    return emit_object(state, btf_ext)           # bpf_linker__finalize's ELF


def _append_input(state: LinkerState, item: Input, position: int) -> None:
    """One input's phases. A function of its own so that the input (its ELF data, its BTF's
    string table) is let go once appended, before the next one is read."""
    src = load_input(state, item, position)  # linker_load_obj
    append_sections(state, src)              # linker_append_sec_data
    append_symbols(state, src)               # linker_append_elf_syms
    append_relocations(state, src)           # linker_append_elf_relos
    append_btf(state, src)                   # linker_append_btf
    append_btf_ext(state, src)               # linker_append_btf_ext
