"""setuptools glue: a project with ``[tool.bpf-build]`` in pyproject.toml gets its BPF objects
and skeletons built by ``pip wheel``, ``python -m build``, ``pip install`` and
``pip install -e`` with no setup.py.

How it hooks in (all through entry points of the bpf-build distribution):

- ``setuptools.finalize_distribution_options`` runs ``finalize_distribution_options`` for every
  setuptools build in an environment where bpf-build is installed. Projects without the table are
  left alone. For the others it adds the ``build_bpf`` command to ``build``'s sub-commands (so
  every build, editable or not, runs it) and makes wheels platform-specific.
- ``build_bpf`` implements setuptools' build sub-command protocol: ``get_source_files`` (what an
  sdist must carry to rebuild), ``get_outputs`` and ``get_output_mapping`` (what an editable
  install maps), and ``editable_mode`` (outputs go into the source tree).

All the work is done by :func:`bpf_build.build_project.build_project`; errors become one line,
``error: <file>: <reason>``.
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

from setuptools import Command

from .build_config import BuildConfig, load_config
from .errors import BpfBuildError

COMMAND = "build_bpf"


def _project_config(dist) -> Optional[BuildConfig]:
    root = os.path.abspath(getattr(dist, "src_root", None) or os.curdir)
    pyproject = os.path.join(root, "pyproject.toml")
    if not os.path.isfile(pyproject):
        return None
    try:
        return load_config(pyproject)
    except BpfBuildError as e:
        # setuptools would print a traceback for anything but SystemExit here.
        raise SystemExit(f"error: {e.one_line()}") from None


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
    if _project_config(dist) is None:
        return
    build_base = dist.get_command_class("build")
    if COMMAND not in [name for name, _ in build_base.sub_commands]:
        # First, so editable installs have the generated modules in place before build_py looks.
        dist.cmdclass["build"] = type("build", (build_base,), {
            "sub_commands": [(COMMAND, None)] + list(build_base.sub_commands)})
    dist.cmdclass[COMMAND] = build_bpf
    # BPF objects are built for this machine's architecture (__TARGET_ARCH_*, its kernel headers):
    # the wheel is platform-specific, which setuptools decides from "has extension modules"
    # (build into build/lib.<platform>, install as platlib, root_is_pure = False).
    dist.has_ext_modules = lambda: True
    wheel_class = _py3_platform_wheel_class(dist)
    if wheel_class is not None:
        dist.cmdclass["bdist_wheel"] = wheel_class


def _py3_platform_wheel_class(dist):
    """bdist_wheel tagged py3-none-<platform>: platform-specific, but no Python ABI is used."""
    try:
        base = dist.get_command_class("bdist_wheel")
    except Exception:  # no wheel support installed: only sdists can be built, nothing to tag
        return None

    class bdist_wheel(base):
        def get_tag(self):
            _, _, platform_tag = super().get_tag()
            return "py3", "none", platform_tag

    return bdist_wheel


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

    def initialize_options(self):
        self.build_lib = None
        self.build_temp = None
        self.parallel = None
        self.force = None
        self.editable_mode = False
        self.config: Optional[BuildConfig] = None

    def finalize_options(self):
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))
        self.set_undefined_options("build", ("build_temp", "build_temp"), ("force", "force"),
                                   ("parallel", "parallel"))
        if self.parallel is not None and self.parallel is not True:
            self.parallel = int(self.parallel)
        self.config = _project_config(self.distribution)

    # -- where things go

    def _source_package_dir(self, package: str) -> str:
        """The package's directory in the project (honours package_dir / src layouts)."""
        build_py = self.get_finalized_command("build_py")
        return os.path.join(self.config.root, build_py.get_package_dir(package))

    def _build_package_dir(self, package: str) -> str:
        return os.path.join(self.build_lib, *package.split("."))

    def _planned(self):
        from .build_project import planned_outputs
        return planned_outputs(self.config) if self.config else []

    # -- setuptools' build sub-command protocol

    def get_source_files(self) -> List[str]:
        return self.config.source_files() if self.config else []

    def get_outputs(self) -> List[str]:
        return [os.path.join(self._build_package_dir(o.package), o.filename) for o in self._planned()]

    def get_output_mapping(self) -> Dict[str, str]:
        """In editable mode the outputs live in the source tree; map build_lib paths to them."""
        if not self.editable_mode:
            return {}
        mapping = {}
        for o in self._planned():
            in_tree = os.path.join(self._source_package_dir(o.package), o.filename)
            mapping[os.path.join(self._build_package_dir(o.package), o.filename)] = \
                os.path.relpath(in_tree, self.config.root)
        return mapping

    def run(self):
        if not self.config:
            return
        from setuptools.errors import ExecError

        from .build_project import build_project
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
