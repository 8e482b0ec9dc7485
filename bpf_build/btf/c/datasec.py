"""A DATASEC as a skeleton's C struct sees it: its non-static variables in section order, with
the padding that puts each at its section offset (bpftool's rule)."""

from __future__ import annotations

from typing import List, NamedTuple

from ...errors import PathLike
from ...model.btf import DATASEC, VAR, VAR_STATIC
from .context import BtfSource, TypeTable
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
    table.check_id(datasec_id, None)
    if table.kinds[datasec_id] != DATASEC:
        raise table.error(datasec_id, "is not a DATASEC")
    fields: List[DatasecField] = []
    end = 0
    for var_id, offset, size in table.secinfo(datasec_id):
        table.check_id(var_id, datasec_id)
        if table.kinds[var_id] != VAR or table.linkage(var_id) == VAR_STATIC:
            continue  # .ksyms lists FUNCs, and static variables stay private
        var_name = table.name(var_id)
        if end > offset:
            raise table.error(datasec_id, f"variable '{var_name}' at offset {offset} "
                                          f"overlaps the previous one (ending at {end})")
        var_type = table.refs[var_id]
        align = min(layout.align_of(var_type), 4)
        aligned = -(-end // align) * align
        padding = offset - end if aligned != offset else 0
        fields.append(DatasecField(sanitize_identifier(var_name), var_name, var_type, offset, size, padding))
        end = offset + size
    return fields


def datasec_fields(btf: BtfSource, datasec_id: int, path: PathLike = None) -> List[DatasecField]:
    """The non-static variables of a DATASEC in section order, with the padding a C struct needs
    so that every variable sits at its section offset (see :meth:`CWriter.datasec_fields`)."""
    table = TypeTable(btf, path)
    return layout_datasec(table, Layout(table), datasec_id)
