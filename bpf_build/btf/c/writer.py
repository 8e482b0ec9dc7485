"""``CWriter``: one output's worth of C for the types of a ``Btf`` — what it has written, and
the top-level definitions (with the forward declarations they need) in dependency order."""

from __future__ import annotations

import sys
from typing import Iterable, List

from ...errors import PathLike
from ...model.btf import ARRAY, FUNC_PROTO, FWD, INT, PTR, TYPEDEF
from .context import COMPOSITES, DONE, ENUMS, IN_PROGRESS, MODIFIERS, NOT_DONE, NOT_TYPES, BtfSource, TypeTable
from .datasec import DatasecField, layout_datasec
from .declarators import Declarator
from .layout import Layout
from .names import Names
from .ordering import DependencyOrder, UnsatisfiableCycle

# Kinds whose whole need is the one type they refer to.
_LEAD_TO_ONE_TYPE = MODIFIERS | {PTR, ARRAY}
_MAX_CHAIN = 4096
_PIECES_PER_CHUNK = 4096
# Compiler built-ins that must not be redefined by a header.
_COMPILER_BUILTINS = frozenset({"__builtin_va_list"})
# GCC-internal base types that appear as typedef targets in some BTF; written as plain aliases.
_MISSING_BASE_TYPES = {"__Poly8_t": "unsigned char", "__Poly16_t": "unsigned short",
                       "__Poly64_t": "unsigned long long", "__Poly128_t": "unsigned __int128"}


class CWriter:
    """Writes C declarations for the types of one BTF (and its base, for split BTF): a ``Btf``
    of records or the ``TypeWords`` read from one.

    A writer remembers what it has written: ``add(type_id)`` writes a type with every type it
    needs that was not written before, so calling it for a set of ids yields one compilable
    block. ``declaration()`` writes how one type is spelled in a declaration (e.g. a struct
    member), without its dependencies. Names are de-duplicated across both, per writer.
    """

    def __init__(self, btf: BtfSource, path: PathLike = None):
        self.table = TypeTable(btf, path)
        self.path = self.table.path
        self.names = Names(self.table)
        self.layout = Layout(self.table)
        self.ptr_size = self.layout.ptr_size
        self._decl = Declarator(self.table, self.names, self.layout)
        self._ordering = DependencyOrder(self.table)
        n = len(self.table)
        self._emit_state = bytearray(n)
        self._emit_state[0] = DONE  # void: nothing to write
        self._fwd_emitted = bytearray(n)
        # Text written so far, joined a few thousand pieces at a time: vmlinux.h is ~300k pieces,
        # many times its own size as separate strings.
        self._chunks: List[str] = []

    # -- public API ------------------------------------------------------------------------------
    def add(self, type_id: int) -> None:
        """Queue the C definition of ``type_id`` and everything it needs that is not written yet."""
        self.add_all((type_id,))

    def add_all(self, type_ids: Iterable[int]) -> None:
        """``add`` for many ids, in order."""
        self._add_all(map(self._existing_id, type_ids))

    def add_every_type(self) -> None:
        """``add`` for every type with a C definition, in id order (the way a whole header is made)."""
        self._add_all(self.table.c_type_ids())  # ids that exist: no test an id (~70k for a kernel)

    def _existing_id(self, type_id: int) -> int:
        if not 0 <= type_id < len(self.table):
            self.table.check_id(type_id, None)
        return type_id

    def _add_all(self, type_ids: Iterable[int]) -> None:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20000))
        table, ordering = self.table, self._ordering
        kinds, refs, state, words, offsets = table.kinds, table.refs, ordering.state, table.words, table.offsets
        order, emit = ordering.order, self._emit
        pieces = self._decl.out
        queue = ordering.queue  # what one top-level type needs, in order; emptied once written
        queue.clear()
        type_id = 0
        try:
            for type_id in type_ids:
                if state[type_id] == DONE:
                    continue  # written already, with everything it needs
                kind = kinds[type_id]
                if kind == FUNC_PROTO:
                    # What ordering a prototype does, without the call (a kernel has ~29k, nearly
                    # all of whose return and parameter types are ordered by then): it orders
                    # those, never itself.
                    off = offsets[type_id]
                    for target in words[off + 2:off + 3 + 2 * (words[off + 1] & 0xFFFF):2]:
                        if target and state[target] != DONE:
                            order(target, False)
                elif kind == PTR and state[refs[type_id]] == DONE:
                    state[type_id] = DONE  # (what order() would do, without the call)
                    continue
                elif kind in NOT_TYPES:
                    continue  # functions, variables, sections and tags have no C definition
                else:
                    order(type_id, False)
                if queue:  # (only emitting writes)
                    for tid in queue:
                        emit(tid, 0)
                    queue.clear()
                    if len(pieces) > _PIECES_PER_CHUNK:
                        self._chunks.append("".join(pieces))
                        pieces.clear()  # the same list: emitting holds on to its append
        except UnsatisfiableCycle as e:
            raise table.error(e.type_id, "cycle through non-pointer types cannot be written "
                                         "in C (" + table.cycle_text(e.type_id) + ")") from None
        except RecursionError:
            raise table.error(type_id, "type references nest too deep or loop without a "
                                       "struct or union (" + table.cycle_text(type_id) + ")") from None
        except IndexError:
            raise table.dangling_reference() from None
        finally:
            sys.setrecursionlimit(limit)

    def take(self) -> str:
        """The text written so far (and forget it; the set of written types is kept)."""
        return "".join(self.take_chunks())

    def take_chunks(self) -> List[str]:
        """The text written so far as consecutive pieces (and forget it), for a caller that adds
        text around it and joins once."""
        chunks = self._chunks
        chunks.append("".join(self._decl.out))
        self._chunks = []
        self._decl.out.clear()
        return chunks

    def declaration(self, type_id: int, name: str = "", indent: int = 0,
                    strip_mods: bool = False) -> str:
        """How a variable or member ``name`` of type ``type_id`` is declared, e.g. ``int (*cb)(void)``.

        Anonymous structs/unions/enums are written inline (indented by ``indent`` tabs); named
        types by name only. ``strip_mods`` drops const/volatile/restrict/type tags."""
        self.table.check_id(type_id, None)
        decl = self._decl
        saved, decl.out = decl.out, []
        try:
            decl.declaration(type_id, name, indent, strip_mods)
            return "".join(decl.out)
        except IndexError:
            raise self.table.dangling_reference() from None
        finally:
            decl.out = saved

    def align_of(self, type_id: int) -> int:
        """Alignment in bytes as the layout implies it (1 for a struct that must be packed)."""
        return self.layout.align_of(type_id)

    def size_of(self, type_id: int) -> int:
        """Size in bytes, as libbpf's btf__resolve_size computes it."""
        return self.layout.size_of(type_id)

    def type_name(self, type_id: int) -> str:
        """The (de-duplicated) name this writer uses for a struct/union/enum/typedef."""
        return self.names.type_name(type_id)

    def datasec_fields(self, datasec_id: int) -> List[DatasecField]:
        """The non-static variables of a DATASEC in section order, with the padding a C struct
        needs so that every variable sits at its section offset (bpftool's rule)."""
        return layout_datasec(self.table, self.layout, datasec_id)

    # -- emitting top-level definitions ------------------------------------------------------------
    def _emit(self, tid: int, container: int) -> None:
        """Write ``tid``'s definition at top level (``container`` 0) or what a member of
        ``container`` needs before the container can be written."""
        estate = self._emit_state
        table = self.table
        kinds, refs = table.kinds, table.refs
        kind = kinds[tid]
        if kind in _LEAD_TO_ONE_TYPE:
            # Modifiers, pointers and arrays need what they lead to: followed here, not recursed.
            start = tid
            for _ in range(_MAX_CHAIN):
                tid = refs[tid]
                kind = kinds[tid]
                if kind not in _LEAD_TO_ONE_TYPE:
                    break
            else:
                raise table.error(tid, "type chain loops")
            if estate[tid] == DONE or (self._fwd_emitted[tid] and kind in COMPOSITES):
                # Nothing (more) to write for the chain: so members of its type skip the call from
                # now on. (Through a chain, a struct declared ahead is never written in full here.)
                estate[start] = DONE
                return
        if estate[tid] == DONE or tid == 0:
            return
        decl = self._decl
        out = decl.out.append
        if estate[tid] == IN_PROGRESS:
            # Reached again while being written: what is needed now is a forward declaration.
            if self._fwd_emitted[tid]:
                return
            if kind in COMPOSITES:
                if tid == container or not table.type_names[tid]:
                    return
                out(decl.composite_head(tid) + ";\n\n")
                self._fwd_emitted[tid] = 1
            elif kind == TYPEDEF:
                if table.type_names[tid] not in _COMPILER_BUILTINS:
                    decl.typedef_def(tid, 0)
                    out(";\n\n")
                self._fwd_emitted[tid] = 1
            return
        if kind == INT:
            name = table.type_names[tid]
            alias = _MISSING_BASE_TYPES.get(name)
            if alias is not None:
                out(f"typedef {alias} {name};\n\n")
            estate[tid] = DONE
        elif kind in ENUMS:
            if container == 0:
                decl.enum_def(tid, 0)
                out(";\n\n")
            estate[tid] = DONE
        elif kind == FWD:
            out(f"{'union' if table.kflag(tid) else 'struct'} {self.names.tag(tid)};\n\n")
            estate[tid] = DONE
        elif kind == TYPEDEF:
            estate[tid] = IN_PROGRESS
            if estate[refs[tid]] != DONE:
                self._emit(refs[tid], tid)
            if not self._fwd_emitted[tid] and table.type_names[tid] not in _COMPILER_BUILTINS:
                decl.typedef_def(tid, 0)
                out(";\n\n")
            estate[tid] = DONE
        elif kind in COMPOSITES:
            estate[tid] = IN_PROGRESS
            top_level = container == 0
            named = table.type_names[tid]
            if top_level or not named:
                # Members are about to be written out in full: their types need declarations.
                inner = tid if named else container
                emit = self._emit
                words = table.words
                off = table.offsets[tid]
                for target in words[off + 4:off + 3 + 3 * (words[off + 1] & 0xFFFF):3]:
                    if estate[target] != DONE:  # (nothing more to write for it: skip the call)
                        emit(target, inner)
            elif not self._fwd_emitted[tid] and tid != container:
                out(decl.composite_head(tid) + ";\n\n")
                self._fwd_emitted[tid] = 1
            if top_level:
                decl.composite_def(tid, 0)
                out(";\n\n")
                estate[tid] = DONE
            else:
                estate[tid] = NOT_DONE
        elif kind == FUNC_PROTO:
            emit = self._emit
            if estate[refs[tid]] != DONE:
                emit(refs[tid], container)
            params = table.member_types(tid)
            for target in params:
                if estate[target] != DONE:
                    emit(target, container)
            if estate[refs[tid]] == DONE and all(estate[target] == DONE for target in params):
                estate[tid] = DONE  # each part would return at once: so may the whole
