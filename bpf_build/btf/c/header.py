"""Whole headers (vmlinux.h): every type, or the ones asked for, inside a header guard and
clang's ``preserve_access_index``, followed for a whole kernel by its kfunc prototypes."""

from __future__ import annotations

from typing import Iterable, List, Optional, Set, Tuple

from ...errors import BtfError, PathLike
from ...collector import paused_gc
from ...model.btf import DECL_TAG, FUNC
from .context import BtfSource
from .names import IDENTIFIER
from .writer import CWriter

# Bumped whenever render_header's output changes for the same BTF: caches of rendered headers key
# on it (bpf_build.project), so an updated bpf-build never reuses a header an older one wrote.
HEADER_REVISION = 2  # 2: kfunc prototypes

_HEADER_START = """\
#ifndef {guard}
#define {guard}

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)
#endif

"""
_HEADER_END = """\
#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* {guard} */
"""

_KFUNC_START = """\
#ifndef BPF_NO_KFUNC_PROTOTYPES
#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif
"""


def render_header(btf: BtfSource, type_ids: Optional[Iterable[int]] = None, *,
                  guard: str = "__VMLINUX_H__", path: PathLike = None, writer: Optional[CWriter] = None) -> str:
    """A complete header declaring ``type_ids`` (default: every type, in id order) and all they
    need, wrapped in a header guard and clang's ``preserve_access_index`` for CO-RE. Pass a
    fresh ``writer`` to ask it afterwards how types were named (``writer.type_name``). ``btf``:
    a ``Btf`` of records or the ``TypeWords`` read from one (what ``bpf-build vmlinux`` renders:
    no record is built)."""
    if not IDENTIFIER.match(guard):
        raise BtfError(path, f"header guard {guard!r} is not a valid C identifier")
    # Rendering makes no reference cycles; left on, the collector would walk the young objects
    # again and again (~10% of a kernel's render).
    with paused_gc():
        writer = writer if writer is not None else CWriter(btf, path)
        del btf  # the writer holds what it reads: the rest of the caller's BTF may go
        if type_ids is None:
            writer.add_every_type()
        else:
            writer.add_all(type_ids)
        parts = [_HEADER_START.format(guard=guard)]
        parts += writer.take_chunks()
        if type_ids is None:
            parts.append(_kfunc_prototypes(writer))
        parts.append(_HEADER_END.format(guard=guard))
        del writer  # its caches (names, spellings, sizes) go before the text is joined, unless the caller's
        return "".join(parts)  # one copy of the text, however large


def _kfunc_prototypes(writer: CWriter) -> str:
    """``extern`` declarations of the kernel's kfuncs (FUNCs tagged "bpf_kfunc" in its BTF), weak so
    a program still loads on kernels without one, as bpftool 7.4+ writes them: programs such as
    libbpf-tools call kfuncs with no declaration of their own. Only the top BTF's own tags and
    functions count (a module's, not its base's)."""
    table = writer.table
    kinds, refs = table.kinds, table.refs
    own = table.start_id
    kfuncs: List[Tuple[int, str]] = []
    tid = kinds.find(DECL_TAG, own)
    while tid > 0:
        func_id = refs[tid]
        if (table.component_idx(tid) == -1 and table.name(tid) == "bpf_kfunc" and own <= func_id < len(kinds)
                and kinds[func_id] == FUNC):
            name = table.name(func_id)
            if name:
                kfuncs.append((func_id, name))
        tid = kinds.find(DECL_TAG, tid + 1)
    if not kfuncs:
        return ""
    seen: Set[str] = set()
    lines = [_KFUNC_START]
    for func_id, name in sorted(kfuncs, key=lambda item: item[0]):
        if name in seen:
            continue
        seen.add(name)
        try:
            decl = writer.declaration(refs[func_id], name)
        except BtfError:  # e.g. an address_space(1) type tag: no C spelling; leave that one out
            continue
        lines.append(f"extern {decl} __weak __ksym;\n")
    lines.append("#endif\n\n")
    return "".join(lines)
