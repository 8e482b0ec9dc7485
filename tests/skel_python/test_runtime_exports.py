"""bpf_build.runtime's public names load on first use: importing runtime.uapi (as the build side
does, for the kernel's numbers) loads nothing else of the runtime but runtime.ints (the Number base
of its enums), and every name of ``__all__``
still resolves to its module's object, as type checkers are told."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import subprocess
import sys

import bpf_build.runtime as runtime


def test_uapi_alone_loads_no_other_runtime_module():
    code = ("import json, sys, bpf_build.runtime.uapi; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('bpf_build'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == ["bpf_build", "bpf_build.runtime", "bpf_build.runtime.ints", "bpf_build.runtime.uapi"]


def test_every_public_name_resolves_to_its_module():
    for name in runtime.__all__:
        module = importlib.import_module(f"bpf_build.runtime.{runtime._MODULE_OF[name]}")
        assert getattr(runtime, name) is getattr(module, name), name


def test_submodules_stay_reachable_as_attributes():
    assert runtime.syscall is importlib.import_module("bpf_build.runtime.syscall")
    assert not hasattr(runtime, "no_such_module")


def test_all_table_and_type_checking_imports_agree():
    tree = ast.parse(inspect.getsource(runtime))
    guarded = next(node for node in tree.body if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    imported = {(stmt.module, alias.name) for stmt in guarded.body if isinstance(stmt, ast.ImportFrom)
                for alias in stmt.names}
    table = {(module, name) for module, names in runtime._PUBLIC.items() for name in names}
    assert imported == table
    assert sorted(runtime.__all__) == sorted(runtime._MODULE_OF)
