"""Our C skeletons against bpftool's (the oracle): the same struct, the same layout of global data
as compiled by gcc, and programs written for bpftool's skeleton work unchanged with ours."""

from __future__ import annotations

import os

import pytest

from bpf_build.model.btf import DATASEC, VAR, VAR_STATIC
from bpf_build.model.elf import Object
from bpf_build.skel.c import datasec_ident

from tests.skel_c import userland
from tests.skel_c.conftest import SKEL_CORPUS
from tests.skel_c.test_skeleton import assert_output, build_user_program

pytestmark = pytest.mark.oracle


def skeleton_struct(path: str, name: str) -> str:
    text = open(path).read()
    start = text.index(f"struct {name} {{\n")
    return text[start:text.index("#ifdef __cplusplus", start)]


@pytest.mark.parametrize("name", sorted(SKEL_CORPUS))
def test_skeleton_struct_is_bpftools(name, our_skeleton, bpftool_skeleton):
    """Every global-data map has its member, also one without variables (string literals in
    .rodata.str1.1, only bpf_printk's format in .rodata), as bpftool 7.1 has: code written for
    bpftool's header that names them compiles; libbpf leaves them NULL when it cannot mmap them."""
    skel = f"{name}_bpf"
    assert skeleton_struct(our_skeleton(name), skel) == skeleton_struct(bpftool_skeleton(name), skel)


def layout_printer(obj_path: str, skel: str) -> str:
    """A C program printing the size of every section struct and the offset and size of every
    global variable in it, derived from the object's BTF (not from either header)."""
    btf = Object.read(obj_path).btf
    lines = []
    for _, t in btf.items():
        ident = datasec_ident(t.name) if t.kind == DATASEC else None
        if ident is None or t.name == ".ksyms":
            continue
        variables = [btf.get(v.type) for v in t.secinfo]
        variables = [v for v in variables if v.kind == VAR and v.linkage != VAR_STATIC]
        if not variables:
            continue
        sec_struct = f"struct {skel}__{ident}"
        lines.append(f"P(sizeof({sec_struct}));")
        for v in variables:
            lines.append(f"P(offsetof({sec_struct}, {v.name}));")
            lines.append(f"P(sizeof(((struct {skel} *)0)->{ident}->{v.name}));")
    body = "\n\t".join(lines)
    return ("#include <stddef.h>\n#include <stdio.h>\n#include SKEL_HEADER\n"
            '#define P(x) printf("%s = %zu\\n", #x, (size_t)(x))\n'
            f"int main(void)\n{{\n\t{body}\n\treturn 0;\n}}\n")


@pytest.mark.parametrize("name", sorted(SKEL_CORPUS))
def test_global_data_layout_compiles_identically(name, corpus_object, our_skeleton,
                                                 bpftool_skeleton, tmp_path):
    source = layout_printer(corpus_object(name), f"{name}_bpf")
    outputs = []
    for label, header in (("ours", our_skeleton(name)), ("bpftool", bpftool_skeleton(name))):
        out_dir = tmp_path / label
        out_dir.mkdir()
        exe = userland.gcc_build(source, str(out_dir), "layout", flags=[f'-DSKEL_HEADER="{header}"'])
        outputs.append(userland.run_program(exe))
    assert outputs[0] == outputs[1]
    assert outputs[0].count("\n") == source.count("\tP(")


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(SKEL_CORPUS))
def test_programs_written_for_bpftools_skeleton(name, bpftool_skeleton, tmp_path):
    """The user programs the kernel tests build against our skeleton are bpftool programs: they
    build and behave the same against bpftool's header."""
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    userland.ensure_tracefs()
    exe = build_user_program(name, bpftool_skeleton(name), tmp_path)
    assert_output(name, userland.run_program(exe))
