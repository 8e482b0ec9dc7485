"""Feature probes ask the running kernel. On the kernels we boot (Debian's, no backports of these
features) each answer must match the version that introduced the feature; a kind the kernel has
never heard of must be refused, so the probe is not a constant."""

from __future__ import annotations

import subprocess

import pytest

from bpf_build.runtime import LoaderError, features
from bpf_build.runtime.kconfig import _special as kconfig_special
from tests import kernel_facts

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


def test_light_c_runtime_probes_the_bpf_cookie_like_python(tmp_path):
    from bpf_build.skel.light_c import include_dir
    src = tmp_path / "probe.c"
    src.write_text('#include <bpf_build/loader.h>\n'
                   'int main(void) { printf("%d\\n", bpf_build_has_bpf_cookie()); return 0; }\n')
    subprocess.run(["gcc", "-Wall", "-Werror", "-I", include_dir(), str(src), "-o", str(tmp_path / "probe")],
                   check=True)
    out = subprocess.run([str(tmp_path / "probe")], check=True, capture_output=True, text=True).stdout
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
    if not supported:
        with pytest.raises(LoaderError, match=r"BPF_PROG_TYPE_SYSCALL.*bpf_sys_bpf \(Linux 5\.14\+\)"):
            cls.open_and_load()
        return
    with cls.open_and_load() as skel:
        skel.progs.run.test_run()
        assert skel.bss.ran == 1
