"""The run-time side stays small: importing the runtime, or a generated skeleton, loads nothing from
the build side of bpf_build (ELF/BTF model, generators, compile driver) and no third-party module."""

from __future__ import annotations

import json
import subprocess
import sys

from bpf_build.model.elf import Object
from bpf_build.skel.python import generate

MINIMAL_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
__u32 counter;
SEC("raw_tp/sys_enter") int tick(void *ctx) { counter++; return 0; }
char LICENSE[] SEC("license") = "GPL";
"""

REPORT = ("import json, sys; print(json.dumps(sorted(m for m in sys.modules "
          "if m.startswith(('bpf_build', 'elftools', 'lief', 'packaging', 'setuptools')))))")


def imported_after(code: str, cwd: str = None):
    out = subprocess.run([sys.executable, "-c", code + "; " + REPORT], capture_output=True, text=True,
                         check=True, cwd=cwd).stdout
    return json.loads(out)


def test_runtime_imports_only_itself():
    mods = imported_after("import bpf_build.runtime, bpf_build.runtime.skeleton, bpf_build.runtime.ringbuf, "
                          "bpf_build.runtime.perfbuf, bpf_build.runtime.attach, bpf_build.runtime.kconfig")
    assert mods and all(m == "bpf_build" or m.startswith("bpf_build.runtime") for m in mods), mods


def test_generated_skeleton_imports_only_the_runtime(compile_c, tmp_path):
    obj = compile_c(MINIMAL_C, name="minimal")
    (tmp_path / "minimal_skel.py").write_text(generate(Object.read(obj), "minimal_bpf"))
    mods = imported_after("import minimal_skel", cwd=str(tmp_path))
    assert "bpf_build.runtime.skeleton" in mods
    assert all(m == "bpf_build" or m.startswith("bpf_build.runtime") for m in mods), mods
