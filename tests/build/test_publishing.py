"""What a project publishes: wheel tags PyPI accepts (its rules, packaging's parser, twine check),
cross-arch wheels from this one machine, the runtime as the only thing a user installs, the
config schema, overrides and minimum-version."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.tags import sys_tags
from packaging.utils import parse_wheel_filename

from bpf_build.project.config import OVERRIDABLE, json_schema, load_config
from bpf_build.project.pipeline import build_project
from bpf_build.project.targets import ARCH_ALIASES, ARCHES
from bpf_build.model.elf import Object
from bpf_build.errors import CompileError, ConfigError

EXAMPLES = ["hello", "execsnoop", "linked", "xdp-counter", "opensnoop-py"]

# PyPI's rule for Linux wheels (warehouse, forklift/legacy.py): a manylinux_X_Y_ or
# musllinux_X_Y_ platform tag on one of these architectures; a bare linux_* tag is refused.
PYPI_LINUX_TAG = re.compile(r"(?:many|musl)linux_\d+_\d+_(?P<arch>.+)\Z")
PYPI_LINUX_ARCHES = {"x86_64", "i686", "aarch64", "armv7l", "ppc64", "ppc64le", "s390x"}


def pypi_platforms(wheel: Path) -> set:
    """The wheel's platform tags, after checking every tag as PyPI would (the file name is
    parsed by packaging, as pip and PyPI parse it)."""
    _, _, _, tags = parse_wheel_filename(wheel.name)
    for tag in tags:
        assert (tag.interpreter, tag.abi) == ("py3", "none"), tag
        m = PYPI_LINUX_TAG.match(tag.platform)
        assert m and m.group("arch") in PYPI_LINUX_ARCHES, f"PyPI refuses platform tag {tag.platform}"
    return {t.platform for t in tags}


def twine_check(*files: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, files)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == len(files), proc.stdout


def test_example_wheels_pass_pypi_checks_and_install_here(example_wheel, tmp_path, wheelhouse, helpers):
    wheels = [example_wheel(name) for name in EXAMPLES]
    here = {t.platform for t in sys_tags()}
    for wheel in wheels:
        platforms = pypi_platforms(wheel)
        machine = platform.machine()
        assert platforms == {f"manylinux_2_17_{machine}", f"musllinux_1_1_{machine}"}
        assert platforms & here, f"{wheel.name} would not install on this machine"
        names = helpers.wheel_names(wheel)
        assert not [n for n in names if n.endswith((".bpf.c", ".h")) and not n.endswith("skel.h")], \
            f"{wheel.name} carries build inputs: the sdist has them, the wheel only what they build"
    sdist_dir = tmp_path / "sdist"
    project = helpers.copy_project(helpers.examples / "hello", tmp_path / "hello")
    helpers.run([sys.executable, "-m", "build", "--sdist", "--outdir", sdist_dir, project],
                env={"PIP_FIND_LINKS": f"{wheelhouse} {os.environ.get('PIP_FIND_LINKS', '')}".strip()})
    twine_check(*wheels, *sdist_dir.glob("*.tar.gz"), *wheelhouse.glob("*.whl"))


def test_bpf_build_wheels_are_tooling_and_runtime(wheelhouse, helpers):
    """The runtime distribution has no dependencies and ships bpf_build/runtime/ alone; the
    tooling ships the rest and pins that runtime; neither ships bpf_build/__init__.py."""
    runtime = next(wheelhouse.glob("bpf_build_runtime-*.whl"))
    tooling = next(wheelhouse.glob("bpf_build-*.whl"))
    assert parse_wheel_filename(runtime.name)[3] == parse_wheel_filename("x-1-py3-none-any.whl")[3]
    runtime_files = [n for n in helpers.wheel_names(runtime) if not n.startswith("bpf_build_runtime-")]
    assert runtime_files and all(n.startswith("bpf_build/runtime/") for n in runtime_files)
    tooling_files = helpers.wheel_names(tooling)
    assert not [n for n in tooling_files if n.startswith("bpf_build/runtime/")]
    assert "bpf_build/__init__.py" not in tooling_files + runtime_files
    with zipfile.ZipFile(runtime) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith("/METADATA"))).decode()
    assert "Requires-Dist" not in meta
    with zipfile.ZipFile(tooling) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith("/METADATA"))).decode()
    version = parse_wheel_filename(runtime.name)[1]
    assert f"Requires-Dist: bpf-build-runtime=={version}" in meta
    assert version == parse_wheel_filename(tooling.name)[1]


def test_a_users_venv_gets_the_runtime_and_nothing_else(example_venv, helpers):
    python = example_venv("hello") / "python"
    away = python.parent  # not this checkout: `python -c` puts the working directory on sys.path
    installed = helpers.run([python, "-c", "import importlib.metadata as m; "
                             "print(sorted(d.metadata['Name'] for d in m.distributions()))"], cwd=away).stdout
    assert installed.strip() == "['bpf-build-runtime', 'bpf-hello']"
    # The generated skeleton imports on the runtime alone; the tooling is not there.
    helpers.run([python, "-c", "import hello.hello_skel"], cwd=away)
    proc = helpers.run([python, "-c", "import bpf_build.project.compile"], cwd=away, check=False)
    assert proc.returncode != 0 and "No module named 'bpf_build.project'" in proc.stderr


# ---------------------------------------------------------------------------------------------
# Cross-arch builds from this machine

CROSS_PROJECT = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=64", "bpf-build"]
        build-backend = "bpf_build.build_meta"

        [project]
        name = "crossdemo"
        version = "0.1"
        dependencies = ["bpf-build-runtime"]

        [tool.setuptools]
        packages = ["crossdemo"]

        [tool.bpf-build]
        package = "crossdemo"
        vmlinux-h = "include/arm64/vmlinux.h"

        [tool.bpf-build.objects.probe]
        sources = ["bpf/probe.bpf.c"]
    """,
    "crossdemo/__init__.py": "",
    # A stand-in for the target kernel's header, as projects commit one per architecture.
    "include/arm64/vmlinux.h": """
        #pragma once
        #include <linux/bpf.h>
        struct task_struct { int pid; int tgid; } __attribute__((preserve_access_index));
    """,
    "bpf/probe.bpf.c": """
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_core_read.h>
        #if defined(__TARGET_ARCH_arm64)
        const volatile int arch = 2;
        #elif defined(__TARGET_ARCH_s390)
        const volatile int arch = 3;
        #else
        const volatile int arch = 1;
        #endif
        int last_tgid;
        SEC("raw_tp/sched_process_exec")
        int on_exec(void *ctx) {
            struct task_struct *task = (void *)bpf_get_current_task();
            last_tgid = BPF_CORE_READ(task, tgid) + arch;
            return 0;
        }
        char LICENSE[] SEC("license") = "GPL";
    """,
}


def _rodata_int(obj: Object) -> int:
    return int.from_bytes(obj.section(".rodata").data[:4], obj.byteorder)


@pytest.mark.parametrize("how,arch,byteorder,value", [
    (("-C", "bpf-build.target=arm64"), "aarch64", "little", 2),   # PEP 517 config settings
    ({"BPF_BUILD_TARGET": "s390x"}, "s390x", "big", 3),            # the environment override
])
def test_cross_arch_wheel_from_this_machine(tmp_path, pip, helpers, how, arch, byteorder, value):
    project = helpers.write_project(tmp_path / "crossdemo", CROSS_PROJECT)
    args, env = (how, None) if isinstance(how, tuple) else ((), how)
    pip.wheel(project, tmp_path / "out", *args, env=env)
    wheel = helpers.only_wheel(tmp_path / "out")
    assert pypi_platforms(wheel) == {f"manylinux_2_17_{arch}", f"musllinux_1_1_{arch}"}
    with zipfile.ZipFile(wheel) as z:
        obj = Object.read(z.read("crossdemo/probe.bpf.o"))
        record = json.loads(z.read("crossdemo/probe.bpf.json"))
        assert b"class probe_bpf(" in z.read("crossdemo/probe_skel.py")
    assert obj.byteorder == byteorder and _rodata_int(obj) == value
    header = (project / "include/arm64/vmlinux.h").read_bytes()
    assert record["target"]["name"] == arch
    assert record["vmlinux"] == {"from": "header", "path": "include/arm64/vmlinux.h",
                                 "sha256": hashlib.sha256(header).hexdigest()}


def _build_in_process(project: Path, tmp_path: Path, environ=None) -> Path:
    config = load_config(str(project / "pyproject.toml"), environ or {})
    lib = tmp_path / "lib"
    build_project(config, temp_dir=str(tmp_path / "temp"),
                  package_dir=lambda package: str(lib / package.replace(".", "/")))
    return lib / "crossdemo"


def test_cross_arch_never_takes_vmlinux_h_from_this_kernel(tmp_path, helpers):
    files = dict(CROSS_PROJECT)
    files["pyproject.toml"] = files["pyproject.toml"].replace('vmlinux-h = "include/arm64/vmlinux.h"', "")
    project = helpers.write_project(tmp_path / "crossdemo", files)
    with pytest.raises(CompileError) as info:
        _build_in_process(project, tmp_path, {"BPF_BUILD_TARGET": "arm64"})
    assert info.value.path.endswith("bpf/probe.bpf.c")
    assert "vmlinux-btf" in info.value.reason and "vmlinux-h" in info.value.reason


def test_vmlinux_btf_renders_the_target_kernels_types(tmp_path, helpers, compile_c, monkeypatch):
    """vmlinux-btf: the target kernel's BTF in the project (here a small one with the types the
    program reads), rendered to vmlinux.h for the build and recorded."""
    btf_object = Object.read(compile_c("struct task_struct { int pid; int tgid; long state; };\n"
                                       "struct task_struct t;\n", name="kernel_types"))
    files = dict(CROSS_PROJECT)
    files["pyproject.toml"] = files["pyproject.toml"].replace('vmlinux-h = "include/arm64/vmlinux.h"',
                                                              'vmlinux-btf = "btf/arm64.btf"')
    project = helpers.write_project(tmp_path / "crossdemo", files)
    (project / "btf").mkdir()
    (project / "btf/arm64.btf").write_bytes(btf_object.section(".BTF").data)
    # The stand-in header includes linux/bpf.h, which a rendered vmlinux.h replaces: the
    # source needs the BPF UAPI types another way.
    source = project / "bpf/probe.bpf.c"
    source.write_text(source.read_text().replace('#include "vmlinux.h"',
                                                 '#include <linux/bpf.h>\n#include "vmlinux.h"'))
    monkeypatch.setenv("BPF_BUILD_CACHE_DIR", str(tmp_path / "cache"))
    package = _build_in_process(project, tmp_path, {"BPF_BUILD_TARGET": "arm64"})
    obj = Object.read(str(package / "probe.bpf.o"))
    assert _rodata_int(obj) == 2
    assert any(t.name == "task_struct" for t in obj.btf.types if t is not None)
    record = json.loads((package / "probe.bpf.json").read_text())
    assert record["vmlinux"] == {"from": "btf", "path": "btf/arm64.btf",
                                 "sha256": hashlib.sha256((project / "btf/arm64.btf").read_bytes()).hexdigest()}


def test_arch_neutral_and_mixed_targets(tmp_path, helpers):
    from bpf_build.project.setuptools_plugin import wheel_platform_tag
    files = dict(CROSS_PROJECT)
    files["pyproject.toml"] += '\n[tool.bpf-build.objects.other]\nsources = ["bpf/probe.bpf.c"]\n'
    project = helpers.write_project(tmp_path / "crossdemo", files)
    path = str(project / "pyproject.toml")
    # bpfeb: one wheel for every 64-bit big-endian architecture PyPI knows.
    tag = wheel_platform_tag(load_config(path, {"BPF_BUILD_TARGET": "bpfeb"}))
    assert tag == "manylinux_2_17_ppc64.manylinux_2_17_s390x.musllinux_1_1_ppc64.musllinux_1_1_s390x"
    assert pypi_platforms(Path(f"x-1-py3-none-{tag}.whl")) == set(tag.split("."))
    assert wheel_platform_tag(load_config(path, {"BPF_BUILD_TARGET": "arm64"})) == \
        "manylinux_2_17_aarch64.musllinux_1_1_aarch64"
    # Objects for two architectures cannot share a wheel.
    project.joinpath("pyproject.toml").write_text(
        (project / "pyproject.toml").read_text().replace('sources = ["bpf/probe.bpf.c"]\n',
                                                         'sources = ["bpf/probe.bpf.c"]\ntarget = "s390x"\n', 1))
    with pytest.raises(ConfigError, match="share no architecture"):
        wheel_platform_tag(load_config(path, {}))


def test_unknown_config_setting_is_refused():
    from bpf_build import build_meta
    with pytest.raises(SystemExit, match=r"error: config setting bpf-build.targte: unknown \(expected one of: "
                                         r"bpf-build.target, bpf-build.vmlinux-btf, bpf-build.vmlinux-h\)"):
        build_meta._split({"bpf-build.targte": "arm64"})
    env, rest = build_meta._split({"bpf-build.target": ["bpfel", "arm64"], "--build-option": "x"})
    assert env == {"BPF_BUILD_TARGET": "arm64"} and rest == {"--build-option": "x"}


def test_a_bad_override_names_where_it_came_from(tmp_path, helpers):
    project = helpers.write_project(tmp_path / "p", CROSS_PROJECT)
    with pytest.raises(ConfigError) as info:
        load_config(str(project / "pyproject.toml"), {"BPF_BUILD_TARGET": "vax"})
    assert info.value.reason.startswith("tool.bpf-build.target (from -C bpf-build.target or $BPF_BUILD_TARGET): "
                                        "unknown target 'vax'")
    with pytest.raises(ConfigError, match=r"tool.bpf-build.vmlinux-btf \(from -C bpf-build.vmlinux-btf or "
                                          r"\$BPF_BUILD_VMLINUX_BTF\): file 'nope.btf' does not exist"):
        load_config(str(project / "pyproject.toml"), {"BPF_BUILD_VMLINUX_BTF": "nope.btf"})


def test_a_config_setting_wins_over_the_environment_for_one_call(monkeypatch):
    from bpf_build import build_meta
    monkeypatch.setenv("BPF_BUILD_TARGET", "s390x")
    with build_meta._overrides({"bpf-build.target": "arm64"}) as rest:
        assert os.environ["BPF_BUILD_TARGET"] == "arm64" and rest is None
    assert os.environ["BPF_BUILD_TARGET"] == "s390x"


# ---------------------------------------------------------------------------------------------
# Configuration: minimum-version, the schema, has_ext_modules


def test_minimum_version(tmp_path, helpers):
    from bpf_build.version import __version__
    files = dict(CROSS_PROJECT)
    files["pyproject.toml"] = files["pyproject.toml"].replace(
        "[tool.bpf-build]\n", '[tool.bpf-build]\nminimum-version = "99.0"\nkey-from-the-future = 1\n')
    project = helpers.write_project(tmp_path / "p", files)
    with pytest.raises(ConfigError) as info:
        load_config(str(project / "pyproject.toml"), {})
    assert info.value.reason == (f"tool.bpf-build.minimum-version: this project needs bpf-build >= 99.0; "
                                 f"this is bpf-build {__version__}"), "checked before the keys it may not know"
    (project / "pyproject.toml").write_text(files["pyproject.toml"].replace('"99.0"', f'"{__version__}"')
                                            .replace("key-from-the-future = 1\n", ""))
    assert load_config(str(project / "pyproject.toml"), {}) is not None


def test_schema_accepts_every_example_and_refuses_what_the_parser_refuses(tmp_path):
    import jsonschema
    from bpf_build.project.config import _load_toml
    schema = json_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    for name in EXAMPLES:
        table = _load_toml(str(Path(__file__).parents[2] / "examples" / name / "pyproject.toml"))["tool"]["bpf-build"]
        jsonschema.validate(table, schema)
    good = {"package": "p", "objects": {"o": {"sources": ["a.bpf.c"], "target": "arm64"}}}
    jsonschema.validate(good, schema)
    for bad in ({"package": "p", "objects": {"o": {"sources": ["a.bpf.c"], "sorces": []}}},
                {"package": "p", "target": "vax", "objects": {"o": {"sources": ["a.bpf.c"]}}},
                {"package": "p", "vmlinux-h": "include/other.h", "objects": {"o": {"sources": ["a.bpf.c"]}}},
                {"package": "p", "objects": {}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
    # The target names the schema lists are exactly those the build takes.
    assert set(schema["definitions"]["target"]["enum"]) == {"native", "bpfel", "bpfeb"} | set(ARCHES) | set(ARCH_ALIASES)
    assert set(OVERRIDABLE) <= set(schema["properties"])


def test_validate_pyproject_checks_the_table_with_the_shipped_schema(tmp_path):
    """The schema is registered as validate-pyproject's tool_schema plugin for [tool.bpf-build]."""
    from importlib.metadata import entry_points
    found = [e for e in entry_points(group="validate_pyproject.tool_schema") if e.name == "bpf-build"]
    assert len(found) == 1 and found[0].load()("bpf-build") == json_schema()
    tool = Path(sys.executable).with_name("validate-pyproject")
    examples = [Path(__file__).parents[2] / "examples" / name / "pyproject.toml" for name in EXAMPLES]
    proc = subprocess.run([str(tool), *map(str, examples)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.count("Valid file") == len(examples), proc.stdout + proc.stderr
    bad = tmp_path / "pyproject.toml"
    bad.write_text(examples[0].read_text().replace('package = "hello"', 'package = "hello"\ntarget = "vax"'))
    proc = subprocess.run([str(tool), str(bad)], capture_output=True, text=True)
    assert proc.returncode != 0 and "`tool.bpf-build.target` must be one of" in proc.stdout + proc.stderr


def test_has_ext_modules_is_wrapped_not_overwritten(tmp_path, helpers, monkeypatch):
    from setuptools import Distribution

    from bpf_build.project.setuptools_plugin import finalize_distribution_options
    project = helpers.write_project(tmp_path / "p", CROSS_PROJECT)
    monkeypatch.chdir(project)
    dist = Distribution({"name": "crossdemo"})
    calls = []
    dist.has_ext_modules = lambda: calls.append(1) or False
    finalize_distribution_options(dist)
    assert dist.has_ext_modules() is True
    assert calls == [1], "the project's own answer is asked first"
