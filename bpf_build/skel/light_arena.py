"""BPF arenas (``BPF_MAP_TYPE_ARENA``, Linux 6.9+) in C light skeletons: what ``light_c`` adds for
them, run by ``<bpf_build/arena.h>``.

The skeleton gets ``skel->arena``, a pointer to a struct of the ``__arena`` globals (section
``.addr_space.1``, laid out from its DATASEC as bpftool's skeleton does): before ``X__load`` it
points at a copy of their initial value (edits there are what the arena starts with), after it
into the mapped arena. ``skel->arena_region`` and ``skel->arena_size`` are the whole mapping (the
addresses the programs' arena pointers hold), NULL/0 until loaded. ``X__load`` reserves the range
and patches the map's ``map_extra`` before the run, maps the arena after it; ``X__destroy`` unmaps.
Objects without an arena map render nothing here, so their skeletons are unchanged.
"""

from __future__ import annotations

from string import Template
from typing import List, Optional, Tuple

from ..btf.c import CWriter
from ..loader.gen import LoaderProgram
from ..loader.open import ARENA_SEC, OpenedObject
from ..model.btf import DATASEC
from ..runtime.arena import ARENA_GLOBALS_OFFSET
from ..runtime.uapi import MapType
from .c import embedded_bytes_literal
from .naming import c_string_literal


class LightArena:
    def __init__(self, opened: OpenedObject, loader: LoaderProgram, name: str, writer: Optional[CWriter]):
        self.L, self.name, self.writer = loader, name, writer
        self.btf = opened.btf
        self.maps = opened.maps
        self.prog_names = [p.name for p in opened.programs]
        # an object has at most one arena map (the open phase refuses more)
        self.index: Optional[int] = next((i for i, m in enumerate(opened.maps) if m.type == MapType.ARENA), None)
        arena = None if self.index is None else opened.maps[self.index]
        self.initial: bytes = (arena.initial_value or b"") if arena is not None else b""

    def include(self) -> str:
        return "#include <bpf_build/arena.h>\n" if self.index is not None else ""

    def data_size(self) -> str:
        return f"bpf_build_mmap_size({len(self.initial)}, 1)"

    def struct_fields(self) -> List[str]:
        if self.index is None:
            return []
        out = []
        if self.initial:
            out.append(f"\tstruct {self.name}__arena {{\n")
            out += self.global_fields()
            out.append("\t} *arena;\t/* the __arena globals: their initial value until loaded, then in the arena */\n")
        out.append("\tvoid *arena_region;\t/* the mapped arena, NULL until loaded */\n\tsize_t arena_size;\n")
        return out

    def global_fields(self) -> List[str]:
        sec_id = self.btf.find(ARENA_SEC, DATASEC) if self.btf is not None else None
        if not sec_id or self.writer is None:
            return [f"\t\tchar __raw[{len(self.initial)}];\n"]
        out: List[str] = []
        pad = 0
        for f in self.writer.datasec_fields(sec_id):
            if f.padding:
                out.append(f"\t\tchar __pad{pad}[{f.padding}];\n")
                pad += 1
            out.append(f"\t\t{self.writer.declaration(f.type_id, f.name, 2, strip_mods=True)};\n")
        return out

    def open_lines(self) -> str:
        if not self.initial:
            return ""
        return (f"\t{{\n\t\tstatic const char data[] __attribute__((__aligned__(8))) = \"\\\n"
                f"{embedded_bytes_literal(self.initial)}\";\n\n"
                f"\t\tskel->arena = (__typeof__(skel->arena))bpf_build_prep_map_data(data, {self.data_size()}, "
                "sizeof(data) - 1);\n\t}\n\tif (!skel->arena)\n\t\tgoto cleanup;\n")

    def destroy_lines(self) -> List[str]:
        if self.index is None:
            return []
        out = ["\tbpf_build_free_map_data(skel->arena_region, skel->arena_size);\n"]
        if self.initial:
            out.append(f"\tif (!skel->arena_region)\n\t\tbpf_build_free_map_data(skel->arena, {self.data_size()});\n")
        return out

    def load_parts(self, blob_declared: bool) -> Tuple[str, str, str]:
        """(declarations, the reservation before the run, the mapping after it) for X__load;
        ``blob_declared``: struct_ops or freplace parts already declare and free ``blob``."""
        if self.index is None:
            return "", "", ""
        m = self.maps[self.index]
        decls = (f"\tstruct bpf_build_arena arena = {{ {c_string_literal(m.name)}, {self.index}, "
                 f"{self.L.map_attr_offsets[self.index]}, NULL, 0 }};\n")
        after = ""
        if not blob_declared:
            decls += "\tvoid *blob = NULL;\n"
            after = "\tfree(blob);\n"
        progs = f"&skel->progs.{self.prog_names[0]}" if self.prog_names else "NULL"
        globals_ = ("skel->arena, " + str(len(self.initial))) if self.initial else "NULL, 0"
        after += _FINISH.substitute(name=self.name, maps=f"&skel->maps.{self.maps[0].ident}", nr_maps=len(self.maps),
                                    progs=progs, nr_progs=len(self.prog_names), globals=globals_,
                                    offset=ARENA_GLOBALS_OFFSET)
        if self.initial:
            after += (f"\tif (err >= 0) {{\n\t\tbpf_build_free_map_data(skel->arena, {self.data_size()});\n"
                      f"\t\tskel->arena = (__typeof__(skel->arena))((char *)arena.address + {ARENA_GLOBALS_OFFSET});\n"
                      "\t}\n")
        after += "\tif (err >= 0) {\n\t\tskel->arena_region = arena.address;\n\t\tskel->arena_size = arena.size;\n\t}\n"
        return decls, _PREPARE.substitute(name=self.name, maps=f"&skel->maps.{self.maps[0].ident}"), after


_PREPARE = Template("""\
	err = bpf_build_arena_prepare(&arena, opts.data, opts.data_sz, ${maps}, "${name}", BPF_BUILD_LOADER_QUIET,
				      &blob);
	if (err < 0) {
		skel->load_error.err = err;
		return bpf_build_fail(err);
	}
	opts.data = blob;
""")

_FINISH = Template("""\
	err = bpf_build_arena_finish(&arena, err, ${globals}, ${offset}, ${maps}, ${nr_maps}, ${progs}, ${nr_progs},
				     "${name}", opts.quiet);
	if (err < 0 && !skel->load_error.err)
		skel->load_error.err = err;
""")
