"""Fixtures for Python skeleton tests: render a skeleton for a clang-compiled object and import it
as a module, the way a project would after ``bpf-build skel --lang python``."""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest

from bpf_build.model.elf import Object
from bpf_build.skel import default_skeleton_name
from bpf_build.skel.python import generate
from tests.runtime import rt_support


def kernel_ok() -> bool:
    return os.geteuid() == 0 and os.path.exists("/sys/kernel/btf/vmlinux")


@pytest.fixture(scope="session")
def tracefs():
    if not rt_support.ensure_tracefs():
        pytest.skip("tracefs is not mounted and cannot be mounted")


@pytest.fixture
def needs_kernel():
    if not kernel_ok():
        pytest.skip("needs root and a kernel with BTF to load BPF programs")


@pytest.fixture(scope="session")
def skeleton_module(compile_c, tmp_path_factory):
    """skeleton_module(source, name='prog', cflags=()) -> (module, generated text, object path)."""
    out_dir = tmp_path_factory.mktemp("pyskel")
    cache = {}

    def build(source: str, name: str = "prog", cflags=("-mcpu=v3",)):
        key = (source, name, tuple(cflags))
        if key not in cache:
            obj_path = compile_c(source, name=name, cflags=cflags)
            skel_name = default_skeleton_name(obj_path)
            text = generate(Object.read(obj_path), skel_name)
            module_name = f"{name}_skel_{len(cache)}"
            path = out_dir / f"{module_name}.py"
            path.write_text(text)
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            cache[key] = (module, text, obj_path)
        return cache[key]

    return build
