"""The bodies of structs, unions and enums as C writes them (members with the padding the layout
implies, enumerators named within the ordinary namespace) and typedef definitions: the half of
``Declarator`` that writes definitions. The halves call each other: a body declares its members,
a declaration writes an anonymous body inline."""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from ...model.btf import ENUM64, STRUCT
from .context import TypeTable
from .layout import Layout
from .names import Names, all_identifiers


class BodyWriter:
    """Writes struct, union and enum bodies and typedefs into ``out``, declaring members through
    ``declaration`` (see ``Declarator``, which holds the state both halves share)."""

    table: TypeTable
    names: Names
    layout: Layout
    out: List[str]
    _around_name: Dict[int, Tuple[str, str, int]]  # type id -> text before, after the name, bits
    _heads: Dict[int, str]                    # type id -> "struct foo"
    _inline_bodies: int  # bodies written so far (a declaration that wrote one is not kept)

    def declaration(self, tid: int, name: str, lvl: int, strip_mods: bool) -> None:
        raise NotImplementedError

    def composite_head(self, tid: int) -> str:
        """``struct foo`` (``foo`` de-duplicated), or the bare keyword for an anonymous one."""
        head = self._heads.get(tid)
        if head is None:
            table = self.table
            word = "struct" if table.kinds[tid] == STRUCT else "union"
            head = self._heads[tid] = f"{word} {self.names.tag(tid)}" if table.type_names[tid] else word
        return head

    def composite_def(self, tid: int, lvl: int) -> None:
        self._inline_bodies += 1
        out = self.out.append
        table = self.table
        is_struct = table.kinds[tid] == STRUCT
        size = table.refs[tid]
        names, types, offsets, bits = table.members(tid)
        packed = is_struct and self.layout.is_packed(tid, types, offsets, bits)
        out(self.composite_head(tid) + " {")
        # The names all at once (not kept: ~60k in a kernel); if one is not a C identifier,
        # checked one by one as they are written, to fail where writing them would.
        if not any(bits) and all_identifiers(names, empty_too=True):
            end = self._plain_members(names, types, offsets, packed, lvl + 1)
        else:
            end = self._members(tid, names, types, offsets, bits, packed, lvl + 1)
        if is_struct and end < size * 8:
            self._padding(end, size * 8, self.layout.align_of(tid), False, lvl + 1)
        if names or size:
            out("\n" + "\t" * lvl + "}")
        else:
            out("}")
        if packed:
            out(" __attribute__((packed))")

    def _plain_members(self, names: List[str], types: Sequence[int], offsets: Sequence[int], packed: bool,
                       lvl: int) -> int:
        """Write members with good names and no bitfields (the usual: ``_members`` less its tests).
        Returns the bit offset where the last one ends."""
        out = self.out.append
        layout = self.layout
        lead = "\n" + "\t" * lvl
        offset = 0
        around_name = self._around_name
        sizes = layout.sizes
        for name, mtype, moffset in zip(names, types, offsets):
            if offset < moffset:
                self._padding(offset, moffset, 1 if packed else layout.align_of(mtype), False, lvl)
            around = around_name.get(mtype) if name else None
            if around is not None:  # spelled before: one piece of text for the whole line
                before, after, size_bits = around
                out(f"{lead}{before}{name}{after};")
                if size_bits < 0:
                    msize = sizes.get(mtype)
                    size_bits = (msize if msize is not None else layout.size_of(mtype)) * 8
                    around_name[mtype] = (before, after, size_bits)
                offset = moffset + size_bits
            else:
                out(lead)
                self.declaration(mtype, name, lvl, False)
                out(";")
                msize = sizes.get(mtype)
                offset = moffset + (msize if msize is not None else layout.size_of(mtype)) * 8
        return offset

    def _members(self, tid: int, names: List[str], types: Sequence[int], offsets: Sequence[int],
                 bits: Sequence[int], packed: bool, lvl: int) -> int:
        """Write members, bitfields and names C may refuse among them. Returns the bit offset where
        the last one ends."""
        out = self.out.append
        layout = self.layout
        lead = "\n" + "\t" * lvl
        offset = 0
        prev_bitfield = False
        around_name = self._around_name
        sizes = layout.sizes
        check = not all_identifiers(names, empty_too=True)
        for name, mtype, moffset, mbits in zip(names, types, offsets, bits):
            if check and name:
                self.names.checked(name, tid, "member")
            if offset < moffset:
                align = 1 if packed else layout.align_of(mtype)
                self._padding(offset, moffset, align, prev_bitfield and mbits != 0, lvl)
            around = around_name.get(mtype) if name else None
            if around is not None:
                before, after, _ = around
                out(f"{lead}{before}{name}{after}: {mbits};" if mbits else f"{lead}{before}{name}{after};")
            else:
                out(lead)
                self.declaration(mtype, name, lvl, False)
                out(f": {mbits};" if mbits else ";")
            if mbits:
                offset = moffset + mbits
                prev_bitfield = True
            else:
                msize = sizes.get(mtype)
                offset = moffset + (msize if msize is not None else layout.size_of(mtype)) * 8
                prev_bitfield = False
        return offset

    def _padding(self, cur: int, nxt: int, next_align: int, in_bitfield: bool, lvl: int) -> None:
        if cur >= nxt:
            return
        prefix = "\n" + "\t" * lvl
        for field in self.layout.padding(cur, nxt, next_align, in_bitfield):
            self.out.append(f"{prefix}{field};")

    def enum_def(self, tid: int, lvl: int) -> None:
        self._inline_bodies += 1
        out = self.out.append
        table = self.table
        out(f"enum {self.names.tag(tid)}" if table.type_names[tid] else "enum")
        enum_names, values = table.enums(tid)
        if not enum_names:
            return
        out(" {")
        inner = "\n" + "\t" * (lvl + 1)
        signed = table.kflag(tid)
        is64 = table.kinds[tid] == ENUM64
        suffix = ("LL" if signed else "ULL") if is64 else ""
        # (The values are unsigned unless the enum is signed: as they are written.)
        separator = suffix + "," + inner
        out(inner + separator.join(map(" = ".join, zip(self.names.enumerators(enum_names, tid), map(str, values))))
            + suffix + ",")
        out("\n" + "\t" * lvl + "}")
        size = table.refs[tid]
        if size == 1:
            out(" __attribute__((mode(byte)))")
        elif size == 8 and self.layout.ptr_size == 8:
            # An 8-byte enum happens by itself only when a value needs more than 32 bits.
            if not is64 or all(((value & 0xFFFFFFFFFFFFFFFF) >> 32) == 0 for value in values):
                out(" __attribute__((mode(word)))")

    def typedef_def(self, tid: int, lvl: int) -> None:
        name = self.names.ident(tid)
        target = self.table.refs[tid]
        if target == 0 and name == "__gnuc_va_list":
            # Old GCCs describe this typedef as void; the compiler's own type is what is meant.
            self.out.append("typedef __builtin_va_list __gnuc_va_list")
            return
        self.out.append("typedef ")
        self.declaration(target, name, lvl, False)
