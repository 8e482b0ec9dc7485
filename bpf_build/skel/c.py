"""C skeletons with the API of ``bpftool gen skeleton`` / ``gen subskeleton``.

``generate(obj, name, subskeleton=False) -> str`` renders the header from the open-phase model
(:mod:`bpf_build.loader.open`): the maps, programs and global-data sections libbpf will create,
named as libbpf names them. Global-data structs are rendered from BTF by :mod:`bpf_build.btf.c`
with bpftool's padding rule, so ``skel->bss->counter`` lands where the kernel map has it.

The generated code only calls libbpf's stable skeleton API (``bpf_object__open_skeleton`` and
friends). It compiles against libbpf 1.1's headers (Debian 12) and newer ones: the map
skeleton entries are laid out with the stride libbpf is told (``map_skel_sz``), never with the
compiler's idea of ``sizeof(struct bpf_map_skeleton)``, which grew in later libbpf versions.

The skeleton embeds the object file it was made from, byte for byte, as bpftool does (objects
made in memory are embedded as ``Object.to_bytes()`` writes them): what libbpf opens at run time
is exactly the input, and the same input always gives the same header.
"""

from __future__ import annotations

import os
from string import Template
from typing import List, Optional, Tuple

from ..model.btf import ARRAY, DATASEC, FUNC_PROTO, PTR, Btf
from ..btf.c import CWriter, DatasecField
from ..model.elf import Object
from ..errors import BpfBuildError, SkeletonError
from ..fileio import read_bytes
from ..loader.open import OpenedMap, OpenedObject, internal_map_name, open_object
from . import rendering_errors
from .naming import c_identifier, c_skeleton_name, c_string_literal, check_object_names, datasec_ident

__all__ = ["generate", "datasec_ident", "embedded_bytes_literal", "field_block", "check_field_names",
           "GlobalData"]

# bpftool's offsetof(struct bpf_map_skeleton, link): the entry size every libbpf understands.
MAP_SKELETON_SIZE = 24


def generate(obj: Object, name: str, subskeleton: bool = False,
             elf_bytes: Optional[bytes] = None) -> str:
    """The C skeleton (or subskeleton) header for ``obj``; ``name`` is the skeleton's name
    (``struct <name>``, ``<name>__open()``...). ``elf_bytes`` is the object to embed; by default
    the file ``obj`` was read from, or ``obj.to_bytes()`` when it has no file."""
    c_skeleton_name(obj.path, name)
    with rendering_errors(obj.path):
        opened = open_object(obj, name)
        renderer = _Renderer(opened, name, obj, elf_bytes)
        return renderer.subskeleton() if subskeleton else renderer.skeleton()


def embedded_bytes_literal(data: bytes) -> str:
    """A C string literal body for ``data`` as bpftool prints it: ``\\0`` for zero bytes,
    ``\\xNN`` otherwise, lines continued with a backslash before 78 columns."""
    pieces: List[str] = []
    width = 0
    for byte in data:
        token = _BYTE_TOKENS[byte]
        width += len(token)
        if width > 78:
            pieces.append("\\\n")
            width = len(token)
        pieces.append(token)
    return "".join(pieces)


_BYTE_TOKENS = ["\\0"] + [f"\\x{b:02x}" for b in range(1, 256)]


def _object_file_bytes(obj: Object) -> bytes:
    if obj.path is not None and os.path.isfile(obj.path):
        return read_bytes(obj.path, SkeletonError)
    return obj.to_bytes()


def field_block(label: str, lines: List[str]) -> List[str]:
    """``struct { <lines> } <label>;`` as a member of a skeleton struct; nothing for no lines."""
    if not lines:
        return []
    return ["\tstruct {\n"] + [f"\t\t{line}\n" for line in lines] + [f"\t}} {label};\n"]


def check_field_names(opened: OpenedObject, path) -> None:
    """A skeleton has a field per map and per program: each must be a C identifier, and no two
    may share a name."""
    check_object_names(opened, path)
    for m in opened.maps:
        if m.ident:
            c_identifier(path, "map", m.ident)
    for p in opened.programs:
        c_identifier(path, "program", p.name)
    for what, names in (("map", [m.ident for m in opened.maps if m.ident]),
                        ("program", [p.name for p in opened.programs])):
        seen = set()
        for n in names:
            if n in seen:
                raise SkeletonError(path, f"two {what}s would both be skeleton field '{n}'")
            seen.add(n)


class GlobalData:
    """A skeleton's view of the object's global data, the same in the C skeleton and the C light
    skeleton (``light_c``): one struct per global-data map laid out from its DATASEC
    (``skel->bss->counter``), and compile-time checks of each variable's size.

    ``mapped_only``: only the maps the kernel lets user space mmap. The C skeleton has a member
    for every global-data map, as bpftool 7.1 does (an empty ``rodata`` for a section of string
    literals: code naming ``skel->rodata`` compiles; libbpf leaves the pointer NULL after load
    when the map is not mmapable). A light skeleton maps them itself, so it takes only those."""

    def __init__(self, opened: OpenedObject, name: str, path, mapped_only: bool = False):
        self.name = name
        self.path = path
        self.btf: Optional[Btf] = opened.btf
        self.writer = CWriter(self.btf, path) if self.btf is not None else None
        self.maps: List[OpenedMap] = [m for m in opened.maps if m.ident and m.is_internal
                                      and (m.mmapable or not mapped_only)]

    def datasec_of(self, m: OpenedMap) -> Optional[int]:
        """The DATASEC describing map ``m`` (matched by bpftool's field name), or None."""
        if self.btf is None:
            return None
        for tid, t in self.btf.items():
            if t.kind == DATASEC and datasec_ident(t.name) == m.ident:
                return tid
        return None

    def _btf_and_writer(self) -> Tuple[Btf, CWriter]:
        """The BTF and its writer, for code that found a DATASEC (so there is BTF)."""
        assert self.btf is not None and self.writer is not None
        return self.btf, self.writer

    def datasec_vars(self, m: OpenedMap) -> Tuple[Optional[int], List[DatasecField]]:
        sec_id = self.datasec_of(m)
        if sec_id is None:
            return None, []
        fields = self._btf_and_writer()[1].datasec_fields(sec_id)
        for f in fields:  # each is a struct member and (subskeleton) a string
            c_identifier(self.path, "variable", f.var_name)
        return sec_id, fields

    def structs(self) -> List[str]:
        """``struct <name>__<map> { ... } *<map>;`` members, one per memory-mapped map."""
        out: List[str] = []
        for m in self.maps:
            sec_id, fields = self.datasec_vars(m)
            out.append(f"\tstruct {self.name}__{m.ident} {{\n")
            if sec_id is not None:
                btf, writer = self._btf_and_writer()
                keep_qualifiers = btf.type(sec_id).name == ".kconfig"
                pad = 0
                for f in fields:
                    if f.padding:
                        out.append(f"\t\tchar __pad{pad}[{f.padding}];\n")
                        pad += 1
                    decl = writer.declaration(f.type_id, f.name, 2, strip_mods=not keep_qualifiers)
                    out.append(f"\t\t{decl};\n")
            out.append(f"\t}} *{m.ident};\n")
        return out

    def size_asserts(self) -> List[str]:
        """Compile-time checks that each variable has the size BTF gives it."""
        if self.writer is None:
            return []
        writer = self.writer
        out = ["\n__attribute__((unused)) static void\n"
               f"{self.name}__assert(struct {self.name} *s __attribute__((unused)))\n{{\n"
               "#ifdef __cplusplus\n#define _Static_assert static_assert\n#endif\n"]
        for m in self.maps:
            _, fields = self.datasec_vars(m)
            for f in fields:
                try:
                    size = writer.size_of(f.type_id)
                except BpfBuildError:
                    continue
                out.append(f"\t_Static_assert(sizeof(s->{m.ident}->{f.name}) == {size}, "
                           f"\"unexpected size of '{f.name}'\");\n")
        out.append("#ifdef __cplusplus\n#undef _Static_assert\n#endif\n}\n")
        return out


class _Renderer:
    def __init__(self, opened: OpenedObject, name: str, obj: Object, elf_bytes: Optional[bytes]):
        self.opened = opened
        self.name = name
        self.obj = obj
        self.elf_bytes = elf_bytes
        self.path = obj.path
        check_field_names(opened, self.path)
        self.global_data = GlobalData(opened, name, self.path)
        self.btf: Optional[Btf] = opened.btf
        self.writer = self.global_data.writer
        self.maps = [m for m in opened.maps if m.ident]
        self.progs = opened.programs

    # -- model queries ---------------------------------------------------------------------------
    def runtime_map_name(self, m: OpenedMap, subskeleton: bool) -> str:
        """The name libbpf finds the map by at run time. A subskeleton looks its maps up in
        another (linked) object, where only the section name of global data is the same: bpftool
        names them as if the object had no name (``.data``, not ``lib.data``). A name starting
        with a dot is looked up as the section name, so a custom section longer than the kernel's
        15 characters goes by its whole name (which every libbpf finds)."""
        name = internal_map_name("", m.real_name) if subskeleton and m.is_internal else m.name
        return m.real_name if m.is_internal and name.startswith(".") else name

    # -- pieces shared by skeletons and subskeletons ---------------------------------------------
    def header(self, guard: str, extra: str = "") -> List[str]:
        return ["/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */\n\n"
                "/* THIS FILE IS AUTOGENERATED BY BPF-BUILD! */\n"
                f"#ifndef {guard}\n#define {guard}\n\n"
                "#include <errno.h>\n#include <stdlib.h>\n#include <bpf/libbpf.h>\n\n" + extra]

    def map_fields(self) -> List[str]:
        return field_block("maps", [f"struct bpf_map *{m.ident};" for m in self.maps])

    def prog_fields(self) -> List[str]:
        return field_block("progs", [f"struct bpf_program *{p.name};" for p in self.progs])

    def maps_setup(self, mmaped: bool) -> List[str]:
        """Fill ``s->maps``: one entry per map, ``map_skel_sz`` bytes apart."""
        if not self.maps:
            return []
        out = [f"\n\t/* maps */\n"
               f"\ts->map_cnt = {len(self.maps)};\n"
               f"\ts->map_skel_sz = {MAP_SKELETON_SIZE};\n"
               f"\ts->maps = (struct bpf_map_skeleton *)calloc(s->map_cnt,\n"
               f"\t\t\tsizeof(*s->maps) > {MAP_SKELETON_SIZE} ? sizeof(*s->maps) : {MAP_SKELETON_SIZE});\n"
               "\tif (!s->maps) {\n\t\terr = -ENOMEM;\n\t\tgoto err;\n\t}\n"]
        mmaped_idents = {m.ident for m in self.global_data.maps} if mmaped else set()
        for i, m in enumerate(self.maps):
            out.append(f"\n\tmap = (struct bpf_map_skeleton *)((char *)s->maps + {i} * s->map_skel_sz);\n"
                       f"\tmap->name = {c_string_literal(self.runtime_map_name(m, subskeleton=not mmaped))};\n"
                       f"\tmap->map = &obj->maps.{m.ident};\n")
            if m.ident in mmaped_idents:
                out.append(f"\tmap->mmaped = (void **)&obj->{m.ident};\n")
        return out

    def progs_setup(self, links: bool) -> List[str]:
        if not self.progs:
            return []
        out = [f"\n\t/* programs */\n"
               f"\ts->prog_cnt = {len(self.progs)};\n"
               "\ts->prog_skel_sz = sizeof(*s->progs);\n"
               "\ts->progs = (struct bpf_prog_skeleton *)calloc(s->prog_cnt, s->prog_skel_sz);\n"
               "\tif (!s->progs) {\n\t\terr = -ENOMEM;\n\t\tgoto err;\n\t}\n"]
        for i, p in enumerate(self.progs):
            out.append(f"\n\ts->progs[{i}].name = {c_string_literal(p.name)};\n"
                       f"\ts->progs[{i}].prog = &obj->progs.{p.name};\n")
            if links:
                out.append(f"\ts->progs[{i}].link = &obj->links.{p.name};\n")
        return out

    # -- skeleton --------------------------------------------------------------------------------
    def skeleton(self) -> str:
        n = self.name
        guard = f"__{n.upper()}_SKEL_H__"
        out = self.header(guard, "#define BPF_SKEL_SUPPORTS_MAP_AUTO_ATTACH 1\n\n")
        out.append(f"struct {n} {{\n\tstruct bpf_object_skeleton *skeleton;\n\tstruct bpf_object *obj;\n")
        out += self.map_fields()
        out += self.prog_fields()
        out += field_block("links", [f"struct bpf_link *{p.name};" for p in self.progs])
        out += self.global_data.structs()
        out.append(_SKELETON_FUNCTIONS.substitute(name=n))
        out += self.maps_setup(mmaped=True)
        out += self.progs_setup(links=True)
        data = self.elf_bytes if self.elf_bytes is not None else _object_file_bytes(self.obj)
        elf = embedded_bytes_literal(data)
        out.append(_SKELETON_TAIL.substitute(name=n, elf=elf))
        out += self.global_data.size_asserts()
        out.append(f"\n#endif /* {guard} */\n")
        return "".join(out)

    # -- subskeleton -----------------------------------------------------------------------------
    def subskeleton(self) -> str:
        if self.btf is None:
            raise SkeletonError(self.path, "a subskeleton needs BTF (compile with -g)")
        n = self.name
        guard = f"__{n.upper()}_SUBSKEL_H__"
        out = self.header(guard)
        out.append(f"struct {n} {{\n\tstruct bpf_object *obj;\n\tstruct bpf_object_subskeleton *subskel;\n")
        out += self.map_fields()
        out += self.prog_fields()
        variables = self.subskeleton_variables()
        out += self.subskeleton_datasecs(variables)
        out.append(_SUBSKELETON_OPEN.substitute(name=n, var_count=len(variables)))
        for i, (m, f) in enumerate(variables):
            out.append(f"\n\ts->vars[{i}].name = {c_string_literal(f.var_name)};\n"
                       f"\ts->vars[{i}].map = &obj->maps.{m.ident};\n"
                       f"\ts->vars[{i}].addr = (void **) &obj->{m.ident}.{f.var_name};\n")
        out += self.maps_setup(mmaped=False)
        out += self.progs_setup(links=False)
        out.append(_SUBSKELETON_TAIL.substitute(name=n, guard=guard))
        return "".join(out)

    def subskeleton_variables(self) -> List[Tuple[OpenedMap, DatasecField]]:
        found: List[Tuple[OpenedMap, DatasecField]] = []
        for m in self.global_data.maps:
            if not m.value_type_id:
                continue
            found += [(m, f) for f in self.global_data.datasec_vars(m)[1]]
        return found

    def _btf_and_writer(self) -> Tuple[Btf, CWriter]:
        """The BTF and its writer, for the subskeleton (which refuses an object without BTF)."""
        assert self.btf is not None and self.writer is not None
        return self.btf, self.writer

    def subskeleton_datasecs(self, variables: List[Tuple[OpenedMap, DatasecField]]) -> List[str]:
        """Per section, a struct of pointers to the variables (found in the final object at run
        time): ``int *counter;``, arrays and function pointers through ``__typeof__``."""
        btf, writer = self._btf_and_writer()
        out: List[str] = []
        for m in self.global_data.maps:
            sec_id = self.global_data.datasec_of(m)
            if sec_id is None:
                continue
            keep_qualifiers = btf.type(sec_id).name == ".kconfig"
            out.append(f"\tstruct {self.name}__{m.ident} {{\n")
            for owner, f in variables:
                if owner is not m:
                    continue
                decl = writer.declaration(f.type_id, "", 2, strip_mods=not keep_qualifiers)
                if self.needs_typeof(f.type_id):
                    decl = f"__typeof__({decl})"
                out.append(f"\t\t{decl} *{f.var_name};\n")
            out.append(f"\t}} {m.ident};\n")
        return out

    def needs_typeof(self, type_id: int) -> bool:
        """Arrays and function pointers cannot be made into pointers by prefixing ``*``."""
        btf = self._btf_and_writer()[0]
        t = btf.get(btf.skip_modifiers(type_id))
        if t is None:
            return False
        if t.kind == ARRAY:
            return True
        if t.kind == PTR:
            target = btf.get(t.type) if t.type else None
            return target is not None and target.kind == FUNC_PROTO
        return False


_SKELETON_FUNCTIONS = Template("""
#ifdef __cplusplus
	static inline struct ${name} *open(const struct bpf_object_open_opts *opts = nullptr);
	static inline struct ${name} *open_and_load();
	static inline int load(struct ${name} *skel);
	static inline int attach(struct ${name} *skel);
	static inline void detach(struct ${name} *skel);
	static inline void destroy(struct ${name} *skel);
	static inline const void *elf_bytes(size_t *sz);
#endif /* __cplusplus */
};

static void
${name}__destroy(struct ${name} *obj)
{
	if (!obj)
		return;
	if (obj->skeleton)
		bpf_object__destroy_skeleton(obj->skeleton);
	free(obj);
}

static inline int
${name}__create_skeleton(struct ${name} *obj);

static inline struct ${name} *
${name}__open_opts(const struct bpf_object_open_opts *opts)
{
	struct ${name} *obj;
	int err;

	obj = (struct ${name} *)calloc(1, sizeof(*obj));
	if (!obj) {
		errno = ENOMEM;
		return NULL;
	}

	err = ${name}__create_skeleton(obj);
	if (err)
		goto err_out;

	err = bpf_object__open_skeleton(obj->skeleton, opts);
	if (err)
		goto err_out;

	return obj;
err_out:
	${name}__destroy(obj);
	errno = -err;
	return NULL;
}

static inline struct ${name} *
${name}__open(void)
{
	return ${name}__open_opts(NULL);
}

static inline int
${name}__load(struct ${name} *obj)
{
	return bpf_object__load_skeleton(obj->skeleton);
}

static inline struct ${name} *
${name}__open_and_load(void)
{
	struct ${name} *obj;
	int err;

	obj = ${name}__open();
	if (!obj)
		return NULL;
	err = ${name}__load(obj);
	if (err) {
		${name}__destroy(obj);
		errno = -err;
		return NULL;
	}
	return obj;
}

static inline int
${name}__attach(struct ${name} *obj)
{
	return bpf_object__attach_skeleton(obj->skeleton);
}

static inline void
${name}__detach(struct ${name} *obj)
{
	bpf_object__detach_skeleton(obj->skeleton);
}

static inline const void *${name}__elf_bytes(size_t *sz);

static inline int
${name}__create_skeleton(struct ${name} *obj)
{
	struct bpf_object_skeleton *s;
	struct bpf_map_skeleton *map __attribute__((unused));
	int err;

	s = (struct bpf_object_skeleton *)calloc(1, sizeof(*s));
	if (!s)	{
		err = -ENOMEM;
		goto err;
	}

	s->sz = sizeof(*s);
	s->name = "${name}";
	s->obj = &obj->obj;
""")

_SKELETON_TAIL = Template("""
	s->data = ${name}__elf_bytes(&s->data_sz);

	obj->skeleton = s;
	return 0;
err:
	bpf_object__destroy_skeleton(s);
	return err;
}

static inline const void *${name}__elf_bytes(size_t *sz)
{
	static const char data[] __attribute__((__aligned__(8))) = "\\
${elf}";

	*sz = sizeof(data) - 1;
	return (const void *)data;
}

#ifdef __cplusplus
struct ${name} *${name}::open(const struct bpf_object_open_opts *opts) { return ${name}__open_opts(opts); }
struct ${name} *${name}::open_and_load() { return ${name}__open_and_load(); }
int ${name}::load(struct ${name} *skel) { return ${name}__load(skel); }
int ${name}::attach(struct ${name} *skel) { return ${name}__attach(skel); }
void ${name}::detach(struct ${name} *skel) { ${name}__detach(skel); }
void ${name}::destroy(struct ${name} *skel) { ${name}__destroy(skel); }
const void *${name}::elf_bytes(size_t *sz) { return ${name}__elf_bytes(sz); }
#endif /* __cplusplus */
""")

_SUBSKELETON_OPEN = Template("""
#ifdef __cplusplus
	static inline struct ${name} *open(const struct bpf_object *src);
	static inline void destroy(struct ${name} *skel);
#endif /* __cplusplus */
};

static inline void
${name}__destroy(struct ${name} *skel)
{
	if (!skel)
		return;
	if (skel->subskel)
		bpf_object__destroy_subskeleton(skel->subskel);
	free(skel);
}

static inline struct ${name} *
${name}__open(const struct bpf_object *src)
{
	struct ${name} *obj;
	struct bpf_object_subskeleton *s;
	struct bpf_map_skeleton *map __attribute__((unused));
	int err;

	obj = (struct ${name} *)calloc(1, sizeof(*obj));
	if (!obj) {
		err = -ENOMEM;
		goto err;
	}
	s = (struct bpf_object_subskeleton *)calloc(1, sizeof(*s));
	if (!s) {
		err = -ENOMEM;
		goto err;
	}
	s->sz = sizeof(*s);
	s->obj = src;
	s->var_skel_sz = sizeof(*s->vars);
	obj->subskel = s;

	/* vars */
	s->var_cnt = ${var_count};
	s->vars = (struct bpf_var_skeleton *)calloc(${var_count}, sizeof(*s->vars));
	if (!s->vars) {
		err = -ENOMEM;
		goto err;
	}
""")

_SUBSKELETON_TAIL = Template("""
	err = bpf_object__open_subskeleton(s);
	if (err)
		goto err;

	return obj;
err:
	${name}__destroy(obj);
	errno = -err;
	return NULL;
}

#ifdef __cplusplus
struct ${name} *${name}::open(const struct bpf_object *src) { return ${name}__open(src); }
void ${name}::destroy(struct ${name} *skel) { ${name}__destroy(skel); }
#endif /* __cplusplus */

#endif /* ${guard} */
""")
