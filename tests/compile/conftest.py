"""Helpers for the compile-driver tests: a project directory with BPF sources, and the
`bpf-build` CLI run the way a user runs it (a separate process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

COUNTER_SOURCE = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    #include "common.h"
    __u64 counter;
    SEC("raw_tp/sys_enter")
    int count_syscalls(void *ctx) { __sync_fetch_and_add(&counter, STEP); return 0; }
    char LICENSE[] SEC("license") = "GPL";
"""


def run_bpf_build(*args, cwd, env=None, check=None):
    """Run `bpf-build ARGS` in cwd; returns the CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", *map(str, args)], cwd=cwd,
                          env=full_env, capture_output=True, text=True)
    if check is not None:
        assert proc.returncode == check, (proc.returncode, proc.stdout, proc.stderr)
    return proc


class Project:
    """A directory of BPF sources written by a test."""

    def __init__(self, root):
        self.root = root

    def write(self, relpath: str, text: str) -> str:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return str(path)

    def bpf_build(self, *args, **kwargs):
        return run_bpf_build(*args, cwd=self.root, **kwargs)


@pytest.fixture
def make_project():
    """make_project(dir) -> a Project in dir holding counter.bpf.c and the common.h it includes."""

    def make(root) -> Project:
        root.mkdir(parents=True, exist_ok=True)
        p = Project(root)
        p.write("common.h", "#define STEP 1\n")
        p.write("counter.bpf.c", COUNTER_SOURCE)
        return p

    return make


@pytest.fixture
def project(tmp_path, make_project):
    return make_project(tmp_path)
