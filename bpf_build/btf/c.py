"""Render BTF types as compilable C: vmlinux.h, and single declarations for skeletons.

The output follows the rules libbpf's ``btf_dump`` established (and bpftool's
``btf dump ... format c`` prints), so headers made here and there are interchangeable:

- Types are emitted in dependency order. A struct/union/typedef that is *embedded* (reached
  without a pointer, or through an anonymous type that must be written inline) has to be
  complete before its container; one reached through a pointer only needs a forward
  declaration. A cycle that no pointer to a named type breaks cannot be written in C and is an
  error.
- Anonymous structs, unions and enums are written inline where they are used; an anonymous enum
  nothing refers to is a block of constants and is written at top level.
- Duplicate names (kernel BTF has several ``struct foo`` from different compilation units) get
  ``___2``, ``___3`` suffixes in the order they are first written. Tags (struct/union/enum) and
  ordinary identifiers (typedefs, enumerators) are separate namespaces, as in C.
- Member layout is reproduced from the BTF offsets alone: a struct whose members are not
  naturally aligned, or whose size is not a multiple of its alignment, is ``packed``; holes the
  compiler would not leave by itself are filled with anonymous bitfields (``long: 64;``).

Bad BTF is reported as :class:`~bpf_build.errors.BtfError` naming the type: a reference to a type
that does not exist, a cycle through non-pointer types, a name that is not a C identifier, or a
kind that cannot appear where it does.

Public API::

    render_header(btf, type_ids=None, guard="__VMLINUX_H__", path=None, writer=None) -> str
    w = CWriter(btf, path=None)      # one per output: it remembers what it wrote and the names
    w.add(tid) / w.add_all(ids); w.take() -> str      # definitions plus what they need
    w.declaration(tid, name="", indent=0, strip_mods=False) -> str  # "int (*cb)(void *ctx)"
    w.type_name(tid)                 # the de-duplicated name ("task_struct___2")
    w.align_of(tid), w.size_of(tid)  # as libbpf's btf__align_of / btf__resolve_size
    w.datasec_fields(sec_id) -> [DatasecField]   # skeleton view of a DATASEC, with padding
    datasec_fields(btf, sec_id), sanitize_identifier(name)
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from ..model.btf import (
    ARRAY,
    CONST,
    DATASEC,
    DECL_TAG,
    ENUM,
    ENUM64,
    FLOAT,
    FUNC,
    FUNC_PROTO,
    FWD,
    INT,
    KIND_NAMES,
    PTR,
    RESTRICT,
    STRUCT,
    TYPE_TAG,
    TYPEDEF,
    UNION,
    VAR,
    VAR_STATIC,
    VOLATILE,
    Btf,
    BtfType,
)
from ..errors import BtfError

__all__ = ["CWriter", "DatasecField", "datasec_fields", "render_header", "sanitize_identifier"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Base type names are one or more words: "long unsigned int", "__int128 unsigned", "_Bool".
_BASE_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*( [A-Za-z_][A-Za-z0-9_]*)*\Z")
_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if "
    "inline int long register restrict return short signed sizeof static struct switch typedef "
    "union unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic "
    "_Imaginary _Noreturn _Static_assert _Thread_local".split())

_MODIFIERS = frozenset({VOLATILE, CONST, RESTRICT, TYPE_TAG})
# Kinds that describe functions, variables and sections rather than types.
_NOT_TYPES = frozenset({FUNC, VAR, DATASEC, DECL_TAG})
_QUALIFIERS = {VOLATILE: "volatile", CONST: "const", RESTRICT: "restrict"}
_COMPOSITES = frozenset({STRUCT, UNION})
_ENUMS = frozenset({ENUM, ENUM64})
# Kinds that end a declaration chain: they are written by name (or inline, if anonymous).
_TERMINAL_KINDS = frozenset({INT, FLOAT, ENUM, ENUM64, FWD, STRUCT, UNION, TYPEDEF})
# The kinds a declaration chain passes through on its way to a terminal kind.
_CHAIN_KINDS = frozenset({PTR, VOLATILE, CONST, RESTRICT, FUNC_PROTO, TYPE_TAG})
_INT_WORDS_FOR_LONG = frozenset({"long", "long int", "int long", "unsigned long", "long unsigned",
                                 "unsigned long int", "unsigned int long", "long unsigned int",
                                 "long int unsigned", "int unsigned long", "int long unsigned"})

# Compiler built-ins that must not be redefined by a header.
_COMPILER_BUILTINS = frozenset({"__builtin_va_list"})
# GCC-internal base types that appear as typedef targets in some BTF; written as plain aliases.
_MISSING_BASE_TYPES = {"__Poly8_t": "unsigned char", "__Poly16_t": "unsigned short",
                       "__Poly64_t": "unsigned long long", "__Poly128_t": "unsigned __int128"}

_NOT_DONE, _IN_PROGRESS, _DONE = 0, 1, 2
# Padding types from widest to narrowest, with their natural size in bits ("long" per pointer).
_PAD_NAMES = ("long", "int", "short", "char")
_PADDING_BUDGET_BITS = 8 << 22  # 4 MiB of padding in one header (vmlinux: ~40 KiB)


def sanitize_identifier(name: str) -> str:
    """bpftool's rule for turning a section or variable name into a C identifier."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


class _UnsatisfiableCycle(Exception):
    def __init__(self, type_id: int):
        self.type_id = type_id


class CWriter:
    """Writes C declarations for the types of one ``Btf`` (and its base, for split BTF).

    A writer remembers what it has written: ``add(type_id)`` writes a type with every type it
    needs that was not written before, so calling it for a set of ids yields one compilable
    block. ``declaration()`` writes how one type is spelled in a declaration (e.g. a struct
    member), without its dependencies. Names are de-duplicated across both, per writer.
    """

    def __init__(self, btf: Btf, path=None):
        self.path = path if path is not None else btf.path
        chain = []
        b: Optional[Btf] = btf
        while b is not None:
            chain.append(b)
            b = b.base
        types: List[Optional[BtfType]] = [None]
        for part in reversed(chain):
            types.extend(part.types)
        self._types = types
        n = len(types)
        self._order_state = bytearray(n)
        self._emit_state = bytearray(n)
        self._fwd_emitted = bytearray(n)
        self._referenced = self._referenced_anonymous_enums()
        self._tag_counts: Dict[str, int] = {}
        self._ident_counts: Dict[str, int] = {}
        self._resolved: Dict[int, str] = {}
        self._checked_names: set = set()
        self._align_cache: Dict[int, int] = {}
        self._size_cache: Dict[int, int] = {}
        self._queue: List[int] = []
        self._out: List[str] = []
        self.ptr_size = self._pointer_size()
        # Bits of padding left to spell out (one line per 64 bits, as bpftool): far above any
        # kernel's total, it bounds the output of a huge struct size or member offset.
        self._padding_budget = _PADDING_BUDGET_BITS

    # -- public API ------------------------------------------------------------------------------
    def add(self, type_id: int) -> None:
        """Queue the C definition of ``type_id`` and everything it needs that is not written yet."""
        self.add_all((type_id,))

    def add_all(self, type_ids: Iterable[int]) -> None:
        """``add`` for many ids, in order (the way a whole header is made)."""
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20000))
        types, state = self._types, self._order_state
        order, emit = self._order, self._emit
        type_id = 0
        try:
            for type_id in type_ids:
                self._check_id(type_id, None)
                if state[type_id] == _DONE:
                    continue  # written already, with everything it needs
                t = types[type_id]
                if t is not None and t.kind in _NOT_TYPES:
                    continue  # functions, variables, sections and tags have no C definition
                queue = self._queue = []
                order(type_id, False)
                for tid in queue:
                    emit(tid, 0)
        except _UnsatisfiableCycle as e:
            raise self._error(e.type_id, "cycle through non-pointer types cannot be written "
                                         "in C (" + self._cycle_text(e.type_id) + ")") from None
        except RecursionError:
            raise self._error(type_id, "type references nest too deep or loop without a "
                                       "struct or union (" + self._cycle_text(type_id) + ")") from None
        except IndexError:
            raise self._dangling_reference() from None
        finally:
            sys.setrecursionlimit(limit)

    def take(self) -> str:
        """The text written so far (and forget it; the set of written types is kept)."""
        text = "".join(self._out)
        self._out = []
        return text

    def declaration(self, type_id: int, name: str = "", indent: int = 0,
                    strip_mods: bool = False) -> str:
        """How a variable or member ``name`` of type ``type_id`` is declared, e.g. ``int (*cb)(void)``.

        Anonymous structs/unions/enums are written inline (indented by ``indent`` tabs); named
        types by name only. ``strip_mods`` drops const/volatile/restrict/type tags."""
        self._check_id(type_id, None)
        saved, self._out = self._out, []
        try:
            self._declaration(type_id, name, indent, strip_mods)
            return "".join(self._out)
        except IndexError:
            raise self._dangling_reference() from None
        finally:
            self._out = saved

    def align_of(self, type_id: int) -> int:
        """Alignment in bytes as the layout implies it (1 for a struct that must be packed)."""
        align = self._align_cache.get(type_id)
        if align is not None:
            return align
        t = self._types[type_id]
        kind = t.kind if t is not None else None
        if kind in (INT, ENUM, ENUM64, FLOAT):
            align = min(self.ptr_size, t.size)
        elif kind == PTR:
            align = self.ptr_size
        elif kind in (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, ARRAY):
            align = self.align_of(t.type)
        elif kind in _COMPOSITES:
            align = self._composite_align(t)
        else:
            raise self._error(type_id, f"{KIND_NAMES.get(kind, 'void')} has no alignment")
        self._align_cache[type_id] = align
        return align

    def size_of(self, type_id: int) -> int:
        """Size in bytes, as libbpf's btf__resolve_size computes it."""
        size = self._size_cache.get(type_id)
        if size is None:
            size = self._size_cache[type_id] = self._resolve_size(type_id)
        return size

    def _resolve_size(self, type_id: int) -> int:
        types = self._types
        count = 1
        for _ in range(1024):
            if type_id == 0:
                return 0
            t = types[type_id]
            kind = t.kind
            if kind == PTR:
                return count * self.ptr_size
            if kind in (INT, STRUCT, UNION, ENUM, ENUM64, FLOAT, DATASEC):
                return count * t.size
            if kind == ARRAY:
                count *= t.nelems
            elif kind not in (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG, VAR, DECL_TAG):
                raise self._error(type_id, "has no size")
            type_id = t.type
        raise self._error(type_id, "type chain loops")

    def type_name(self, type_id: int) -> str:
        """The (de-duplicated) name this writer uses for a struct/union/enum/typedef."""
        t = self._types[type_id]
        return self._ident_name(type_id) if t.kind == TYPEDEF else self._tag_name(type_id)

    def datasec_fields(self, datasec_id: int) -> List["DatasecField"]:
        """The non-static variables of a DATASEC in section order, with the padding a C struct
        needs so that every variable sits at its section offset (bpftool's rule)."""
        types = self._types
        self._check_id(datasec_id, None)
        sec = types[datasec_id]
        if sec is None or sec.kind != DATASEC:
            raise self._error(datasec_id, "is not a DATASEC")
        fields: List[DatasecField] = []
        end = 0
        for info in sec.secinfo:
            self._check_id(info.type, datasec_id)
            var = types[info.type]
            if var is None or var.kind != VAR or var.linkage == VAR_STATIC:
                continue  # .ksyms lists FUNCs, and static variables stay private
            if end > info.offset:
                raise self._error(datasec_id, f"variable '{var.name}' at offset {info.offset} "
                                              f"overlaps the previous one (ending at {end})")
            align = min(self.align_of(var.type), 4)
            aligned = -(-end // align) * align
            padding = info.offset - end if aligned != info.offset else 0
            fields.append(DatasecField(sanitize_identifier(var.name), var.name, var.type,
                                       info.offset, info.size, padding))
            end = info.offset + info.size
        return fields

    # -- validation and errors ---------------------------------------------------------------------
    def _error(self, type_id: int, reason: str) -> BtfError:
        try:
            t = self._types[type_id]
        except IndexError:
            t = None
        what = f"type [{type_id}]" + (f" {t.kind_name} '{t.name}'" if t is not None else "")
        return BtfError(self.path, f"{what}: {reason}")

    def _check_id(self, ref: int, owner: Optional[int]) -> None:
        """A BtfError unless type id ``ref`` (referenced by type ``owner``) exists."""
        if not 0 <= ref < len(self._types):
            where = f"type [{owner}] refers to" if owner is not None else "no"
            raise BtfError(self.path, f"{where} type id {ref}; only {len(self._types) - 1} types exist")

    def _dangling_reference(self) -> BtfError:
        """The error for a reference to a type id that does not exist. Looked for only once an
        index fails: checking every reference up front would cost every render."""
        limit = len(self._types)
        for tid, t in enumerate(self._types):
            if t is None:
                continue
            for ref in t.referenced_ids():
                if not 0 <= ref < limit:
                    return BtfError(self.path, f"type [{tid}] refers to type id {ref}; "
                                               f"only {limit - 1} types exist")
        return BtfError(self.path, "a type id is out of range")

    def _checked(self, name: str, tid: int, what: str, base_type: bool = False) -> str:
        """``name`` if it is usable in C, else a BtfError. Names are checked once per writer."""
        if name in self._checked_names:
            return name
        pattern = _BASE_TYPE_NAME if base_type else _IDENTIFIER
        if not pattern.match(name) or (not base_type and name in _C_KEYWORDS):
            raise self._error(tid, f"{what} name {name!r} is not a valid C identifier")
        self._checked_names.add(name)
        return name

    def _cycle_text(self, start: int) -> str:
        """A readable path of the cycle through ``start`` (for the error message only)."""
        types = self._types
        path, seen, tid = [], {}, start
        while tid and tid not in seen and tid < len(types):
            seen[tid] = len(path)
            path.append(tid)
            nxt = self._first_strong_ref(tid, start)
            if nxt is None:
                break
            tid = nxt
        if tid in seen:
            path = path[seen[tid]:] + [tid]
        return " -> ".join(f"[{i}] {types[i].kind_name} '{types[i].name}'"
                           if 0 < i < len(types) else f"[{i}]" for i in path)

    def _first_strong_ref(self, tid: int, target: int) -> Optional[int]:
        """The referenced id leading back to ``target`` without passing a named pointee."""
        refs = [r for r in self._types[tid].referenced_ids() if 0 < r < len(self._types)]
        for r in refs:
            if self._reaches(r, target, set()):
                return r
        return refs[0] if refs else None

    def _reaches(self, tid: int, target: int, seen: set) -> bool:
        stack = [tid]
        while stack:
            cur = stack.pop()
            if cur == target:
                return True
            if cur in seen or not 0 < cur < len(self._types):
                continue
            seen.add(cur)
            stack.extend(self._types[cur].referenced_ids())
        return False

    # -- setup ---------------------------------------------------------------------------------------
    def _referenced_anonymous_enums(self) -> set:
        """Anonymous enums/forwards that some type refers to (the others are written at top level)."""
        types = self._types
        anon = {i for i in range(1, len(types))
                if types[i].kind in (ENUM, ENUM64, FWD) and not types[i].name}
        found = set()
        if not anon:
            return found
        for t in types[1:]:
            kind = t.kind
            if kind in _COMPOSITES:
                found.update(m.type for m in t.members if m.type in anon)
            elif kind == FUNC_PROTO:
                found.update(p.type for p in t.params if p.type in anon)
            elif kind == DATASEC:
                found.update(v.type for v in t.secinfo if v.type in anon)
            elif t.type in anon:  # every other kind refers through `type` (or nothing: 0)
                found.add(t.type)
        return found

    def _pointer_size(self) -> int:
        for t in self._types[1:]:
            if t.kind == INT and t.name in _INT_WORDS_FOR_LONG and t.size in (4, 8):
                return t.size
        return 8

    # -- ordering ------------------------------------------------------------------------------------
    def _order(self, tid: int, through_ptr: bool) -> int:
        """Queue named definitions ``tid`` needs, dependencies first.

        Returns 1 if ``tid`` must be complete before a type that embeds it (a strong link) and
        0 if a forward declaration is enough (a weak link: through a pointer to a named type)."""
        state = self._order_state
        if state[tid] == _DONE:
            return 1
        t = self._types[tid]
        if tid == 0:
            return 0
        kind = t.kind
        if state[tid] == _IN_PROGRESS:
            if kind in _COMPOSITES and through_ptr and t.name:
                return 0
            raise _UnsatisfiableCycle(tid)
        if kind == INT or kind == FLOAT:
            state[tid] = _DONE
            return 0
        if kind == PTR:
            strong = self._order(t.type, True)
            state[tid] = _DONE
            return strong
        if kind == ARRAY:
            return self._order(t.type, False)
        if kind in _COMPOSITES:
            # A named struct behind a pointer is a weak link; an anonymous one is written inline,
            # so its members matter even behind a pointer.
            if through_ptr and t.name:
                return 0
            state[tid] = _IN_PROGRESS
            order = self._order
            for m in t.members:
                order(m.type, False)
            if t.name:
                self._queue.append(tid)
            state[tid] = _DONE
            return 1
        if kind in _ENUMS or kind == FWD:
            if t.name or tid not in self._referenced:
                self._queue.append(tid)
            state[tid] = _DONE
            return 1
        if kind == TYPEDEF:
            strong = self._order(t.type, through_ptr)
            if through_ptr and not strong:
                return 0
            self._queue.append(tid)
            state[tid] = _DONE
            return 1
        if kind in _MODIFIERS:
            return self._order(t.type, through_ptr)
        if kind == FUNC_PROTO:
            strong = self._order(t.type, through_ptr) > 0
            for p in t.params:
                if self._order(p.type, through_ptr) > 0:
                    strong = True
            return int(strong)
        if kind in _NOT_TYPES:
            raise self._error(tid, f"a {t.kind_name} cannot be part of a type declaration")
        raise self._error(tid, "unknown kind")

    # -- emitting top-level definitions ------------------------------------------------------------
    def _emit(self, tid: int, container: int) -> None:
        """Write ``tid``'s definition at top level (``container`` 0) or what a member of
        ``container`` needs before the container can be written."""
        estate = self._emit_state
        if estate[tid] == _DONE:
            return
        t = self._types[tid]
        if t is None:
            return
        kind = t.kind
        out = self._out.append
        if estate[tid] == _IN_PROGRESS:
            # Reached again while being written: what is needed now is a forward declaration.
            if self._fwd_emitted[tid]:
                return
            if kind in _COMPOSITES:
                if tid == container or not t.name:
                    return
                out(self._composite_head(tid, t) + ";\n\n")
                self._fwd_emitted[tid] = 1
            elif kind == TYPEDEF:
                if t.name not in _COMPILER_BUILTINS:
                    self._typedef_def(tid, t, 0)
                    out(";\n\n")
                self._fwd_emitted[tid] = 1
            return
        if kind == INT:
            alias = _MISSING_BASE_TYPES.get(t.name)
            if alias is not None:
                out(f"typedef {alias} {t.name};\n\n")
            estate[tid] = _DONE
        elif kind in _ENUMS:
            if container == 0:
                self._enum_def(tid, t, 0)
                out(";\n\n")
            estate[tid] = _DONE
        elif kind in _MODIFIERS or kind == PTR or kind == ARRAY:
            self._emit(t.type, container)
        elif kind == FWD:
            out(f"{'union' if t.kflag else 'struct'} {self._tag_name(tid)};\n\n")
            estate[tid] = _DONE
        elif kind == TYPEDEF:
            estate[tid] = _IN_PROGRESS
            self._emit(t.type, tid)
            if not self._fwd_emitted[tid] and t.name not in _COMPILER_BUILTINS:
                self._typedef_def(tid, t, 0)
                out(";\n\n")
            estate[tid] = _DONE
        elif kind in _COMPOSITES:
            estate[tid] = _IN_PROGRESS
            top_level = container == 0
            if top_level or not t.name:
                # Members are about to be written out in full: their types need declarations.
                inner = tid if t.name else container
                for m in t.members:
                    self._emit(m.type, inner)
            elif not self._fwd_emitted[tid] and tid != container:
                out(self._composite_head(tid, t) + ";\n\n")
                self._fwd_emitted[tid] = 1
            if top_level:
                self._composite_def(tid, t, 0)
                out(";\n\n")
                estate[tid] = _DONE
            else:
                estate[tid] = _NOT_DONE
        elif kind == FUNC_PROTO:
            self._emit(t.type, container)
            for p in t.params:
                self._emit(p.type, container)

    # -- names ----------------------------------------------------------------------------------------
    def _resolve(self, tid: int, counts: Dict[str, int]) -> str:
        name = self._resolved.get(tid)
        if name is not None:
            return name
        t = self._types[tid]
        name = t.name
        if name:
            self._checked(name, tid, t.kind_name.lower())
            # Forward declarations and empty enums never clash: they declare, not define.
            if not (t.kind == FWD or (t.kind == ENUM and not t.enums)):
                dups = counts.get(name, 0) + 1
                counts[name] = dups
                if dups > 1:
                    name = f"{name}___{dups}"
        self._resolved[tid] = name
        return name

    def _tag_name(self, tid: int) -> str:
        return self._resolve(tid, self._tag_counts)

    def _ident_name(self, tid: int) -> str:
        return self._resolve(tid, self._ident_counts)

    # -- definitions ------------------------------------------------------------------------------------
    def _composite_head(self, tid: int, t: BtfType) -> str:
        word = "struct" if t.kind == STRUCT else "union"
        return f"{word} {self._tag_name(tid)}" if t.name else word

    def _composite_align(self, t: BtfType) -> int:
        biggest = 1
        for m in t.members:
            align = self.align_of(m.type)
            if align > biggest:
                biggest = align
            if not m.bitfield_size and m.offset % (8 * align):
                return 1  # a misaligned member: the struct is packed
        return 1 if t.size % biggest else biggest

    def _is_packed(self, t: BtfType) -> bool:
        """Packed if a member is not naturally aligned or the size is no multiple of the
        alignment (a struct declared packed but laid out naturally is not detected, nor needed)."""
        biggest = 1
        for m in t.members:
            align = self.align_of(m.type)
            if align and not m.bitfield_size and m.offset % (8 * align):
                return True
            if align > biggest:
                biggest = align
        return t.size % biggest != 0

    def _composite_def(self, tid: int, t: BtfType, lvl: int) -> None:
        out = self._out.append
        is_struct = t.kind == STRUCT
        packed = is_struct and self._is_packed(t)
        out(self._composite_head(tid, t) + " {")
        inner = "\t" * (lvl + 1)
        offset = 0
        prev_bitfield = False
        checked = self._checked_names
        for m in t.members:
            bits = m.bitfield_size
            if m.name not in checked and m.name:
                self._checked(m.name, tid, "member")
            if offset < m.offset:
                align = 1 if packed else self.align_of(m.type)
                self._padding(offset, m.offset, align, prev_bitfield and bits != 0, lvl + 1)
            out("\n" + inner)
            self._declaration(m.type, m.name, lvl + 1, False)
            if bits:
                out(f": {bits};")
                offset = m.offset + bits
                prev_bitfield = True
            else:
                out(";")
                offset = m.offset + self.size_of(m.type) * 8
                prev_bitfield = False
        if is_struct:
            self._padding(offset, t.size * 8, self.align_of(tid), False, lvl + 1)
        if t.members or t.size:
            out("\n" + "\t" * lvl + "}")
        else:
            out("}")
        if packed:
            out(" __attribute__((packed))")

    def _padding(self, cur: int, nxt: int, next_align: int, in_bitfield: bool, lvl: int) -> None:
        """Anonymous bitfields that move the next member from bit ``cur`` to bit ``nxt`` when the
        compiler's natural alignment would not put it there."""
        if cur >= nxt:
            return
        self._padding_budget -= nxt - cur
        if self._padding_budget < 0:
            raise BtfError(self.path, f"{(nxt - cur) // 8} bytes of padding in one struct: more "
                                      f"than this writer spells out ({_PADDING_BUDGET_BITS // 8} "
                                      f"bytes in all)")
        out = self._out.append
        prefix = "\n" + "\t" * lvl
        widths = (self.ptr_size * 8, 32, 16, 8)
        # The widest padding type whose next natural boundary is not past the target.
        for pad_name, pad_bits in zip(_PAD_NAMES, widths):
            boundary = -(-cur // pad_bits) * pad_bits
            if boundary <= nxt:
                break
        if cur < boundary <= nxt:
            aligned_by_itself = -(-cur // (next_align * 8)) * (next_align * 8) == boundary
            if (in_bitfield or (boundary == nxt and not aligned_by_itself)
                    or (boundary != nxt and nxt - boundary <= boundary - cur)):
                out(f"{prefix}{pad_name}: {boundary - cur if in_bitfield else 0};")
            cur = boundary
        while cur != nxt:
            gap = min(nxt - cur, pad_bits)
            if gap == pad_bits:
                out(f"{prefix}{pad_name}: {pad_bits};")
                cur += gap
                continue
            # The rest is narrower than the padding type: spell it with the narrowest that fits.
            for small_name, small_bits in zip(reversed(_PAD_NAMES), reversed(widths)):
                if small_bits >= gap:
                    out(f"{prefix}{small_name}: {gap};")
                    cur += gap
                    break

    def _enum_def(self, tid: int, t: BtfType, lvl: int) -> None:
        out = self._out.append
        out(f"enum {self._tag_name(tid)}" if t.name else "enum")
        if not t.enums:
            return
        out(" {")
        inner = "\n" + "\t" * (lvl + 1)
        counts = self._ident_counts
        signed = t.kflag
        is64 = t.kind == ENUM64
        suffix = ("LL" if signed else "ULL") if is64 else ""
        mask = (1 << 64) - 1 if is64 else (1 << 32) - 1
        for e in t.enums:
            name = self._checked(e.name, tid, "enumerator")
            dups = counts.get(name, 0) + 1
            counts[name] = dups
            if dups > 1:
                name = f"{name}___{dups}"
            value = e.value if signed else e.value & mask
            out(f"{inner}{name} = {value}{suffix},")
        out("\n" + "\t" * lvl + "}")
        if t.size == 1:
            out(" __attribute__((mode(byte)))")
        elif t.size == 8 and self.ptr_size == 8:
            # An 8-byte enum happens by itself only when a value needs more than 32 bits.
            if not is64 or all(((e.value & mask) >> 32) == 0 for e in t.enums):
                out(" __attribute__((mode(word)))")

    def _typedef_def(self, tid: int, t: BtfType, lvl: int) -> None:
        name = self._ident_name(tid)
        if t.type == 0 and name == "__gnuc_va_list":
            # Old GCCs describe this typedef as void; the compiler's own type is what is meant.
            self._out.append("typedef __builtin_va_list __gnuc_va_list")
            return
        self._out.append("typedef ")
        self._declaration(t.type, name, lvl, False)

    # -- declarations -------------------------------------------------------------------------------------
    def _declaration(self, tid: int, name: str, lvl: int, strip_mods: bool) -> None:
        types = self._types
        stack: List[int] = []
        for _ in range(4096):
            t = types[tid]
            if not (strip_mods and t is not None and t.kind in _MODIFIERS):
                stack.append(tid)
            if tid == 0:
                break
            kind = t.kind
            if kind in _TERMINAL_KINDS:
                break
            if kind in _CHAIN_KINDS or kind == ARRAY:
                tid = t.type
            else:
                raise self._error(tid, f"a {t.kind_name} cannot be part of a type declaration")
        else:
            raise self._error(tid, "type chain loops")
        self._chain(stack, name, lvl)

    def _drop_modifiers(self, stack: List[int]) -> None:
        types = self._types
        while stack and stack[-1] and types[stack[-1]].kind in _MODIFIERS:
            stack.pop()

    def _leading_modifiers(self, stack: List[int]) -> None:
        """const/volatile/restrict written before a base type ("const int")."""
        types = self._types
        out = self._out.append
        while stack and stack[-1]:
            word = _QUALIFIERS.get(types[stack[-1]].kind)
            if word is None:
                return
            out(word + " ")
            stack.pop()

    def _chain(self, stack: List[int], name: str, lvl: int) -> None:
        """Write a declaration from a stack of ids (innermost type on top).

        C writes the base type first, then pointers and their qualifiers, then the name, then
        array bounds and parameter lists, with parentheses where a pointer binds to an array or
        function: ``int (*handlers[4])(void *)``."""
        types = self._types
        out = self._out.append
        last_was_ptr = True
        while stack:
            tid = stack.pop()
            if tid == 0:
                self._leading_modifiers(stack)
                out("void")
                last_was_ptr = False
                continue
            t = types[tid]
            kind = t.kind
            if kind == PTR:
                out("*" if last_was_ptr else " *")
            elif kind == INT or kind == FLOAT:
                self._leading_modifiers(stack)
                out(self._checked(t.name, tid, "base type", base_type=True))
            elif kind in _COMPOSITES:
                self._leading_modifiers(stack)
                if t.name:
                    out(self._composite_head(tid, t))
                else:
                    self._composite_def(tid, t, lvl)
            elif kind in _ENUMS:
                self._leading_modifiers(stack)
                if t.name:
                    out("enum " + self._tag_name(tid))
                else:
                    self._enum_def(tid, t, lvl)
            elif kind == FWD:
                self._leading_modifiers(stack)
                out(f"{'union' if t.kflag else 'struct'} {self._tag_name(tid)}")
            elif kind == TYPEDEF:
                self._leading_modifiers(stack)
                out(self._ident_name(tid))
            elif kind in _QUALIFIERS:
                out(" " + _QUALIFIERS[kind])
            elif kind == TYPE_TAG:
                self._leading_modifiers(stack)
                tag = self._checked(t.name, tid, "type tag")
                out(f" __attribute__(({tag}))" if t.kflag
                    else f' __attribute__((btf_type_tag("{tag}")))')
            elif kind == ARRAY:
                # Qualifiers on an array itself mean nothing in C (GCC emits them anyway).
                self._drop_modifiers(stack)
                if not stack:
                    self._name(name, last_was_ptr)
                    out(f"[{t.nelems}]")
                    return
                multidim = stack[-1] != 0 and types[stack[-1]].kind == ARRAY
                if name and not last_was_ptr:
                    out(" ")
                if not multidim:
                    out("(")
                self._chain(stack, name, lvl)
                if not multidim:
                    out(")")
                out(f"[{t.nelems}]")
                return
            elif kind == FUNC_PROTO:
                self._drop_modifiers(stack)
                if stack:
                    out(" (")
                    self._chain(stack, name, lvl)
                    out(")")
                else:
                    self._name(name, last_was_ptr)
                self._parameters(tid, t, lvl)
                return
            last_was_ptr = kind == PTR
        self._name(name, last_was_ptr)

    def _name(self, name: str, last_was_ptr: bool) -> None:
        if name:
            self._out.append(name if last_was_ptr else " " + name)

    def _parameters(self, tid: int, t: BtfType, lvl: int) -> None:
        out = self._out.append
        params = t.params
        # Clang writes "no parameters" as one void parameter; a trailing void one means "...".
        if not params or (len(params) == 1 and params[0].type == 0):
            out("(void)")
            return
        out("(")
        last = len(params) - 1
        for i, p in enumerate(params):
            if i:
                out(", ")
            if i == last and p.type == 0:
                out("...")
                break
            if p.name:
                self._checked(p.name, tid, "parameter")
            self._declaration(p.type, p.name, lvl, False)
        out(")")


# ----------------------------------------------------------------------------------------------
# Whole headers

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


def render_header(btf: Btf, type_ids: Optional[Iterable[int]] = None, *,
                  guard: str = "__VMLINUX_H__", path=None, writer: Optional[CWriter] = None) -> str:
    """A complete header declaring ``type_ids`` (default: every type, in id order) and all they
    need, wrapped in a header guard and clang's ``preserve_access_index`` for CO-RE. Pass a
    fresh ``writer`` to ask it afterwards how types were named (``writer.type_name``)."""
    if not _IDENTIFIER.match(guard):
        raise BtfError(path, f"header guard {guard!r} is not a valid C identifier")
    writer = writer if writer is not None else CWriter(btf, path)
    writer.add_all(range(1, len(btf)) if type_ids is None else type_ids)
    body = writer.take()
    if type_ids is None:
        body += _kfunc_prototypes(btf, writer)
    return _HEADER_START.format(guard=guard) + body + _HEADER_END.format(guard=guard)


# Bumped whenever render_header's output changes for the same BTF: caches of rendered headers key
# on it (bpf_build.project.compile), so an updated bpf-build never reuses a header an older one wrote.
HEADER_REVISION = 2  # 2: kfunc prototypes

_KFUNC_START = """\
#ifndef BPF_NO_KFUNC_PROTOTYPES
#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif
"""


def _kfunc_prototypes(btf: Btf, writer: CWriter) -> str:
    """``extern`` declarations of the kernel's kfuncs (FUNCs tagged "bpf_kfunc" in its BTF), weak so
    a program still loads on kernels without one, as bpftool 7.4+ writes them: programs such as
    libbpf-tools call kfuncs with no declaration of their own."""
    kfuncs = []
    for tid, t in btf.items():
        if t.kind == DECL_TAG and t.component_idx == -1 and t.name == "bpf_kfunc":
            func = btf.types[t.type - btf.start_id] if t.type >= btf.start_id else None
            if func is not None and func.kind == FUNC and func.name:
                kfuncs.append((t.type, func))
    if not kfuncs:
        return ""
    seen, lines = set(), [_KFUNC_START]
    for func_id, func in sorted(kfuncs, key=lambda item: item[0]):
        if func.name in seen:
            continue
        seen.add(func.name)
        try:
            decl = writer.declaration(func.type, func.name)
        except BtfError:  # e.g. an address_space(1) type tag: no C spelling; leave that one out
            continue
        lines.append(f"extern {decl} __weak __ksym;\n")
    lines.append("#endif\n\n")
    return "".join(lines)


# ----------------------------------------------------------------------------------------------
# Global data sections (for skeletons)

@dataclass(frozen=True)
class DatasecField:
    """One variable of a DATASEC as a skeleton exposes it.

    ``padding`` is the number of bytes of explicit padding to put before it (bpftool's rule: the
    layout must hold on 32-bit hosts too, so alignment is assumed to be at most 4 bytes)."""

    name: str            # sanitized to a C identifier (static locals are "func.var" in BTF)
    var_name: str        # the VAR's name as in BTF
    type_id: int         # the VAR's type
    offset: int
    size: int
    padding: int


def datasec_fields(btf: Btf, datasec_id: int, path=None) -> List[DatasecField]:
    """The non-static variables of a DATASEC in section order, with the padding a C struct needs
    so that every variable sits at its section offset (see :meth:`CWriter.datasec_fields`)."""
    return CWriter(btf, path).datasec_fields(datasec_id)
