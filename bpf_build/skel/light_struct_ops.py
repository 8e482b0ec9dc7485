"""The struct_ops part of a C light skeleton (``light_c``): what ``X.lskel.h`` declares and does for
each struct_ops map.

``skel->struct_ops.<map>`` points at a copy of the object's struct, typed as a *shadow* struct
(``struct <skel>__<map>__<type>``: the data members whose type is a scalar or an array of
scalars under their own names, everything else, function pointers included, as opaque bytes, as
bpftool's skeletons do), editable between ``X__open`` and ``X__load``. ``X__load`` hands those
bytes and a table of the loader's records (``struct bpf_build_struct_ops_map``) to
``bpf_build_struct_ops_prepare`` (loader.h), which lays each map out for the running kernel from
its BTF, in ``skel->struct_ops_values``. As with libbpf, the load only creates the map and loads
its programs; ``X__<map>__attach`` (and ``X__attach``) writes the value with the programs' fds
(``bpf_build_struct_ops_register``), which registers a legacy ``.struct_ops`` map until
``X__detach`` deletes it, and makes the BPF link a ``.struct_ops.link`` map registers with, kept
in ``skel->links.<map>_fd`` until ``X__detach``.

``skel->struct_ops_autocreate.<map>`` (libbpf's ``bpf_map__set_autocreate``), settable between
``X__open`` and ``X__load``, starts false for libbpf's optional sections ``SEC("?.struct_ops")``
and ``SEC("?.struct_ops.link")`` and true otherwise. A map left off is created as a placeholder
array (the loader cannot skip a step), which ``X__load`` closes after the run, so, as with libbpf,
it is absent (``map_fd`` 0), not laid out and not attached; a struct_ops program then loads only
if a created map points at it (``bpf_build_struct_ops_autoload``).
"""

from __future__ import annotations

from string import Template
from typing import Dict, List, Optional, Tuple

from ..errors import SkeletonError
from ..loader.gen import LoaderProgram, prog_desc_offset
from ..loader.gen.program import LoaderStructOps
from ..loader.open import OpenedMap, OpenedObject
from ..model import btf as B
from .c import embedded_bytes_literal
from .naming import c_string_literal

__all__ = ["LightStructOps", "struct_ops_tables"]

class LightStructOps:
    """The struct_ops maps of one light skeleton (``name``) and the C it renders for them."""

    def __init__(self, opened: OpenedObject, loader: LoaderProgram, name: str, path) -> None:
        self.o, self.L, self.name = opened, loader, name
        self.maps: List[OpenedMap] = [opened.maps[s.map_index] for s in loader.struct_ops]
        # .struct_ops.link maps: each has a link fd, made by X__attach
        self.linked: List[OpenedMap] = [m for m, s in zip(self.maps, loader.struct_ops) if s.link]
        programs = {p.name for p in opened.programs}
        for m in self.linked:
            if m.ident in programs:
                raise SkeletonError(path, f"struct_ops map '{m.ident}' and program '{m.ident}' would both be "
                                          f"skeleton field 'links.{m.ident}_fd'")

    def shadow_name(self, m: OpenedMap) -> str:
        assert m.struct_ops is not None
        return f"{self.name}__{m.ident}__{m.struct_ops.type_name}"

    # -- the skeleton's struct -------------------------------------------------------------------
    def link_fields(self) -> List[str]:
        return [f"int {m.ident}_fd;" for m in self.linked]

    def value_field(self) -> List[str]:
        """The maps' values as prepare lays them out, written at attach."""
        return [f"\tstruct bpf_build_struct_ops_value struct_ops_values[{len(self.maps)}];\n"] if self.maps else []

    def struct_block(self) -> List[str]:
        """``struct { struct X__map__type { ... } *map; ... } struct_ops;``, or nothing."""
        if not self.maps:
            return []
        out = ["\tstruct {\n"]
        for m in self.maps:
            out.append(f"\t\tstruct {self.shadow_name(m)} {{\n")
            out += [f"\t\t\t{decl};\n" for decl, _, _ in self.shadow_members(m)]
            out.append(f"\t\t}} *{m.ident};\n")
        out.append("\t} struct_ops;\n\tstruct {\n")
        out += [f"\t\tbool {m.ident};\n" for m in self.maps]
        out.append("\t} struct_ops_autocreate;\n")
        return out

    def shadow_members(self, m: OpenedMap) -> List[Tuple[str, str, int]]:
        """The shadow struct's members: scalars (and arrays of them) by name, the rest opaque, as
        (declaration, the member's name or "" for opaque bytes, offset)."""
        btf, ops = self.o.btf, m.struct_ops
        assert btf is not None and ops is not None  # a struct_ops map was opened from BTF
        t = btf.type(btf.skip_modifiers(m.value_type_id))
        out: List[Tuple[str, str, int]] = []
        at = 0
        for i, (member, described) in enumerate(zip(t.members, ops.members)):
            if described.offset > at:
                out.append((f"char __padding_{i}[{described.offset - at}]", "", at))
            decl = None if described.is_func_ptr else _scalar_declaration(btf, member.type, member.name)
            out.append((decl, member.name, described.offset) if decl else
                       (f"char __unsupported_{i}[{described.size}]", "", described.offset))
            at = described.offset + described.size
        if len(ops.data) > at:
            out.append((f"char __padding_end[{len(ops.data) - at}]", "", at))
        return out

    def layout_checks(self) -> List[str]:
        """Conditions true when the shadow structs have the object's layout."""
        checks = []
        for m in self.maps:
            assert m.struct_ops is not None
            checks.append(f"sizeof(*skel->struct_ops.{m.ident}) == {len(m.struct_ops.data)}")
            checks += [f"offsetof(__typeof__(*skel->struct_ops.{m.ident}), {name}) == {offset}"
                       for _, name, offset in self.shadow_members(m) if name]
        return checks

    # -- attach, detach, destroy ---------------------------------------------------------------
    def _prog_descs(self) -> str:
        """The context's program descriptors (the context starts the skeleton's struct)."""
        offset = prog_desc_offset(len(self.o.maps), 0)
        return f"(const struct bpf_build_prog_desc *)(const void *)((const char *)skel + {offset})"

    def attach_functions(self) -> List[Dict[str, str]]:
        """``X__<map>__attach`` of each .struct_ops.link map, as light_c's attach template takes it."""
        return [{"field": m.ident, "what": "map", "source": f"maps.{m.ident}.map_fd",
                 "guard": f"map_fd <= 0 || skel->links.{m.ident}_fd > 0", "why": "not loaded, or attached already",
                 "body": f"fd = bpf_build_struct_ops_register(map_fd, &skel->struct_ops_values[{i}],\n"
                         f"\t\t\t\t\t   {self._prog_descs()}, 1);"}
                for i, m in enumerate(self.maps) if m in self.linked]

    def legacy_attach_functions(self) -> List[str]:
        """``X__<map>__attach`` of each legacy .struct_ops map: the write that registers it."""
        return [_LEGACY_ATTACH.substitute(name=self.name, field=m.ident, index=i, progs=self._prog_descs())
                for i, m in enumerate(self.maps) if m not in self.linked]

    def attachers(self) -> List[str]:
        """What X__attach attaches, after the programs: ``<map>`` fields."""
        return [m.ident for m in self.maps]

    def link_attachers(self) -> List[str]:
        """The links X__detach closes, after the programs': ``<map>`` fields."""
        return [m.ident for m in self.linked]

    def detach_lines(self) -> List[str]:
        # a legacy struct_ops map stays registered, and alive, until its key 0 is deleted
        return [f"\tbpf_build_struct_ops_unregister(skel->maps.{m.ident}.map_fd);\n"
                for m in self.maps if m not in self.linked]

    def free_lines(self) -> List[str]:
        out = [f"\tfree(skel->struct_ops.{m.ident});\n" for m in self.maps]
        if self.maps:
            out.append(f"\tbpf_build_struct_ops_values_free(skel->struct_ops_values, {len(self.maps)});\n")
        return out

    # -- open and load ---------------------------------------------------------------------------
    def open_lines(self) -> str:
        """X__open: each struct's bytes, copied where the caller may edit them until load."""
        out = []
        for m, s in zip(self.maps, self.L.struct_ops):
            field = f"skel->struct_ops.{m.ident}"
            out.append(f"\t{{\n\t\tstatic const char data[] __attribute__((__aligned__(8))) = \"\\\n"
                       f"{embedded_bytes_literal(s.data)}\";\n\n"
                       f"\t\t{field} = (__typeof__({field}))malloc(sizeof(data) - 1 ? sizeof(data) - 1 : 1);\n"
                       f"\t\tif (!{field})\n\t\t\tgoto cleanup;\n"
                       f"\t\tmemcpy({field}, data, sizeof(data) - 1);\n\t}}\n")
            optional = m.struct_ops is not None and m.struct_ops.optional
            value = "false; /* SEC(\"?...\"): off until asked for */" if optional else "true;"
            out.append(f"\tskel->struct_ops_autocreate.{m.ident} = {value}\n")
        return "".join(out)

    def load_parts(self) -> Tuple[str, str, str]:
        """(declarations, the lay-out before the run, the clean-up after it) for X__load."""
        if not self.maps:
            return "", "", ""
        data = [(f"skel->struct_ops.{m.ident}", str(len(m.struct_ops.data)))
                for m in self.maps if m.struct_ops is not None]
        create = [f"skel->struct_ops_autocreate.{m.ident}" for m in self.maps]
        decls = struct_ops_tables(self.L, [m.name for m in self.o.maps], data, create) + "\tvoid *blob = NULL;\n"
        progs = f"(struct bpf_build_prog_desc *)(void *)((char *)skel + {prog_desc_offset(len(self.o.maps), 0)})"
        prepare = _PREPARE.substitute(name=self.name, count=len(self.maps), progs=progs)
        # a map not created was a placeholder: gone after the load, as with libbpf
        close = "".join(_CLOSE_PLACEHOLDER.substitute(field=m.ident) for m in self.maps)
        return decls, prepare, "\tfree(blob);\n" + close


def _scalar_declaration(btf: B.Btf, type_id: int, name: str) -> Optional[str]:
    """``<C type> name[N]...`` for a scalar or an array of scalars, by their sizes and encodings
    only (no type names of the object's: the skeleton does not declare them); None otherwise."""
    dims = ""
    t = btf.type(btf.skip_modifiers(type_id))
    for _ in range(8):
        if t.kind != B.ARRAY:
            break
        dims += f"[{t.nelems}]"
        t = btf.type(btf.skip_modifiers(t.type))
    c_type = _scalar_type(t)
    return f"{c_type} {name}{dims}" if c_type else None


def _scalar_type(t: B.BtfType) -> Optional[str]:
    """A C type of the same size and meaning: ``char`` kept (strings), other integers as
    ``__u32``-style kernel types, enums as their integer, floats as themselves."""
    if t.kind == B.INT and t.int_offset == 0 and t.size in (1, 2, 4, 8) and t.int_bits == t.size * 8:
        if t.int_encoding & B.INT_BOOL:
            return "bool"
        if t.name in ("char", "signed char", "unsigned char"):
            return t.name
        return f"__{'s' if t.int_encoding & B.INT_SIGNED else 'u'}{t.size * 8}"
    if t.kind in (B.ENUM, B.ENUM64) and t.size in (1, 2, 4, 8):
        return f"__{'s' if t.kflag else 'u'}{t.size * 8}"
    if t.kind == B.FLOAT:
        return {4: "float", 8: "double"}.get(t.size)
    return None


def struct_ops_tables(L: LoaderProgram, map_names: List[str], data: List[Tuple[str, str]],
                      create: Optional[List[str]] = None) -> str:
    """C declarations of ``struct_ops``, the ``struct bpf_build_struct_ops_map`` array describing
    the loader's struct_ops maps to ``bpf_build_struct_ops_prepare``, with their members' arrays;
    ``data``: per map, C expressions of its struct's bytes and their size; ``create``: per map, a C
    expression of its autocreate (None: every map is created)."""
    out, rows = [], []
    for i, s in enumerate(L.struct_ops):
        members = "NULL"
        if s.members:
            members = f"struct_ops_{i}_members"
            out.append(f"\tstatic const struct bpf_build_struct_ops_member {members}[] = {{\n")
            out += [f"\t\t{{ {c_string_literal(name)}, {offset}, {size}, "
                    + ("BPF_BUILD_STRUCT_OPS_DATA, BPF_BUILD_STRUCT_OPS_DATA" if prog < 0 else
                       f"{L.prog_attr_offsets[prog]}, {prog}") + " },\n"
                    for name, offset, size, prog in s.members]
            out.append("\t};\n")
        rows.append(_row(s, map_names[s.map_index], L.map_attr_offsets[s.map_index], members, *data[i],
                         create[i] if create else "1"))
    # not static: the data pointers are the skeleton's
    out.append("\tconst struct bpf_build_struct_ops_map struct_ops[] = {\n" + "".join(rows) + "\t};\n")
    return "".join(out)


def _row(s: LoaderStructOps, map_name: str, map_attr: int, members: str, data: str, data_size: str,
         create: str) -> str:
    return (f"\t\t{{ {c_string_literal(map_name)}, {c_string_literal(s.type_name)}, {int(s.link)}, {map_attr},\n"
            f"\t\t  {data}, {data_size}, {members}, {len(s.members)}, {create} }},\n")


# Before the run: a copy of the blob with the struct_ops maps laid out for this kernel.
_PREPARE = Template("""\
	err = bpf_build_struct_ops_prepare(opts_data, sizeof(opts_data) - 1, struct_ops, ${count}, "${name}",
					   BPF_BUILD_LOADER_QUIET, &blob, skel->struct_ops_values);
	if (err < 0) {
		skel->load_error.err = err;
		return bpf_build_fail(err);
	}
	opts.data = blob;
	bpf_build_struct_ops_autoload(struct_ops, ${count}, ${progs});
""")

# After the run: a map whose autocreate was off was created as a placeholder; close it.
_CLOSE_PLACEHOLDER = Template("""\
	if (err >= 0 && !skel->struct_ops_autocreate.${field} && skel->maps.${field}.map_fd > 0) {
		close(skel->maps.${field}.map_fd);
		skel->maps.${field}.map_fd = 0;
	}
""")

# X__<map>__attach of a legacy .struct_ops map: its value's write registers it (no link).
_LEGACY_ATTACH = Template("""
static inline int
${name}__${field}__attach(struct ${name} *skel)
{
	int map_fd = skel->maps.${field}.map_fd;

	if (map_fd <= 0)
		return 0; /* not loaded */
	return bpf_build_struct_ops_register(map_fd, &skel->struct_ops_values[${index}],
					     ${progs}, 0);
}
""")
