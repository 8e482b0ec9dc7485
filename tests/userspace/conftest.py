"""Tests of the user-space load path (issue 17): real kernel, real clang, real objects."""

from __future__ import annotations

import os

import pytest

from tests.loader.conftest import corpus_object  # noqa: F401  (fixture: the corpus, compiled once)
from tests.kernels.conftest import python_skeleton  # noqa: F401  (fixture: CLI skeletons, shared with VMs)
from tests.skel_python.conftest import skeleton_module  # noqa: F401  (fixture: generated skeletons)

USERSPACE_TESTS = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(items):
    for item in items:
        if str(item.fspath).startswith(USERSPACE_TESTS):
            item.add_marker(pytest.mark.kernel)


@pytest.fixture(autouse=True)
def _needs_bpf():
    if os.geteuid() != 0 or not os.path.exists("/sys/kernel/btf/vmlinux"):
        pytest.skip("needs root and a kernel with BTF to load BPF programs")
