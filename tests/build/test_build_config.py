"""[tool.bpf-build]: what a project may write, and the one-line errors for what it may not."""

from __future__ import annotations

import textwrap

import pytest

from bpf_build.project.config import load_config
from bpf_build.project.pipeline import object_outputs
from bpf_build.project.targets import resolve_target
from bpf_build.errors import ConfigError

GOOD = """
    [project]
    name = "demo"
    version = "1"

    [tool.bpf-build]
    package = "demo"
    cflags = ["-DTOP=1"]
    include-dirs = ["include"]

    [tool.bpf-build.objects.counter]
    sources = ["bpf/counter.bpf.c"]

    [tool.bpf-build.objects.pair]
    sources = ["bpf/first.bpf.c", "./bpf/second.bpf.c"]
    package = "demo.sub"
    target = "bpfeb"
    cflags = ["-DPAIR=1"]
    skeletons = ["c", "light-c", "python"]
"""


def project(tmp_path, pyproject: str):
    for rel in ("bpf/counter.bpf.c", "bpf/first.bpf.c", "bpf/second.bpf.c", "bpf/local.h",
                "include/shared.h", "include/deeper/more.h", "include/notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    path = tmp_path / "pyproject.toml"
    path.write_text(textwrap.dedent(pyproject))
    return str(path)


def test_good_config(tmp_path):
    config = load_config(project(tmp_path, GOOD))
    counter, pair = config.objects
    assert counter.name == "counter" and counter.package == "demo"
    assert counter.target == resolve_target("native") and counter.target.arch is not None
    assert counter.skeletons == ("python",), "python skeletons by default"
    assert counter.cflags == ("-DTOP=1",)
    assert pair.sources == ("bpf/first.bpf.c", "bpf/second.bpf.c")
    assert pair.cflags == ("-DTOP=1", "-DPAIR=1"), "object flags come after the project's"
    assert pair.include_dirs == ("include",)
    assert pair.target == resolve_target("bpfeb") and pair.target.arch is None, "bpfeb is arch-neutral"
    assert [o.filename for o in object_outputs(pair)] == ["pair.bpf.o", "pair.bpf.json", "pair.skel.h", "pair.lskel.h",
                                                          "pair_skel.py"]
    assert config.source_files() == ["bpf/counter.bpf.c", "bpf/first.bpf.c", "bpf/local.h",
                                     "bpf/second.bpf.c", "include/deeper/more.h", "include/shared.h"]


def test_no_table_is_not_a_bpf_project(tmp_path):
    assert load_config(project(tmp_path, '[project]\nname = "x"\n')) is None


@pytest.mark.parametrize("edit,key,reason", [
    (("sources = [\"bpf/counter.bpf.c\"]", "sorces = [\"bpf/counter.bpf.c\"]"),
     "tool.bpf-build.objects.counter.sorces", "unknown key (expected one of: sources, package, target, "
                                              "cflags, include-dirs, skeletons, vmlinux-btf, vmlinux-h)"),
    (("package = \"demo\"\ncflags", "pakage = \"demo\"\ncflags"),
     "tool.bpf-build.pakage", "unknown key"),
    (("bpf/counter.bpf.c", "bpf/missing.bpf.c"),
     "tool.bpf-build.objects.counter.sources[0]", "file 'bpf/missing.bpf.c' does not exist"),
    (("bpf/counter.bpf.c", "../outside.bpf.c"),
     "tool.bpf-build.objects.counter.sources[0]", "'../outside.bpf.c' is outside the project directory"),
    (("bpf/counter.bpf.c", "/etc/passwd"),
     "tool.bpf-build.objects.counter.sources[0]", "'/etc/passwd' must be a path relative to the project directory"),
    (('target = "bpfeb"', 'target = "vax"'),
     "tool.bpf-build.objects.pair.target", "unknown target 'vax' (expected bpfel, bpfeb (arch-neutral), native, "
                                           "or an architecture (aarch64,"),
    (('target = "bpfeb"', 'vmlinux-h = "include/shared.h"'),
     "tool.bpf-build.objects.pair.vmlinux-h", "'include/shared.h' must be a file named vmlinux.h"),
    (('target = "bpfeb"', 'vmlinux-btf = "btf/missing.btf"'),
     "tool.bpf-build.objects.pair.vmlinux-btf", "file 'btf/missing.btf' does not exist"),
    (('skeletons = ["c", "light-c", "python"]', 'skeletons = ["rust"]'),
     "tool.bpf-build.objects.pair.skeletons", "unknown skeleton kind 'rust'"),
    (('cflags = ["-DPAIR=1"]', 'cflags = "-DPAIR=1"'),
     "tool.bpf-build.objects.pair.cflags", "must be a list of strings, not a string"),
    (('include-dirs = ["include"]', 'include-dirs = ["nope"]'),
     "tool.bpf-build.include-dirs[0]", "directory 'nope' does not exist"),
    (('package = "demo.sub"', 'package = "demo-sub"'),
     "tool.bpf-build.objects.pair.package", "must be a dotted Python package name"),
    (("[tool.bpf-build.objects.pair]", "[tool.bpf-build.objects.2pair]"),
     "tool.bpf-build.objects.2pair", "an object name must be a C identifier"),
])
def test_bad_config_names_file_and_key(tmp_path, edit, key, reason):
    old, new = edit
    assert old in textwrap.dedent(GOOD)
    path = project(tmp_path, textwrap.dedent(GOOD).replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = info.value.one_line()
    assert message.startswith(f"{path}: ")
    assert f"{key}: {reason}" in message


def test_missing_package(tmp_path):
    path = project(tmp_path, """
        [tool.bpf-build.objects.counter]
        sources = ["bpf/counter.bpf.c"]
    """)
    with pytest.raises(ConfigError, match=r"tool.bpf-build.objects.counter.package: missing: set it here "
                                          r"or as tool.bpf-build.package"):
        load_config(path)


def test_no_objects(tmp_path):
    path = project(tmp_path, '[tool.bpf-build]\npackage = "demo"\n')
    with pytest.raises(ConfigError, match=r"tool.bpf-build.objects: missing: declare at least one object"):
        load_config(path)


def test_invalid_toml(tmp_path):
    path = project(tmp_path, '[tool.bpf-build]\npackage = "demo\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml: not valid TOML"):
        load_config(path)


def test_a_skeleton_listed_twice_is_built_once(tmp_path):
    path = project(tmp_path, """
        [tool.bpf-build]
        package = "demo"
        [tool.bpf-build.objects.counter]
        sources = ["bpf/counter.bpf.c"]
        skeletons = ["python", "c", "python"]
    """)
    assert load_config(path).objects[0].skeletons == ("python", "c")
