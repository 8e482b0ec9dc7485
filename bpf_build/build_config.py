"""The ``[tool.bpf-build]`` table of a project's pyproject.toml, read and checked.

::

    [tool.bpf-build]
    package = "hello"              # Python package the outputs go into (dotted)
    target = "native"              # "bpfel", "bpfeb" or "native" (this machine's byte order)
    cflags = ["-DDEBUG=0"]         # clang flags after bpf-build's defaults
    include-dirs = ["include"]     # project-relative include directories
    skeletons = ["python"]         # any of "python", "c", "light-c"

    [tool.bpf-build.objects.hello]         # the table name is the object and skeleton name
    sources = ["hello/bpf/hello.bpf.c"]    # two or more are compiled, then linked into one
    # package / target / skeletons override the defaults above;
    # cflags / include-dirs are added after the defaults above.

Each object ``NAME`` becomes ``NAME.bpf.o`` in its package, plus ``NAME_skel.py`` (python),
``NAME.skel.h`` (c) and ``NAME.lskel.h`` (light-c). Every problem is a ConfigError naming
pyproject.toml and the key.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .compile import TARGETS, native_target
from .errors import ConfigError

TABLE = "tool.bpf-build"
SKELETON_KINDS = ("python", "c", "light-c")
# The file each skeleton kind becomes, from the object name.
SKELETON_FILES = {"python": "{name}_skel.py", "c": "{name}.skel.h", "light-c": "{name}.lskel.h"}
OBJECT_FILE = "{name}.bpf.o"

_SHARED_KEYS = ("package", "target", "cflags", "include-dirs", "skeletons")
_TOP_KEYS = _SHARED_KEYS + ("objects",)
_OBJECT_KEYS = _SHARED_KEYS + ("sources",)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class ObjectConfig:
    name: str
    sources: Tuple[str, ...]        # project-relative, '/'-separated
    package: str                    # dotted
    target: str                     # "bpfel" | "bpfeb"
    cflags: Tuple[str, ...]
    include_dirs: Tuple[str, ...]   # project-relative
    skeletons: Tuple[str, ...]

    @property
    def object_file(self) -> str:
        return OBJECT_FILE.format(name=self.name)


@dataclass(frozen=True)
class BuildConfig:
    path: str                       # the pyproject.toml it came from
    root: str                       # the project directory
    objects: Tuple[ObjectConfig, ...]

    def source_files(self) -> List[str]:
        """Every project file the build reads: the sources, and the headers beside them and in
        the include directories (an sdist must carry them to rebuild)."""
        files = set()
        for obj in self.objects:
            files.update(obj.sources)
            dirs = {os.path.dirname(s) for s in obj.sources} | set(obj.include_dirs)
            for d in dirs:
                files.update(_headers_under(self.root, d))
        return sorted(files)


def _headers_under(root: str, rel_dir: str) -> List[str]:
    found = []
    base = os.path.join(root, rel_dir)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if f.endswith(".h"):
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                found.append(rel.replace(os.sep, "/"))
    return found


def _tomllib():
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on older Pythons only
        try:
            import tomli as tomllib
        except ImportError:
            from setuptools.extern import tomli as tomllib  # setuptools always vendors one
    return tomllib


def parse_toml_text(text: str, path: str, error_cls=ConfigError) -> Dict[str, Any]:
    tomllib = _tomllib()
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise error_cls(path, f"not valid TOML: {e}") from None


def _load_toml(path: str) -> Dict[str, Any]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(path, f"cannot read: {e.strerror or e}") from None
    return parse_toml_text(data.decode("utf-8", "replace"), path)


def load_config(pyproject_path: str) -> Optional[BuildConfig]:
    """The checked configuration, or None when pyproject.toml has no [tool.bpf-build]."""
    table = _load_toml(pyproject_path).get("tool", {}).get("bpf-build")
    if table is None:
        return None
    return parse_config(table, pyproject_path)


class _Checker:
    """Typed access to one TOML table, every error naming pyproject.toml and the dotted key."""

    def __init__(self, path: str, root: str):
        self.path = path
        self.root = root

    def fail(self, key: str, reason: str):
        raise ConfigError(self.path, f"{key}: {reason}")

    def table(self, value: Any, key: str, allowed: Tuple[str, ...]) -> Dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"must be a table, not {_toml_type(value)}")
        for k in value:
            if k not in allowed:
                self.fail(f"{key}.{k}", f"unknown key (expected one of: {', '.join(allowed)})")
        return value

    def string_list(self, value: Any, key: str) -> List[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"must be a list of strings, not {_toml_type(value)}")
        return list(value)

    def package(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not all(_IDENTIFIER.match(p) for p in value.split(".")):
            self.fail(key, f"must be a dotted Python package name, not {value!r}")
        return value

    def target(self, value: Any, key: str) -> str:
        if value == "native":
            return native_target()
        if value not in TARGETS:
            self.fail(key, f"must be one of bpfel, bpfeb, native; not {value!r}")
        return value

    def skeletons(self, value: Any, key: str) -> List[str]:
        kinds = self.string_list(value, key)
        for k in kinds:
            if k not in SKELETON_KINDS:
                self.fail(key, f"unknown skeleton kind {k!r} (expected: {', '.join(SKELETON_KINDS)})")
        return list(dict.fromkeys(kinds))

    def project_path(self, value: str, key: str, want_dir: bool) -> str:
        """A path relative to the project root that stays inside it and exists."""
        if os.path.isabs(value) or not value:
            self.fail(key, f"{value!r} must be a path relative to the project directory")
        normal = os.path.normpath(value)
        if normal == ".." or normal.startswith(".." + os.sep):
            self.fail(key, f"{value!r} is outside the project directory")
        full = os.path.join(self.root, normal)
        exists = os.path.isdir(full) if want_dir else os.path.isfile(full)
        if not exists:
            self.fail(key, f"{'directory' if want_dir else 'file'} {value!r} does not exist")
        return normal.replace(os.sep, "/")


def _toml_type(value: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
            float: "a float"}.get(type(value), type(value).__name__)


def parse_config(table: Any, pyproject_path: str) -> BuildConfig:
    root = os.path.dirname(os.path.abspath(pyproject_path))
    check = _Checker(pyproject_path, root)
    top = check.table(table, TABLE, _TOP_KEYS)

    def paths(values: List[str], key: str) -> List[str]:
        return [check.project_path(v, f"{key}[{i}]", want_dir=True) for i, v in enumerate(values)]

    defaults = {
        "package": check.package(top["package"], f"{TABLE}.package") if "package" in top else None,
        "target": check.target(top.get("target", "native"), f"{TABLE}.target"),
        "cflags": check.string_list(top.get("cflags", []), f"{TABLE}.cflags"),
        "include-dirs": paths(check.string_list(top.get("include-dirs", []), f"{TABLE}.include-dirs"),
                              f"{TABLE}.include-dirs"),
        "skeletons": check.skeletons(top.get("skeletons", ["python"]), f"{TABLE}.skeletons"),
    }
    raw_objects = top.get("objects")
    if not isinstance(raw_objects, dict) or not raw_objects:
        check.fail(f"{TABLE}.objects", "missing: declare at least one object as "
                                       f"[{TABLE}.objects.NAME] with its sources")

    # Object names are distinct TOML keys and C identifiers, so their output files never collide.
    objects = []
    for name, raw in raw_objects.items():
        key = f"{TABLE}.objects.{name}"
        if not _IDENTIFIER.match(name):
            check.fail(key, "an object name must be a C identifier (it names the skeleton)")
        body = check.table(raw, key, _OBJECT_KEYS)
        if "sources" not in body:
            check.fail(f"{key}.sources", "missing: list the object's .bpf.c files")
        sources = check.string_list(body["sources"], f"{key}.sources")
        if not sources:
            check.fail(f"{key}.sources", "must list at least one source")
        sources = [check.project_path(s, f"{key}.sources[{i}]", want_dir=False) for i, s in enumerate(sources)]
        if len(set(sources)) != len(sources):
            check.fail(f"{key}.sources", "lists a source twice")
        package = check.package(body["package"], f"{key}.package") if "package" in body else defaults["package"]
        if package is None:
            check.fail(f"{key}.package", f"missing: set it here or as {TABLE}.package")
        obj = ObjectConfig(
            name=name,
            sources=tuple(sources),
            package=package,
            target=check.target(body["target"], f"{key}.target") if "target" in body else defaults["target"],
            cflags=tuple(defaults["cflags"] + check.string_list(body.get("cflags", []), f"{key}.cflags")),
            include_dirs=tuple(defaults["include-dirs"] + paths(
                check.string_list(body.get("include-dirs", []), f"{key}.include-dirs"), f"{key}.include-dirs")),
            skeletons=tuple(check.skeletons(body["skeletons"], f"{key}.skeletons") if "skeletons" in body
                            else defaults["skeletons"]),
        )
        objects.append(obj)
    return BuildConfig(path=pyproject_path, root=root, objects=tuple(objects))
