"""setuptools glue: a project with ``[tool.bpf-build]`` in pyproject.toml gets its BPF objects
and skeletons built by ``pip wheel``, ``python -m build``, ``pip install`` and
``pip install -e`` with no setup.py.

How it hooks in (all through entry points of the bpf-build distribution):

- ``setuptools.finalize_distribution_options`` runs ``finalize_distribution_options`` for every
  setuptools build in an environment where bpf-build is installed. Projects without the table are
  left alone. For the others it adds the ``build_bpf`` command to ``build``'s sub-commands (so
  every build, editable or not, runs it), keeps the BPF sources out of the wheel (the sdist has
  them) and tags the wheel for the architectures its objects were built for.
- ``build_bpf`` implements setuptools' build sub-command protocol: ``get_source_files`` (what an
  sdist must carry to rebuild), ``get_outputs`` and ``get_output_mapping`` (what an editable
  install maps), and ``editable_mode`` (outputs go into the source tree).

All the work is done by :func:`bpf_build.project.pipeline.build_project`; errors become one line,
``error: <file>: <reason>``.

Wheel tags. A BPF object is built for one kernel architecture (``__TARGET_ARCH_*`` picks the
pt_regs layout and syscall wrappers; vmlinux.h types differ) and one byte order, and holds no
host code: no libc symbol, no Python ABI. So the wheel is ``py3-none-`` plus, for each
architecture the objects fit, ``manylinux_2_17_<arch>`` and ``musllinux_1_1_<arch>``: tags PyPI
accepts, that pip on any glibc or musl Linux of that architecture installs, and that auditwheel
has nothing to repair in. An arch-neutral target (bpfel/bpfeb) fits every 64-bit architecture
PyPI knows of that byte order, all in one wheel. One wheel per architecture (not one wheel with
objects for all of them chosen at import) keeps pip's answer honest on an unsupported machine
("no matching distribution" or the sdist, never an import-time failure), keeps each wheel as
small as one object, and lets a project build only the architectures it supports; every one of
them is built from any machine with ``target`` (``pip wheel -C bpf-build.target=arm64 .``).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from setuptools import Command

from .config import BuildConfig, load_config
from .targets import Target
from ..errors import BpfBuildError, ConfigError

COMMAND = "build_bpf"

# The glibc and musl baselines of the tags: the oldest each architecture below has on PyPI.
MANYLINUX = "manylinux_2_17"
MUSLLINUX = "musllinux_1_1"
# The 64-bit architectures PyPI takes manylinux/musllinux wheels for, by byte order: where an
# arch-neutral object loads.
NEUTRAL_ARCHES = {"bpfel": ("aarch64", "ppc64le", "x86_64"), "bpfeb": ("ppc64", "s390x")}


def wheel_arches(targets: List[Target]) -> List[str]:
    """The architectures every object of the build loads on, sorted."""
    arches = None
    for t in targets:
        fits = {t.arch.machine} if t.arch else set(NEUTRAL_ARCHES[t.bpf])
        arches = fits if arches is None else arches & fits
    return sorted(arches or ())


def wheel_platform_tag(config: BuildConfig) -> str:
    """The compressed platform tag of the wheel (see the module docstring)."""
    arches = wheel_arches([o.target for o in config.objects])
    if not arches:
        raise ConfigError(config.path, "tool.bpf-build: the objects' targets share no architecture ("
                                       + ", ".join(sorted({o.target.name for o in config.objects}))
                                       + "), so no one wheel can carry them")
    return ".".join([f"{MANYLINUX}_{a}" for a in arches] + [f"{MUSLLINUX}_{a}" for a in arches])


def _exit_on_error(call):
    try:
        return call()
    except BpfBuildError as e:
        # setuptools would print a traceback for anything but SystemExit here.
        raise SystemExit(f"error: {e.one_line()}") from None


def _project_config(dist) -> Optional[BuildConfig]:
    root = os.path.abspath(getattr(dist, "src_root", None) or os.curdir)
    pyproject = os.path.join(root, "pyproject.toml")
    if not os.path.isfile(pyproject):
        return None
    return _exit_on_error(lambda: load_config(pyproject))


def _mentions_bpf_build(root: str) -> bool:
    """Cheap test run for every setuptools build: most projects do not use bpf-build, and those
    that do name it (in [build-system].requires and the table's name) before TOML parsing."""
    try:
        with open(os.path.join(root, "pyproject.toml"), "rb") as f:
            return b"bpf-build" in f.read()
    except OSError:
        return False


def finalize_distribution_options(dist) -> None:
    """Entry point: wire build_bpf in when the project configures bpf-build."""
    if not _mentions_bpf_build(os.path.abspath(getattr(dist, "src_root", None) or os.curdir)):
        return
    config = _project_config(dist)
    if config is None:
        return
    platform_tag = _exit_on_error(lambda: wheel_platform_tag(config))
    build_base = dist.get_command_class("build")
    if COMMAND not in [name for name, _ in build_base.sub_commands]:
        # First, so editable installs have the generated modules in place before build_py looks.
        dist.cmdclass["build"] = type("build", (build_base,), {
            "sub_commands": [(COMMAND, None)] + list(build_base.sub_commands)})
    dist.cmdclass[COMMAND] = build_bpf
    dist.cmdclass["build_py"] = _without_bpf_inputs(dist.get_command_class("build_py"), config)
    # The objects are architecture-specific: setuptools makes a wheel platform-specific (build
    # into build/lib.<platform>, install as platlib, Root-Is-Purelib false) when the
    # distribution "has extension modules". The project's own answer still counts.
    has_ext_modules = dist.has_ext_modules
    dist.has_ext_modules = lambda: has_ext_modules() or bool(config.objects)
    wheel_class = _tagged_wheel_class(dist, platform_tag)
    if wheel_class is not None:
        dist.cmdclass["bdist_wheel"] = wheel_class


def _without_bpf_inputs(base, config: BuildConfig):
    """build_py leaving the BPF sources and headers out of the package data: the sdist carries
    them to rebuild, the wheel carries what they build."""
    inputs = {os.path.normpath(os.path.join(config.root, f)) for f in config.source_files()}

    def exclude_data_files(self, package, src_dir, files):
        kept = super(cls, self).exclude_data_files(package, src_dir, files)
        return [f for f in kept if os.path.normpath(os.path.abspath(f)) not in inputs]

    cls = type("build_py", (base,), {"exclude_data_files": exclude_data_files})
    return cls


def _tagged_wheel_class(dist, platform_tag: str):
    """bdist_wheel tagged py3-none-<platform_tag>: no Python ABI is used."""
    try:
        base = dist.get_command_class("bdist_wheel")
    except Exception:  # no wheel support installed: only sdists can be built, nothing to tag
        return None

    def get_tag(self) -> Tuple[str, str, str]:
        return "py3", "none", platform_tag

    return type("bdist_wheel", (base,), {"get_tag": get_tag})


class build_bpf(Command):
    """Compile, link and render the BPF objects and skeletons of [tool.bpf-build]."""

    description = "build BPF objects and skeletons declared in [tool.bpf-build]"
    user_options = [
        ("build-lib=", "b", "directory the package outputs go to"),
        ("build-temp=", "t", "directory for per-source objects and incremental state"),
        ("parallel=", "j", "compiles at once (default: the number of CPUs)"),
        ("force", "f", "recompile everything"),
    ]
    boolean_options = ["force"]
    # Paths once finalize_options ran (from build_py and build); None before, as setuptools does.
    build_lib: str
    build_temp: str

    def initialize_options(self) -> None:
        self.build_lib = None  # type: ignore[assignment]
        self.build_temp = None  # type: ignore[assignment]
        self.parallel = None
        self.force = None
        self.editable_mode = False
        self.config: Optional[BuildConfig] = None

    def finalize_options(self) -> None:
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))
        self.set_undefined_options("build", ("build_temp", "build_temp"), ("force", "force"),
                                   ("parallel", "parallel"))
        if self.parallel is not None and self.parallel is not True:
            self.parallel = int(self.parallel)
        self.config = _project_config(self.distribution)

    # -- where things go

    def _source_package_dir(self, package: str) -> str:
        """The package's directory in the project (honours package_dir / src layouts)."""
        assert self.config is not None  # asked only of a project bpf-build builds
        build_py = self.get_finalized_command("build_py")
        return os.path.join(self.config.root, build_py.get_package_dir(package))

    def _build_package_dir(self, package: str) -> str:
        return os.path.join(self.build_lib, *package.split("."))

    def _planned(self):
        from .pipeline import planned_outputs
        return planned_outputs(self.config) if self.config else []

    # -- setuptools' build sub-command protocol

    def get_source_files(self) -> List[str]:
        return self.config.source_files() if self.config else []

    def get_outputs(self) -> List[str]:
        return [os.path.join(self._build_package_dir(o.package), o.filename) for o in self._planned()]

    def get_output_mapping(self) -> Dict[str, str]:
        """In editable mode the outputs live in the source tree; map build_lib paths to them."""
        if not self.editable_mode or self.config is None:
            return {}
        mapping = {}
        for o in self._planned():
            in_tree = os.path.join(self._source_package_dir(o.package), o.filename)
            mapping[os.path.join(self._build_package_dir(o.package), o.filename)] = \
                os.path.relpath(in_tree, self.config.root)
        return mapping

    def run(self) -> None:
        if not self.config:
            return
        from setuptools.errors import ExecError

        from .pipeline import build_project
        package_dir = self._source_package_dir if self.editable_mode else self._build_package_dir
        try:
            build_project(self.config, temp_dir=os.path.join(self.build_temp, "bpf-build"),
                          package_dir=package_dir, parallel=self.parallel or None,
                          force=bool(self.force), log=self.announce_info)
        except BpfBuildError as e:
            # setuptools prints an ExecError as "error: <message>" without a traceback.
            raise ExecError(e.one_line()) from None

    def announce_info(self, message: str) -> None:
        self.announce(f"bpf-build: {message}", level=2)
