"""Subskeletons (`bpf-build skel --subskeleton`, bpftool's `gen subskeleton`): a library object's
view of its own maps, programs and variables, found at run time inside the object the library
was statically linked into."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bpf_build.model.elf import Object
from bpf_build.errors import SkeletonError
from bpf_build.skel.c import generate

from tests.skel_c import userland
from tests.skel_c.conftest import run_cli

LIBRARY = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, __u64);
    } lib_map SEC(".maps");

    int lib_counter;
    const volatile int lib_step = 1;
    int lib_history[4];

    __noinline int lib_bump(void)
    {
        __u32 key = 0;
        __u64 *bumps = bpf_map_lookup_elem(&lib_map, &key);

        if (bumps)
            *bumps += 1;
        lib_counter += lib_step;
        lib_history[lib_counter & 3] = lib_counter;
        return lib_counter;
    }

    SEC("xdp")
    int lib_xdp(struct xdp_md *ctx)
    {
        return XDP_PASS;
    }
"""

APPLICATION = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    extern int lib_bump(void);
    __u64 main_calls;

    SEC("tracepoint/syscalls/sys_enter_getpid")
    int on_getpid(void *ctx)
    {
        main_calls++;
        lib_bump();
        return 0;
    }

    char LICENSE[] SEC("license") = "GPL";
"""

USER = r"""
    #include <stdio.h>
    #include <sys/syscall.h>
    #include <unistd.h>
    #include <bpf/bpf.h>
    #include "final.skel.h"
    #include SUBSKEL_HEADER

    int main(void)
    {
        struct final_bpf *skel = final_bpf__open();
        struct lib_bpf *lib;
        unsigned int key = 0;
        unsigned long long bumps = 0;

        if (!skel)
            return 10;
        lib = lib_bpf__open(skel->obj);     /* the library's view of the linked object */
        if (!lib)
            return 11;
        *lib->rodata.lib_step = 5;          /* library rodata, set before load */
        if (final_bpf__load(skel))
            return 12;
        if (final_bpf__attach(skel))
            return 13;
        for (int i = 0; i < 3; i++)
            syscall(SYS_getpid);
        bpf_map__lookup_elem(lib->maps.lib_map, &key, sizeof(key), &bumps, sizeof(bumps), 0);
        printf("lib_counter=%d main_calls=%llu step=%d history3=%d bumps=%llu same_bss=%d "
               "same_prog=%d\n",
               *lib->bss.lib_counter, skel->bss->main_calls, *lib->rodata.lib_step,
               (*lib->bss.lib_history)[15 & 3], bumps, lib->maps.bss == skel->maps.bss,
               lib->progs.lib_xdp == skel->progs.lib_xdp);
        lib_bpf__destroy(lib);
        final_bpf__destroy(skel);
        return 0;
    }
"""

EXPECTED = {"lib_counter": 15, "main_calls": 3, "step": 5, "history3": 15, "bumps": 3,
            "same_bss": 1, "same_prog": 1}


@pytest.fixture(scope="module")
def linked(compile_c, tmp_path_factory):
    """(directory, library object, linked object): linked with `bpftool gen object`."""
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool not installed (needed to link the test objects)")
    lib = compile_c(LIBRARY, name="lib")
    app = compile_c(APPLICATION, name="app")
    d = tmp_path_factory.mktemp("subskel")
    final = str(d / "final.bpf.o")
    subprocess.run([bpftool, "gen", "object", final, app, lib], check=True, capture_output=True)
    for args in (("skel", final, "-o", str(d / "final.skel.h")),
                 ("skel", "--subskeleton", lib, "-o", str(d / "lib.subskel.h"))):
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
    return d, lib, final


def subskeleton_struct(text: str) -> str:
    return text[text.index("struct lib_bpf {"):text.index("#ifdef __cplusplus")]


def test_subskeleton_shape(linked):
    d, _, _ = linked
    text = (d / "lib.subskel.h").read_text()
    assert subskeleton_struct(text) == (
        "struct lib_bpf {\n"
        "\tstruct bpf_object *obj;\n"
        "\tstruct bpf_object_subskeleton *subskel;\n"
        "\tstruct {\n\t\tstruct bpf_map *lib_map;\n\t\tstruct bpf_map *rodata;\n"
        "\t\tstruct bpf_map *bss;\n\t} maps;\n"
        "\tstruct {\n\t\tstruct bpf_program *lib_xdp;\n\t} progs;\n"
        "\tstruct lib_bpf__rodata {\n\t\tint *lib_step;\n\t} rodata;\n"
        "\tstruct lib_bpf__bss {\n\t\tint *lib_counter;\n\t\t__typeof__(int[4]) *lib_history;\n\t} bss;\n"
        "\n")
    # Maps are found by section name in whatever object the library was linked into.
    assert 'map->name = ".bss";' in text and 'map->name = ".rodata";' in text
    assert "#ifndef __LIB_BPF_SUBSKEL_H__" in text


@pytest.mark.kernel
def test_library_subskeleton_works_on_the_linked_object(linked):
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    userland.ensure_tracefs()
    d, _, _ = linked
    exe = userland.gcc_build(USER, str(d), "user_ours", include_dirs=[str(d)],
                             flags=['-DSUBSKEL_HEADER="lib.subskel.h"'])
    values = userland.parse_key_values(userland.run_program(exe))
    assert {k: values.get(k) for k in EXPECTED} == EXPECTED


@pytest.mark.oracle
@pytest.mark.kernel
def test_program_written_for_bpftools_subskeleton(linked):
    """USER builds and behaves the same against bpftool's subskeleton, and the data layout
    (every pointer member of every section struct) is bpftool's."""
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    userland.ensure_tracefs()
    d, lib, _ = linked
    proc = subprocess.run([shutil.which("bpftool"), "gen", "subskeleton", lib], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    theirs = proc.stdout
    (d / "lib.bpftool.subskel.h").write_text(theirs)
    ours = (d / "lib.subskel.h").read_text()
    # bpftool 7.1 spells __typeof__ as typeof; otherwise the struct is the same.
    assert subskeleton_struct(ours) == subskeleton_struct(theirs).replace("\ttypeof(", "\t__typeof__(")
    exe = userland.gcc_build(USER, str(d), "user_bpftool", include_dirs=[str(d)],
                             flags=['-DSUBSKEL_HEADER="lib.bpftool.subskel.h"'])
    values = userland.parse_key_values(userland.run_program(exe))
    assert {k: values.get(k) for k in EXPECTED} == EXPECTED


def test_subskeleton_without_btf_is_an_error(compile_c):
    obj = Object.read(compile_c("int lib_value = 1;\n", name="plain_lib"))
    obj.btf = None
    obj.btf_ext = None
    obj.path = None
    with pytest.raises(SkeletonError, match="a subskeleton needs BTF"):
        generate(obj, "lib_bpf", subskeleton=True)
