"""Open phase 4, libbpf's ``bpf_object__init_progs``: each entry program's type, expected attach
type and flags from its section name (``section_defs``), and what it attaches to."""

from __future__ import annotations

from ...runtime.uapi import ProgType
from .. import section_defs as S
from .state import OpenState


def init_programs(st: OpenState) -> None:
    """Match each entry program's section against the section definitions; subprograms have no
    type of their own."""
    for p in st.out.programs:
        d = S.find_sec_def(p.section)
        p.sec_def = d
        if d is None:
            continue  # libbpf leaves the type unset; the loader generator reports it
        p.type = d.prog_type
        p.expected_attach_type = d.expected_attach_type
        p.prog_flags = d.prog_flags
        slash = p.section.find("/")
        p.attach_target = p.section[slash + 1:] if slash >= 0 else None
        if d.flags & S.SEC_ATTACH_BTF and p.attach_target and p.type != ProgType.EXT:
            prefix, kind = S.kernel_btf_prefix_kind(p.expected_attach_type)
            p.attach_btf = (prefix + p.attach_target, kind)
    for p in st.out.subprograms:
        p.type = 0
