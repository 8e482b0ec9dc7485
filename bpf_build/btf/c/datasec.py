"""A DATASEC as a skeleton's C struct sees it: its non-static variables in section order, with
the padding that puts each at its section offset (bpftool's rule)."""

from __future__ import annotations

from typing import List, NamedTuple

from ...errors import PathLike
from ...model.btf import DATASEC, VAR, VAR_STATIC, Btf
from .context import TypeTable
from .layout import Layout
from .names import sanitize_identifier


class DatasecField(NamedTuple):
    """One variable of a DATASEC as a skeleton exposes it.

    ``padding`` is the number of bytes of explicit padding to put before it (bpftool's rule: the
    layout must hold on 32-bit hosts too, so alignment is assumed to be at most 4 bytes)."""

    name: str            # sanitized to a C identifier (static locals are "func.var" in BTF)
    var_name: str        # the VAR's name as in BTF
    type_id: int         # the VAR's type
    offset: int
    size: int
    padding: int


def layout_datasec(table: TypeTable, layout: Layout, datasec_id: int) -> List[DatasecField]:
    """The fields of DATASEC ``datasec_id`` (``CWriter.datasec_fields``)."""
    types = table.types
    table.check_id(datasec_id, None)
    sec = types[datasec_id]
    if sec.kind != DATASEC:
        raise table.error(datasec_id, "is not a DATASEC")
    fields: List[DatasecField] = []
    end = 0
    for info in sec.secinfo:
        table.check_id(info.type, datasec_id)
        var = types[info.type]
        if var.kind != VAR or var.linkage == VAR_STATIC:
            continue  # .ksyms lists FUNCs, and static variables stay private
        if end > info.offset:
            raise table.error(datasec_id, f"variable '{var.name}' at offset {info.offset} "
                                          f"overlaps the previous one (ending at {end})")
        align = min(layout.align_of(var.type), 4)
        aligned = -(-end // align) * align
        padding = info.offset - end if aligned != info.offset else 0
        fields.append(DatasecField(sanitize_identifier(var.name), var.name, var.type,
                                   info.offset, info.size, padding))
        end = info.offset + info.size
    return fields


def datasec_fields(btf: Btf, datasec_id: int, path: PathLike = None) -> List[DatasecField]:
    """The non-static variables of a DATASEC in section order, with the padding a C struct needs
    so that every variable sits at its section offset (see :meth:`CWriter.datasec_fields`)."""
    table = TypeTable(btf, path)
    return layout_datasec(table, Layout(table), datasec_id)
