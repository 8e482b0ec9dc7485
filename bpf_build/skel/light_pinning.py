"""Maps pinned by name (``LIBBPF_PIN_BY_NAME``) in C light skeletons: what ``light_c`` adds for
them, run by ``<bpf_build/pinning.h>``.

The skeleton gets ``skel->pin_root_path`` (NULL: /sys/fs/bpf, libbpf's ``pin_root_path``) and
``skel->pin_paths.<map>`` (NULL: ``<root>/<map>``; "": not pinned this load), both read by
``X__load``. Before the loader runs, ``bpf_build_pins_open`` puts the fd of each compatible pinned
map in the map's context descriptor (the loader's reuse_map step takes it); after the run,
``bpf_build_pins_finish`` pins the maps the loader created, or closes what a failed load opened.
Objects without pinned maps render nothing here, so their skeletons are unchanged.
"""

from __future__ import annotations

from typing import List

from ..loader.gen import LoaderProgram
from ..runtime.loader_contract import REUSE_STEP_KIND
from .naming import c_string_literal

# X__load's run of the loader when nothing is pinned
PLAIN_RUN = "\terr = bpf_build_load_and_run(&opts, &skel->load_error);\n"


class LightPinning:
    def __init__(self, loader: LoaderProgram, name: str, map_idents: List[str], prog_names: List[str]):
        self.L, self.name = loader, name
        self.map_idents, self.prog_names = map_idents, prog_names
        self.pinned = sorted({op.index for op in loader.ops if op.kind == REUSE_STEP_KIND})

    def include(self) -> str:
        return "#include <bpf_build/pinning.h>\n" if self.pinned else ""

    def struct_fields(self) -> List[str]:
        if not self.pinned:
            return []
        out = ["\tconst char *pin_root_path;\t/* of maps pinned by name; NULL: /sys/fs/bpf */\n",
               "\tstruct {\t/* NULL: <pin_root_path>/<map name>; \"\": not pinned this load */\n"]
        out += [f"\t\tconst char *{self.map_idents[i]};\n" for i in self.pinned]
        out.append("\t} pin_paths;\n")
        return out

    def decls(self) -> str:
        if not self.pinned:
            return ""
        rows = "".join(f"\t\t{{ {c_string_literal(self.L.maps[i].name)}, {i}, {self.L.map_attr_offsets[i]}, "
                       f"skel->pin_paths.{self.map_idents[i]}, NULL, 0 }},\n" for i in self.pinned)
        # not static: the paths are the skeleton's
        return f"\tstruct bpf_build_pinned_map pins[] = {{\n{rows}\t}};\n"

    def run(self) -> str:
        """X__load's run of the loader, between the pinned maps' checks and their pins."""
        if not self.pinned:
            return PLAIN_RUN
        maps = f"&skel->maps.{self.map_idents[0]}"
        progs = f"&skel->progs.{self.prog_names[0]}" if self.prog_names else "NULL"
        n, count = self.name, len(self.pinned)
        return (f"\terr = bpf_build_pins_open(pins, {count}, skel->pin_root_path, {maps}, opts.data, "
                f"opts.data_sz, \"{n}\",\n\t\t\t\t  opts.quiet);\n"
                "\tif (err < 0)\n\t\tskel->load_error.err = err;\n\telse\n"
                "\t" + PLAIN_RUN +
                f"\terr = bpf_build_pins_finish(pins, {count}, err, {maps}, {len(self.map_idents)}, {progs}, "
                f"{len(self.prog_names)},\n\t\t\t\t    \"{n}\", opts.quiet);\n"
                "\tif (err < 0)\n\t\tskel->load_error.err = err;\n")
