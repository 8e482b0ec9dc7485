"""How types are spelled in C: declarators (``int (*handlers[4])(void *)``), with the bodies of
structs, unions and enums (bodies.py) written inline where anonymous.

C writes the base type first, then pointers and their qualifiers, then the name, then array
bounds and parameter lists, with parentheses where a pointer binds to an array or function.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from ...model.btf import ARRAY, FLOAT, FUNC_PROTO, FWD, INT, PTR, TYPE_TAG, TYPEDEF
from .context import CHAIN_KINDS, COMPOSITES, ENUMS, MODIFIERS, QUALIFIERS, TERMINAL_KINDS, TypeTable
from .layout import Layout
from .bodies import BodyWriter
from .names import Names


# Stands for the declared name while a declaration is spelled once for every later use.
_NAME_SLOT = "\0"
# Pointers in a row a declaration may have and still be spelled by ``Declarator._plain``.
_PLAIN_POINTERS = 8


class Declarator(BodyWriter):
    """Writes declarations and type bodies (``BodyWriter``) into ``out`` (a list of text pieces).

    A declaration of a type is spelled once per writer: its text around the declared name is kept
    (``int (*`` and ``)(void *)``) and reused, as the same type is declared again and again (a
    kernel has ~80k members of ~30k types). Only a chain that writes an anonymous body inline is
    spelled anew each time: its enumerators take a new name suffix at every writing."""

    def __init__(self, table: TypeTable, names: Names, layout: Layout):
        self.table = table
        self.names = names
        self.layout = layout
        self.out: List[str] = []
        # Type id -> text before and after the name, and the type's size in bits (-1: not known
        # yet): what a struct member's line takes.
        self._around_name: Dict[int, Tuple[str, str, int]] = {}
        self._unnamed: Dict[int, str] = {}                  # type id -> declaration without a name
        self._heads: Dict[int, str] = {}                    # type id -> "struct foo"
        self._inline_bodies = 0  # anonymous bodies written so far (a chain with one is not kept)

    # -- declarators ---------------------------------------------------------------------------
    def declaration(self, tid: int, name: str, lvl: int, strip_mods: bool) -> None:
        """Write how ``name`` (may be empty) of type ``tid`` is declared, anonymous bodies inline
        at indent ``lvl``; ``strip_mods`` leaves out const/volatile/restrict/type tags."""
        if strip_mods:
            self._spell(tid, name, lvl, True)
            return
        if name:
            around = self._around_name.get(tid)
            if around is None:
                parts = self._plain_parts(tid, lvl)
                if parts is not None:
                    before, _, after, reusable = parts
                else:
                    text, reusable = self._spelled_once(tid, _NAME_SLOT, lvl)
                    before, _, after = text.partition(_NAME_SLOT)
                if reusable:
                    self._around_name[tid] = (before, after, -1)
            else:
                before, after, _ = around
            self.out.append(before + name + after)
            return
        unnamed = self._unnamed.get(tid)
        if unnamed is None:
            parts = self._plain_parts(tid, lvl)
            if parts is not None:
                unnamed, reusable = parts[1] + parts[2], parts[3]
            else:
                unnamed, reusable = self._spelled_once(tid, "", lvl)
            if reusable:
                self._unnamed[tid] = unnamed
        self.out.append(unnamed)

    def _plain_parts(self, tid: int, lvl: int) -> Optional[Tuple[str, str, str, bool]]:
        """The usual declarations spelled without the general walk: a plain type (``_plain``), an
        array of one (``int name[4][2]``), a pointer to a function returning one
        (``int (*name)(void *)``). The text before a name, before no name, after the name, and
        whether it may be used again (not if a parameter wrote an anonymous body). None for the
        others."""
        table = self.table
        kinds = table.kinds
        kind = kinds[tid]
        after = ""
        if kind == ARRAY:
            dims: List[str] = []
            while kind == ARRAY and len(dims) < _PLAIN_POINTERS:
                dims.append(f"[{table.extra(tid, 2)}]")
                tid = table.refs[tid]
                kind = kinds[tid]
            after = "".join(dims)
        elif kind == PTR and tid and kinds[table.refs[tid]] == FUNC_PROTO:
            proto = table.refs[tid]
            returned = self._plain(table.refs[proto])
            if returned is None:
                return None
            base, pointers = returned
            before = (base + " " + "*" * pointers if pointers else base) + " (*"
            saved, self.out = self.out, []
            bodies_before = self._inline_bodies
            try:
                self._parameters(proto, lvl)
                return before, before, ")" + "".join(self.out), self._inline_bodies == bodies_before
            finally:
                self.out = saved
        plain = self._plain(tid)
        if plain is None:
            return None
        base, pointers = plain
        return base + " " + "*" * pointers, base + " " + "*" * pointers if pointers else base, after, True

    def _plain(self, tid: int) -> Optional[Tuple[str, int]]:
        """The most common declarations, spelled without the general walk: pointers (or none) to
        one qualifier (or none) on a type written by name: ``const char **`` is ("const char", 2).
        None for any other (then spelled by ``_spell``), which names each type of the chain the
        same way in the same order, so both agree on de-duplicated names and on errors."""
        table = self.table
        kinds = table.kinds
        pointers = 0
        kind = kinds[tid]
        while kind == PTR and pointers < _PLAIN_POINTERS:
            pointers += 1
            tid = table.refs[tid]
            kind = kinds[tid]
        qualifier = QUALIFIERS.get(kind) if tid else None
        if qualifier is not None:
            tid = table.refs[tid]
            kind = kinds[tid]
        if tid == 0:
            base = "void"
        elif kind == TYPEDEF:
            base = self.names.ident(tid)
        elif kind in COMPOSITES:
            if not table.type_names[tid]:
                return None  # written inline
            base = self.composite_head(tid)
        elif kind in ENUMS:
            if not table.type_names[tid]:
                return None
            base = "enum " + self.names.tag(tid)
        elif kind == INT or kind == FLOAT:
            base = self.names.checked(table.type_names[tid], tid, "base type", base_type=True)
        elif kind == FWD:
            base = f"{'union' if table.kflag(tid) else 'struct'} {self.names.tag(tid)}"
        else:
            return None
        return (qualifier + " " + base if qualifier is not None else base), pointers

    def _spelled_once(self, tid: int, name: str, lvl: int) -> Tuple[str, bool]:
        """The declaration's text, spelled out, and whether it may be used again: not if it wrote
        an anonymous body."""
        saved, self.out = self.out, []
        bodies_before = self._inline_bodies
        try:
            self._spell(tid, name, lvl, False)
            return "".join(self.out), self._inline_bodies == bodies_before
        finally:
            self.out = saved

    def _spell(self, tid: int, name: str, lvl: int, strip_mods: bool) -> None:
        table = self.table
        kinds, refs = table.kinds, table.refs
        stack: List[int] = []
        for _ in range(4096):
            kind = kinds[tid]
            if not (strip_mods and kind in MODIFIERS):
                stack.append(tid)
            if tid == 0:
                break
            if kind in TERMINAL_KINDS:
                break
            if kind in CHAIN_KINDS or kind == ARRAY:
                tid = refs[tid]
            else:
                raise table.error(tid, f"a {table.kind_name(tid)} cannot be part of a type declaration")
        else:
            raise self.table.error(tid, "type chain loops")
        self._chain(stack, name, lvl)

    def _drop_modifiers(self, stack: List[int]) -> None:
        kinds = self.table.kinds
        while stack and stack[-1] and kinds[stack[-1]] in MODIFIERS:
            stack.pop()

    def _leading_modifiers(self, stack: List[int]) -> None:
        """const/volatile/restrict written before a base type ("const int")."""
        kinds = self.table.kinds
        out = self.out.append
        while stack and stack[-1]:
            word = QUALIFIERS.get(kinds[stack[-1]])
            if word is None:
                return
            out(word + " ")
            stack.pop()

    def _chain(self, stack: List[int], name: str, lvl: int) -> None:
        """Write a declaration from a stack of ids (innermost type on top)."""
        table = self.table
        kinds = table.kinds
        names = self.names
        out = self.out.append
        last_was_ptr = True
        while stack:
            tid = stack.pop()
            if tid == 0:
                self._leading_modifiers(stack)
                out("void")
                last_was_ptr = False
                continue
            kind = kinds[tid]
            if kind == PTR:
                out("*" if last_was_ptr else " *")
            elif kind == INT or kind == FLOAT:
                self._leading_modifiers(stack)
                out(names.checked(table.type_names[tid], tid, "base type", base_type=True))
            elif kind in COMPOSITES:
                self._leading_modifiers(stack)
                if table.type_names[tid]:
                    out(self.composite_head(tid))
                else:
                    self.composite_def(tid, lvl)
            elif kind in ENUMS:
                self._leading_modifiers(stack)
                if table.type_names[tid]:
                    out("enum " + names.tag(tid))
                else:
                    self.enum_def(tid, lvl)
            elif kind == FWD:
                self._leading_modifiers(stack)
                out(f"{'union' if table.kflag(tid) else 'struct'} {names.tag(tid)}")
            elif kind == TYPEDEF:
                self._leading_modifiers(stack)
                out(names.ident(tid))
            elif kind in QUALIFIERS:
                out(" " + QUALIFIERS[kind])
            elif kind == TYPE_TAG:
                self._leading_modifiers(stack)
                tag = names.checked(table.type_names[tid], tid, "type tag")
                out(f" __attribute__(({tag}))" if table.kflag(tid)
                    else f' __attribute__((btf_type_tag("{tag}")))')
            elif kind == ARRAY:
                # Qualifiers on an array itself mean nothing in C (GCC emits them anyway).
                self._drop_modifiers(stack)
                if not stack:
                    self._name(name, last_was_ptr)
                    out(f"[{table.extra(tid, 2)}]")
                    return
                multidim = stack[-1] != 0 and kinds[stack[-1]] == ARRAY
                if name and not last_was_ptr:
                    out(" ")
                if not multidim:
                    out("(")
                self._chain(stack, name, lvl)
                if not multidim:
                    out(")")
                out(f"[{table.extra(tid, 2)}]")
                return
            elif kind == FUNC_PROTO:
                self._drop_modifiers(stack)
                if stack:
                    out(" (")
                    self._chain(stack, name, lvl)
                    out(")")
                else:
                    self._name(name, last_was_ptr)
                self._parameters(tid, lvl)
                return
            last_was_ptr = kind == PTR
        self._name(name, last_was_ptr)

    def _name(self, name: str, last_was_ptr: bool) -> None:
        if name:
            self.out.append(name if last_was_ptr else " " + name)

    def _parameters(self, tid: int, lvl: int) -> None:
        out = self.out.append
        params = self.table.params(tid)
        # Clang writes "no parameters" as one void parameter; a trailing void one means "...".
        if not params or (len(params) == 1 and params[0][1] == 0):
            out("(void)")
            return
        out("(")
        last = len(params) - 1
        for i, (p_name, p_type) in enumerate(params):
            if i:
                out(", ")
            if i == last and p_type == 0:
                out("...")
                break
            if p_name:
                self.names.checked(p_name, tid, "parameter")
            self.declaration(p_type, p_name, lvl, False)
        out(")")
