"""Fixtures for BTF-to-C tests: vmlinux BTF parsed and rendered once per session."""

from __future__ import annotations

import os

import pytest

from bpf_build.model.btf import Btf
from bpf_build.btf.c import CWriter, render_header

from bpf_build.cli.commands.vmlinux import SYSFS_BTF

VMLINUX = f"{SYSFS_BTF}/vmlinux"


@pytest.fixture(scope="session")
def vmlinux_btf() -> Btf:
    if not os.path.exists(VMLINUX):
        pytest.skip(f"{VMLINUX} not present (kernel without BTF)")
    return Btf.from_file(VMLINUX)


@pytest.fixture(scope="session")
def vmlinux_render(vmlinux_btf):
    """(writer, vmlinux.h text): every vmlinux type, rendered once per test session (worker)."""
    writer = CWriter(vmlinux_btf, VMLINUX)
    return writer, render_header(vmlinux_btf, path=VMLINUX, writer=writer)


@pytest.fixture(scope="session")
def vmlinux_h_dir(tmp_path_factory, vmlinux_render) -> str:
    """A directory holding vmlinux.h as `bpf-build vmlinux` writes it (rendered in-process)."""
    d = tmp_path_factory.mktemp("vmlinux_h")
    (d / "vmlinux.h").write_text(vmlinux_render[1])
    return str(d)
