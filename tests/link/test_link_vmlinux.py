"""Objects built against vmlinux.h with thousands of kernel types each: the heavy BTF dedup
case. Both dedup flavours are checked against the libbpf that defines them (bpftool 7.1's
linker, libbpf.so 1.1's linker), and the result loads and runs."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from bpf_build.model import btf as B
from bpf_build.btf.dedup import LIBBPF
from bpf_build.link import link

from link_cases import rich_kernel_structs
from link_kernel import load_and_run, require_bpf
from link_libbpf import libbpf_link, require_libbpf
from link_oracle import bpftool_link, read

VMLINUX = "/sys/kernel/btf/vmlinux"


def _unit(index: int, structs) -> str:
    globals_ = "".join(f"struct {s} g{index}_{i};\n" for i, s in enumerate(structs))
    return f"""#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
{globals_}
extern int other{1 - index}(void);
__noinline int other{index}(void)
{{
    struct task_struct *t = (void *)bpf_get_current_task();

    return BPF_CORE_READ(t, tgid) == (int)(bpf_get_current_pid_tgid() >> 32) ? {index + 1} : 100;
}}
""" + ("""
SEC("raw_tp/sys_enter") int vmlinux_prog(void *ctx)
{
    return other0() * 10 + other1();
}
""" if index == 0 else "") + 'char LICENSE[] SEC("license") = "GPL";\n'


@pytest.fixture(scope="module")
def vmlinux_pair(tmp_path_factory, compile_c):
    if not os.path.exists(VMLINUX):
        pytest.skip("no kernel BTF")
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool not installed (it generates vmlinux.h for this test)")
    include = tmp_path_factory.mktemp("vmlinux_h")
    with open(include / "vmlinux.h", "w") as f:
        subprocess.run(["bpftool", "btf", "dump", "file", VMLINUX, "format", "c"], stdout=f, check=True)
    structs = rich_kernel_structs(150)
    return [compile_c(_unit(i, structs[i * 50:i * 50 + 100]), name=f"vmlinux{i}",
                      cflags=(f"-I{include}",)) for i in range(2)]


@pytest.mark.oracle
def test_vmlinux_pair_is_byte_identical_to_bpftool(vmlinux_pair, tmp_path):
    ours = link(vmlinux_pair).to_bytes()
    rc, err, theirs = bpftool_link(vmlinux_pair, str(tmp_path / "bpftool.o"))
    assert rc == 0, err
    assert sum(len(read(p).btf.types) for p in vmlinux_pair) > 5000
    assert ours == theirs


@pytest.mark.oracle
def test_vmlinux_pair_libbpf_flavour_is_byte_identical_to_libbpf_so(vmlinux_pair, tmp_path):
    require_libbpf()
    ours = link(vmlinux_pair, btf_dedup=LIBBPF)
    assert ours.to_bytes() == libbpf_link(vmlinux_pair, str(tmp_path / "libbpf.o"))
    def fwds(obj):
        return sum(1 for t in obj.btf.types if t.kind == B.FWD)

    # libbpf 1.1 resolves the forward declarations bpftool 7.1's libbpf leaves behind
    assert fwds(ours) < fwds(link(vmlinux_pair))


@pytest.mark.kernel
def test_vmlinux_pair_loads_and_runs(vmlinux_pair, tmp_path):
    require_bpf()
    out = tmp_path / "linked.o"
    link(vmlinux_pair).write(out)
    assert load_and_run(str(out), {"vmlinux_prog": {"data": b"", "ctx": bytes(8), "repeat": 0}}) \
        == {"vmlinux_prog": 12}
