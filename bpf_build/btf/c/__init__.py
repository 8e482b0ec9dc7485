"""Render BTF types as compilable C: vmlinux.h, and single declarations for skeletons.

The output follows the rules libbpf's ``btf_dump`` established (and bpftool's
``btf dump ... format c`` prints), so headers made here and there are interchangeable:

- Types are emitted in dependency order (ordering.py): a type embedded in another is complete
  before it, one behind a pointer needs only a forward declaration.
- Anonymous structs, unions and enums are written inline where they are used (declarators.py);
  an anonymous enum nothing refers to is a block of constants and is written at top level.
- Duplicate names get ``___2``, ``___3`` suffixes in the order they are first written, per C
  namespace (names.py).
- Member layout is reproduced from the BTF offsets alone: ``packed`` where needed, anonymous
  bitfields for holes the compiler would not leave (layout.py).

The writer reads the types where they lie, as the BTF's 32-bit words (context.py's TypeTable over
model/btf/words.py), never building a record: ``bpf-build vmlinux`` passes the ``TypeWords`` it
read; a ``Btf`` of records (skeletons, tests) is read through its encoding, by the same writer.

Bad BTF is reported as :class:`~bpf_build.errors.BtfError` naming the type: a reference to a type
that does not exist, a cycle through non-pointer types, a name that is not a C identifier, or a
kind that cannot appear where it does.

Public API::

    render_header(btf, type_ids=None, guard="__VMLINUX_H__", path=None, writer=None) -> str
    w = CWriter(btf, path=None)      # one per output: it remembers what it wrote and the names
                                     # (btf: a Btf, or the TypeWords of read_words)
    w.add(tid) / w.add_all(ids) / w.add_every_type(); w.take() -> str  # definitions plus what they need
    w.take_chunks() -> [str]        # the same text in consecutive pieces, to join with more
    w.declaration(tid, name="", indent=0, strip_mods=False) -> str  # "int (*cb)(void *ctx)"
    w.type_name(tid)                 # the de-duplicated name ("task_struct___2")
    w.align_of(tid), w.size_of(tid)  # as libbpf's btf__align_of / btf__resolve_size
    w.datasec_fields(sec_id) -> [DatasecField]   # skeleton view of a DATASEC, with padding
    datasec_fields(btf, sec_id), sanitize_identifier(name), HEADER_REVISION
"""

from __future__ import annotations

from .datasec import DatasecField, datasec_fields
from .header import HEADER_REVISION, render_header
from .names import C_KEYWORDS, IDENTIFIER, sanitize_identifier
from .writer import CWriter

__all__ = ["C_KEYWORDS", "CWriter", "DatasecField", "HEADER_REVISION", "IDENTIFIER", "datasec_fields",
           "render_header", "sanitize_identifier"]
