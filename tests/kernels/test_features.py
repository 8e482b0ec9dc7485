"""Feature probes ask the running kernel. On the kernels we boot (Debian's, no backports of these
features) each answer must match the version that introduced the feature; a kind the kernel has
never heard of must be refused, so the probe is not a constant."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bpf_build.runtime import LoaderError, features
from bpf_build.runtime.kconfig import _special as kconfig_special
from tests import kernel_facts
from tests.kernels.conftest import cli

pytestmark = pytest.mark.kernel

INTRODUCED = {"FLOAT": (5, 13), "DECL_TAG": (5, 16), "TYPE_TAG": (5, 17), "ENUM64": (6, 0)}


@pytest.mark.parametrize("kind", sorted(INTRODUCED))
def test_btf_kind_probe_matches_the_kernel(kind):
    assert features.has_btf_kind(kind) == (kernel_facts.kernel_version() >= INTRODUCED[kind])


def test_a_kind_no_kernel_knows_is_refused():
    assert not features._btf_loads(features._INT + features._type(1, 31, 0, 4), b"\0a\0")


def test_bpf_cookie_probe_drives_the_kconfig_extern():
    expected = kernel_facts.kernel_version() >= (5, 15)
    assert features.has_bpf_cookie() == expected
    assert kconfig_special("LINUX_HAS_BPF_COOKIE") == ("y" if expected else "n")


def test_light_c_runtime_probes_the_bpf_cookie_like_python(build_native, tmp_path):
    from bpf_build.headers import include_dir
    src = tmp_path / "probe.c"
    src.write_text('#include <bpf_build/loader.h>\n'
                   'int main(void) { printf("%d\\n", bpf_build_has_bpf_cookie()); return 0; }\n')
    probe = build_native("probe", ["gcc", "-Wall", "-Werror", "-I", include_dir(), src], [src])
    out = subprocess.run([str(probe)], check=True, capture_output=True, text=True).stdout
    assert out.strip() == str(int(features.has_bpf_cookie()))


TRIVIAL_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
__u64 ran;
SEC("syscall") int run(void *ctx) { ran = 1; return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_loader_programs_run_or_the_error_names_what_they_need(python_skeleton):
    supported = kernel_facts.kernel_version() >= (5, 14)
    assert features.has_loader_programs() == supported
    cls = python_skeleton(TRIVIAL_C, "k_trivial")
    if not supported:  # the loader program path, asked for explicitly (auto would load from user space)
        with pytest.raises(LoaderError, match=r"BPF_PROG_TYPE_SYSCALL.*bpf_sys_bpf \(Linux 5\.14\+\)"):
            cls.open_and_load(mode="kernel")
        return
    with cls.open_and_load(mode="kernel") as skel:
        skel.progs.run.test_run()
        assert skel.bss.ran == 1


TRIVIAL_MAIN_C = r"""
#include <stdio.h>
#include "trivial.lskel.h"
int main(void)
{
	struct trivial_bpf *skel = trivial_bpf__open_and_load();

	if (!skel)
		return 1;
	trivial_bpf__destroy(skel);
	puts("loaded");
	return 0;
}
"""


def test_light_c_loader_programs_run_or_the_error_names_what_they_need(compile_c, cached_output):
    from bpf_build.headers import include_dir
    obj = compile_c(TRIVIAL_C, name="trivial")

    def build(exe):
        work = exe.parent
        cli("skel", "--light", obj, "-o", str(work / "trivial.lskel.h"))
        (work / "main.c").write_text(TRIVIAL_MAIN_C)
        subprocess.run(["gcc", "-O1", "-I", include_dir(), "-I", str(work), str(work / "main.c"), "-o", str(exe)],
                       check=True, capture_output=True)
    runtime_header = Path(include_dir(), "bpf_build", "loader.h").read_bytes()
    exe = cached_output("trivial", Path(obj).read_bytes() + TRIVIAL_MAIN_C.encode() + runtime_header, build)
    ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    if features.has_loader_programs():
        assert (ran.returncode, ran.stdout.strip()) == (0, "loaded"), ran.stderr
    else:
        assert ran.returncode == 1 and "BPF_PROG_TYPE_SYSCALL with bpf_sys_bpf, Linux 5.14+" in ran.stderr, ran.stderr


def test_memcg_accounting_probe_matches_the_kernel():
    """Before 5.11 BPF memory counts against RLIMIT_MEMLOCK, which the user-space path lifts."""
    assert features.has_memcg_accounting() == (kernel_facts.kernel_version() >= (5, 11))
