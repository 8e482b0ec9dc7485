"""Light skeleton patterns from real programs (issue 13): the header compiles on its own as C and
C++ with ``const volatile bool`` globals (vmlinux.h's ``bool`` typedef) and a long custom data
section; a failed load leaves the error in ``errno`` as bpftool's light skeletons do."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bpf_build.model.elf import Object
from bpf_build.headers import include_dir
from bpf_build.skel.light_c import generate

from tests.skel_c import userland

# vmlinux.h declares bool as a typedef of _Bool: BTF names the type "bool", and so does the header.
BOOL_C = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    typedef _Bool bool;

    const volatile bool verbose = 0;
    int read_mostly_var SEC(".data.read_mostly") = 1;
    int seen;

    SEC("xdp")
    int xdp_bool(struct xdp_md *ctx)
    {
        if (verbose)
            seen += read_mostly_var;
        return XDP_PASS;
    }

    char LICENSE[] SEC("license") = "GPL";
"""

USE_BOOL = r"""
    #include SKEL_HEADER

    int main(void)
    {
        struct bools_bpf *skel = bools_bpf__open();

        if (!skel)
            return 1;
        skel->rodata->verbose = true;
        skel->data_read_mostly->read_mostly_var = 123;
        bools_bpf__destroy(skel);
        return 0;
    }
"""

# The verifier refuses this program: the map value is used without a NULL check (a hash map: an
# array lookup with a constant key needs none on recent kernels).
REJECTED_C = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, __u64);
    } vals SEC(".maps");

    SEC("xdp")
    int unchecked(struct xdp_md *ctx)
    {
        __u32 key = 0;
        __u64 *v = bpf_map_lookup_elem(&vals, &key);

        return *v;
    }

    char LICENSE[] SEC("license") = "GPL";
"""

USE_REJECTED = r"""
    #include <errno.h>
    #include <stdio.h>
    #include SKEL_HEADER

    int main(void)
    {
        struct rejected_bpf *skel = rejected_bpf__open();
        int ret;

        if (!skel)
            return 1;
        errno = 0;
        ret = rejected_bpf__load(skel);
        printf("ret=%d errno=%d ", ret, errno);
        rejected_bpf__destroy(skel);
        errno = 0;
        skel = rejected_bpf__open_and_load();
        printf("null=%d errno2=%d\n", skel == NULL, errno);
        return 0;
    }
"""


def write_header(compile_c, tmp_path, source: str, name: str) -> str:
    header = tmp_path / f"{name}.lskel.h"
    header.write_text(generate(Object.read(compile_c(source, name=name)), f"{name}_bpf"))
    return str(header)


@pytest.mark.parametrize("compiler", ["gcc", "g++"])
def test_light_header_with_bool_compiles_alone(compiler, compile_c, tmp_path):
    path = shutil.which(compiler)
    if path is None:
        pytest.skip(f"{compiler} not installed")
    header = write_header(compile_c, tmp_path, BOOL_C, "bools")
    src = tmp_path / ("use.c" if compiler == "gcc" else "use.cpp")
    src.write_text(USE_BOOL.replace("SKEL_HEADER", f'"{header}"'))
    proc = subprocess.run([path, "-Wall", "-Werror", "-Wno-unused-function", "-fsyntax-only",
                           "-I", include_dir(), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "\t\tbool verbose;\n" in open(header).read()


@pytest.mark.kernel
def test_failed_load_sets_errno(compile_c, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    header = write_header(compile_c, tmp_path, REJECTED_C, "rejected")
    exe = userland.gcc_build(USE_REJECTED, str(tmp_path), "rejected", include_dirs=[include_dir()],
                             flags=[f'-DSKEL_HEADER="{header}"', "-DBPF_BUILD_LOADER_QUIET=1"],
                             link_libbpf=False)
    values = userland.parse_key_values(userland.run_program(exe))
    assert values["ret"] < 0 and values["errno"] == -values["ret"], values
    assert values["null"] == 1 and values["errno2"] == -values["ret"], values
