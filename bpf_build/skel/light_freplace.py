"""freplace programs (``BPF_PROG_TYPE_EXT``) in C light skeletons: what ``light_c`` adds for them,
run by ``<bpf_build/freplace.h>``.

The skeleton gets ``skel->attach_targets.<prog>`` (``{ target_prog_fd, "function" }``; a NULL
function: the one ``SEC("freplace/...")`` names), read by ``X__load``: the target's fd and the
function's BTF id go into the program's BPF_PROG_LOAD attr in a copy of the blob before the loader
runs, and ``X__<prog>__attach`` links the program to that target. A kernel refusing the load with
EPERM (no trampolines) is named as such. Objects without freplace programs render nothing here.
"""

from __future__ import annotations

from string import Template
from typing import List, Optional, Tuple

from ..loader.gen import LoaderProgram
from ..loader.open import OpenedProgram
from ..runtime.freplace import default_func_name
from ..runtime.uapi import ProgType
from .naming import c_string_literal


class LightFreplace:
    def __init__(self, loader: LoaderProgram, name: str, progs: List[OpenedProgram]):
        self.L, self.name = loader, name
        self.progs = [(j, p) for j, p in enumerate(progs) if p.type == ProgType.EXT]

    def include(self) -> str:
        return "#include <bpf_build/freplace.h>\n" if self.progs else ""

    def struct_fields(self) -> List[str]:
        if not self.progs:
            return []
        out = ["\tstruct {\t/* of freplace programs, set before load: { target_prog_fd, \"function\" } */\n"]
        out += [f"\t\tstruct bpf_build_freplace_target {p.name};\n" for _, p in self.progs]
        out.append("\t} attach_targets;\n")
        return out

    def attach_call(self, p: OpenedProgram) -> Optional[str]:
        if p.type != ProgType.EXT:
            return None
        return f"bpf_build_freplace_attach(prog_fd, &skel->attach_targets.{p.name})"

    def load_parts(self, blob_declared: bool) -> Tuple[str, str, str]:
        """(declarations, the targets' fill before the run, what follows the run) for X__load;
        ``blob_declared``: the struct_ops part already declares and frees ``blob``."""
        if not self.progs:
            return "", "", ""
        rows = []
        for j, p in self.progs:
            default = default_func_name(p.section)
            state = f"skel->progs.{p.name}.load"
            loads = f"{state} != BPF_BUILD_LOAD_NO" if p.autoload else f"{state} == BPF_BUILD_LOAD_YES"
            rows.append(f"\t\t{{ {c_string_literal(p.name)}, {c_string_literal(p.section)}, "
                        f"{c_string_literal(default) if default else 'NULL'}, {self.L.prog_attr_offsets[j]},\n"
                        f"\t\t  {loads}, &skel->attach_targets.{p.name} }},\n")
        decls = f"\tstruct bpf_build_freplace_prog freplace[] = {{\n{''.join(rows)}\t}};\n"
        after = ""
        if not blob_declared:
            decls += "\tvoid *blob = NULL;\n"
            after = "\tfree(blob);\n"
        steps = {op.index: op.step for op in self.L.ops if op.kind == "load_prog"}
        for j, p in self.progs:
            after += (f"\tif (err == -EPERM && skel->load_error.step == {steps[j]})\n"
                      f"\t\tbpf_build_freplace_eperm(\"{self.name}\", {c_string_literal(p.name)}, opts.quiet);\n")
        return decls, _PREPARE.substitute(name=self.name, count=len(self.progs)), after


_PREPARE = Template("""\
	err = bpf_build_freplace_prepare(opts_data, sizeof(opts_data) - 1, freplace, ${count}, "${name}",
					 BPF_BUILD_LOADER_QUIET, &blob);
	if (err < 0) {
		skel->load_error.err = err;
		return bpf_build_fail(err);
	}
	opts.data = blob;
""")
