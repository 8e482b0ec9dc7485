"""build_project, the library call behind the setuptools plugin: outputs, incremental rebuilds,
errors. (The plugin tests run the same code through pip.)"""

from __future__ import annotations

import os

import pytest

from bpf_build.project.config import load_config
from bpf_build.project.pipeline import build_project, planned_outputs
from bpf_build.model.elf import Object
from bpf_build.errors import CompileError, LinkError

PROJECT = {
    "pyproject.toml": """
        [tool.bpf-build]
        package = "pkg.sub"

        [tool.bpf-build.objects.counter]
        sources = ["bpf/counter.bpf.c"]
        skeletons = ["c"]

        [tool.bpf-build.objects.pair]
        sources = ["bpf/first.bpf.c", "bpf/second.bpf.c"]
        skeletons = []
    """,
    "bpf/common.h": "#define STEP 1\n",
    "bpf/counter.bpf.c": """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        #include "common.h"
        __u64 counter;
        SEC("raw_tp/sys_enter")
        int count_syscalls(void *ctx) { __sync_fetch_and_add(&counter, STEP); return 0; }
        char LICENSE[] SEC("license") = "GPL";
    """,
    "bpf/first.bpf.c": """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        extern int shared_helper(int x);
        SEC("socket") int first_prog(struct __sk_buff *skb) { return shared_helper(skb->len); }
        char LICENSE[] SEC("license") = "GPL";
    """,
    "bpf/second.bpf.c": """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        __noinline int shared_helper(int x) { return x + 1; }
    """,
}


@pytest.fixture
def project(tmp_path, helpers):
    root = helpers.write_project(tmp_path / "project", PROJECT)
    return load_config(str(root / "pyproject.toml"))


def build(config, tmp_path, log=None):
    messages = []
    written = build_project(config, temp_dir=str(tmp_path / "temp"),
                            package_dir=lambda pkg: str(tmp_path / "lib" / pkg.replace(".", "/")),
                            log=messages.append)
    return written, messages


def test_outputs_go_to_the_package_directory(project, tmp_path):
    written, _ = build(project, tmp_path)
    lib = tmp_path / "lib/pkg/sub"
    assert sorted(written) == sorted(str(lib / o.filename) for o in planned_outputs(project))
    assert sorted(os.listdir(lib)) == ["counter.bpf.json", "counter.bpf.o", "counter.skel.h", "pair.bpf.json",
                                       "pair.bpf.o"]
    pair = Object.read(str(lib / "pair.bpf.o"))
    assert pair.symbol("first_prog") and pair.symbol("shared_helper").is_defined, \
        "the extern function is resolved by linking the two sources"
    assert "struct counter_bpf {" in (lib / "counter.skel.h").read_text()  # bpftool's name for counter.bpf.o


def test_a_single_source_object_is_linked_too(project, tmp_path):
    """clang's output carries DWARF (execsnoop: 643 kB); the link leaves what libbpf loads."""
    build(project, tmp_path)
    clang_output = Object.read(str(tmp_path / "temp/counter/bpf/counter.bpf.c.o"))
    shipped = Object.read(str(tmp_path / "lib/pkg/sub/counter.bpf.o"))
    assert any(s.name.startswith(".debug_") for s in clang_output.sections)
    assert not any(s.name.startswith(".debug_") for s in shipped.sections)
    assert shipped.symbol("count_syscalls") is not None and shipped.btf is not None


def test_the_build_record_says_what_was_built_from_what(project, tmp_path):
    import hashlib
    import json
    import platform
    build(project, tmp_path)
    lib = tmp_path / "lib/pkg/sub"
    record = json.loads((lib / "pair.bpf.json").read_text())
    assert record["object"] == "pair.bpf.o"
    assert record["sha256"] == hashlib.sha256((lib / "pair.bpf.o").read_bytes()).hexdigest()
    assert record["sources"] == ["bpf/first.bpf.c", "bpf/second.bpf.c"]
    assert record["target"]["name"] == platform.machine()
    assert record["vmlinux"] is None, "no source includes vmlinux.h"


def test_second_build_compiles_and_writes_nothing(project, tmp_path):
    _, first = build(project, tmp_path)
    assert sum(m.startswith("compiling ") for m in first) == 3
    stamps = {p: os.stat(p).st_mtime_ns for p in (tmp_path / "lib/pkg/sub").iterdir()}
    _, second = build(project, tmp_path)
    assert second == []
    assert stamps == {p: os.stat(p).st_mtime_ns for p in (tmp_path / "lib/pkg/sub").iterdir()}


def test_header_change_rebuilds_only_what_includes_it(project, tmp_path):
    build(project, tmp_path)
    (tmp_path / "project/bpf/common.h").write_text("#define STEP 2\n")
    _, messages = build(project, tmp_path)
    assert [m for m in messages if m.startswith("compiling")] == ["compiling bpf/counter.bpf.c"]
    assert any(m.endswith("counter.bpf.o") for m in messages)


def test_link_error_names_the_input(project, tmp_path):
    # shared_helper defined in both sources: the linker refuses two strong definitions.
    (tmp_path / "project/bpf/first.bpf.c").write_text(
        PROJECT["bpf/first.bpf.c"] + PROJECT["bpf/second.bpf.c"].replace("#include", "// "))
    with pytest.raises(LinkError) as info:
        build(project, tmp_path)
    assert "shared_helper" in info.value.one_line()
    assert info.value.path in (str(tmp_path / "project/bpf/first.bpf.c"), str(tmp_path / "project/bpf/second.bpf.c"))


def test_compile_error_leaves_no_output(project, tmp_path, capfd):
    build(project, tmp_path)  # outputs of an earlier, good build must not survive a failed one
    (tmp_path / "project/bpf/counter.bpf.c").write_text("int broken(void) { return nope; }\n")
    with pytest.raises(CompileError) as info:
        build(project, tmp_path)
    assert info.value.path == str(tmp_path / "project/bpf/counter.bpf.c")
    assert "use of undeclared identifier 'nope'" in capfd.readouterr().err
    assert list((tmp_path / "lib/pkg/sub").iterdir()) == []
