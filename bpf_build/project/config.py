"""The ``[tool.bpf-build]`` table of a project's pyproject.toml, read and checked.

::

    [tool.bpf-build]
    minimum-version = "0.1"        # the oldest bpf-build this project builds with
    package = "hello"              # Python package the outputs go into (dotted)
    target = "native"              # an architecture ("x86_64", "arm64", "s390x"...), "native",
                                   # or arch-neutral "bpfel"/"bpfeb"
    cflags = ["-DDEBUG=0"]         # clang flags after bpf-build's defaults
    include-dirs = ["include"]     # project-relative include directories
    skeletons = ["python"]         # any of "python", "c", "light-c"
    vmlinux-btf = "btf/arm64.btf"  # or vmlinux-h = "include/arm64/vmlinux.h": see below

    [tool.bpf-build.objects.hello]         # the table name is the object and skeleton name
    sources = ["hello/bpf/hello.bpf.c"]    # two or more are compiled, then linked into one
    # package / target / skeletons override the defaults above;
    # cflags / include-dirs are added after the defaults above.

Each object ``NAME`` becomes ``NAME.bpf.o`` in its package, plus ``NAME_skel.py`` (python),
``NAME.skel.h`` (c) and ``NAME.lskel.h`` (light-c). Every problem is a ConfigError naming
pyproject.toml and the key.

The keys, their types and documentation are ``bpf-build.schema.json`` beside this module (shipped,
and registered for validate-pyproject): the key lists here are read from it, so the two cannot
disagree. ``target``, ``vmlinux-btf`` and ``vmlinux-h`` can be overridden for one build by PEP 517
config settings (``pip wheel -C bpf-build.target=arm64 .``, through ``bpf_build.build_meta``) or
by ``$BPF_BUILD_TARGET``, ``$BPF_BUILD_VMLINUX_BTF``, ``$BPF_BUILD_VMLINUX_H``; an override
applies to the project and every object.

Where an included vmlinux.h that the include path lacks comes from: ``vmlinux-h`` (a header in
the project), ``vmlinux-btf`` (the target kernel's BTF, rendered once and cached), or, by default
and only when the target is this machine's, the running kernel. The choice is recorded in the
build (``NAME.bpf.json``).
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, NoReturn, Optional, Set, Tuple

from ..errors import CompileError, ConfigError
from .targets import Target, host_arch, resolve_target
from .vmlinux import VMLINUX_BTF

TABLE = "tool.bpf-build"
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bpf-build.schema.json")
SKELETON_KINDS = ("python", "c", "light-c")
# The file each skeleton kind becomes, from the object name.
SKELETON_FILES = {"python": "{name}_skel.py", "c": "{name}.skel.h", "light-c": "{name}.lskel.h"}
OBJECT_FILE = "{name}.bpf.o"
RECORD_FILE = "{name}.bpf.json"
RUNNING_KERNEL = "running-kernel"

# Keys one build may override, and the environment variable for each (PEP 517 config settings
# reach the build as these variables: see bpf_build.build_meta).
OVERRIDABLE = {"target": "BPF_BUILD_TARGET", "vmlinux-btf": "BPF_BUILD_VMLINUX_BTF",
               "vmlinux-h": "BPF_BUILD_VMLINUX_H"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def json_schema(tool_name: str = "bpf-build") -> Dict[str, Any]:
    """The JSON schema of [tool.bpf-build]; also validate-pyproject's ``tool_schema`` hook, which
    passes the table's name."""
    return json.loads(_schema_text())


@functools.lru_cache(maxsize=None)
def _schema_text() -> str:
    with open(SCHEMA_FILE) as f:
        return f.read()


def _keys() -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(top-level keys, object keys), in the schema's order."""
    schema = json_schema()
    return tuple(schema["properties"]), tuple(schema["definitions"]["object"]["properties"])


@dataclass(frozen=True)
class VmlinuxSource:
    """Where an included vmlinux.h the include path lacks comes from."""

    kind: str                   # "header" | "btf" | RUNNING_KERNEL | "none"
    path: Optional[str] = None  # project-relative for header/btf

    def describe(self) -> str:
        return {"header": f"vmlinux-h {self.path}", "btf": f"vmlinux-btf {self.path}",
                RUNNING_KERNEL: f"the running kernel ({VMLINUX_BTF})", "none": "nowhere"}[self.kind]


@dataclass(frozen=True)
class ObjectConfig:
    name: str
    sources: Tuple[str, ...]        # project-relative, '/'-separated
    package: str                    # dotted
    target: Target
    cflags: Tuple[str, ...]
    include_dirs: Tuple[str, ...]   # project-relative
    skeletons: Tuple[str, ...]
    vmlinux: VmlinuxSource = VmlinuxSource("none")

    @property
    def object_file(self) -> str:
        return OBJECT_FILE.format(name=self.name)

    @property
    def record_file(self) -> str:
        return RECORD_FILE.format(name=self.name)


@dataclass(frozen=True)
class BuildConfig:
    path: str                       # the pyproject.toml it came from
    root: str                       # the project directory
    objects: Tuple[ObjectConfig, ...]

    def source_files(self) -> List[str]:
        """Every project file the build reads: the sources, and the headers beside them and in
        the include directories (an sdist must carry them to rebuild)."""
        files: Set[str] = set()
        for obj in self.objects:
            files.update(obj.sources)
            if obj.vmlinux.path:
                files.add(obj.vmlinux.path)
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
        import tomli as tomllib  # a dependency there (setuptools >= 71 no longer exposes its copy)
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


def load_config(pyproject_path: str, environ: Optional[Mapping[str, str]] = None) -> Optional[BuildConfig]:
    """The checked configuration, or None when pyproject.toml has no [tool.bpf-build].

    ``environ`` (default: os.environ) holds the overrides (OVERRIDABLE)."""
    table = _load_toml(pyproject_path).get("tool", {}).get("bpf-build")
    if table is None:
        return None
    return parse_config(table, pyproject_path, overrides_from(os.environ if environ is None else environ))


def overrides_from(environ: Mapping[str, str]) -> Dict[str, str]:
    return {key: environ[var] for key, var in OVERRIDABLE.items() if environ.get(var)}


def _apply_overrides(table: Dict[str, Any], overrides: Mapping[str, str]) -> Dict[str, Any]:
    """The table as the overrides make it: each overridden key set at the top and removed from
    every object; a vmlinux source overrides the other kind too (they exclude each other)."""
    if not overrides:
        return table
    replaced = set(overrides)
    if replaced & {"vmlinux-btf", "vmlinux-h"}:
        replaced |= {"vmlinux-btf", "vmlinux-h"}
    top = {k: v for k, v in table.items() if k not in replaced}
    top.update(overrides)
    if isinstance(table.get("objects"), dict):
        top["objects"] = {name: {k: v for k, v in body.items() if k not in replaced}
                          if isinstance(body, dict) else body for name, body in table["objects"].items()}
    return top


def check_minimum_version(table: Any, pyproject_path: str) -> None:
    """First of all checks: a newer project's new keys must not be reported as unknown."""
    if not isinstance(table, dict) or "minimum-version" not in table:
        return
    from packaging.version import InvalidVersion, Version

    from ..version import __version__
    wanted = table["minimum-version"]
    key = f"{TABLE}.minimum-version"
    try:
        required = Version(wanted) if isinstance(wanted, str) else None
    except InvalidVersion:
        required = None
    if required is None:
        raise ConfigError(pyproject_path, f"{key}: must be a version string such as \"0.1\", not {wanted!r}")
    if Version(__version__) < required:
        raise ConfigError(pyproject_path, f"{key}: this project needs bpf-build >= {wanted}; this is "
                                          f"bpf-build {__version__}")


class _Checker:
    """Typed access to one TOML table, every error naming pyproject.toml and the dotted key."""

    def __init__(self, path: str, root: str, overridden: Mapping[str, str] = {}):
        self.path = path
        self.root = root
        # dotted key -> where its value came from, for keys set by an override
        self.origins = {f"{TABLE}.{k}": f"-C bpf-build.{k} or ${OVERRIDABLE[k]}" for k in overridden}

    def fail(self, key: str, reason: str) -> NoReturn:
        origin = self.origins.get(key)
        raise ConfigError(self.path, f"{key}{f' (from {origin})' if origin else ''}: {reason}")

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

    def target(self, value: Any, key: str) -> Target:
        if not isinstance(value, str):
            self.fail(key, f"must be a string, not {_toml_type(value)}")
        try:
            return resolve_target(value)
        except CompileError as e:
            self.fail(key, e.reason)

    def vmlinux(self, body: Dict[str, Any], key: str, default: Optional[VmlinuxSource]) -> Optional[VmlinuxSource]:
        """The vmlinux source a table sets, or ``default``."""
        if "vmlinux-btf" in body and "vmlinux-h" in body:
            self.fail(f"{key}.vmlinux-h", "give vmlinux-h or vmlinux-btf, not both")
        if "vmlinux-h" in body:
            value = self.string(body["vmlinux-h"], f"{key}.vmlinux-h")
            if os.path.basename(value) != "vmlinux.h":
                self.fail(f"{key}.vmlinux-h", f"{value!r} must be a file named vmlinux.h (sources include it by that name)")
            return VmlinuxSource("header", self.project_path(value, f"{key}.vmlinux-h", want_dir=False))
        if "vmlinux-btf" in body:
            value = self.string(body["vmlinux-btf"], f"{key}.vmlinux-btf")
            if value == RUNNING_KERNEL:
                return VmlinuxSource(RUNNING_KERNEL)
            return VmlinuxSource("btf", self.project_path(value, f"{key}.vmlinux-btf", want_dir=False))
        return default

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            self.fail(key, f"must be a string, not {_toml_type(value)}")
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


def _default_vmlinux(target: Target) -> VmlinuxSource:
    """The running kernel, when the target includes this machine; else none."""
    host = host_arch()
    runs_here = target.arch == host if target.arch else target.bpf == host.bpf_target
    return VmlinuxSource(RUNNING_KERNEL if runs_here else "none")


def parse_config(table: Any, pyproject_path: str, overrides: Mapping[str, str] = {}) -> BuildConfig:
    root = os.path.dirname(os.path.abspath(pyproject_path))
    check = _Checker(pyproject_path, root, overrides)
    check_minimum_version(table, pyproject_path)
    top_keys, object_keys = _keys()
    top = check.table(_apply_overrides(check.table(table, TABLE, top_keys), overrides), TABLE, top_keys)

    def paths(values: List[str], key: str) -> List[str]:
        return [check.project_path(v, f"{key}[{i}]", want_dir=True) for i, v in enumerate(values)]

    # What the top-level table sets for every object (checked in this order).
    default_package = check.package(top["package"], f"{TABLE}.package") if "package" in top else None
    default_target = check.target(top.get("target", "native"), f"{TABLE}.target")
    default_cflags = check.string_list(top.get("cflags", []), f"{TABLE}.cflags")
    default_include_dirs = paths(check.string_list(top.get("include-dirs", []), f"{TABLE}.include-dirs"),
                                 f"{TABLE}.include-dirs")
    default_skeletons = check.skeletons(top.get("skeletons", ["python"]), f"{TABLE}.skeletons")
    default_vmlinux = check.vmlinux(top, TABLE, None)
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
        body = check.table(raw, key, object_keys)
        if "sources" not in body:
            check.fail(f"{key}.sources", "missing: list the object's .bpf.c files")
        sources = check.string_list(body["sources"], f"{key}.sources")
        if not sources:
            check.fail(f"{key}.sources", "must list at least one source")
        sources = [check.project_path(s, f"{key}.sources[{i}]", want_dir=False) for i, s in enumerate(sources)]
        if len(set(sources)) != len(sources):
            check.fail(f"{key}.sources", "lists a source twice")
        package = check.package(body["package"], f"{key}.package") if "package" in body else default_package
        if package is None:
            check.fail(f"{key}.package", f"missing: set it here or as {TABLE}.package")
        target = check.target(body["target"], f"{key}.target") if "target" in body else default_target
        obj = ObjectConfig(
            name=name,
            sources=tuple(sources),
            package=package,
            target=target,
            cflags=tuple(default_cflags + check.string_list(body.get("cflags", []), f"{key}.cflags")),
            include_dirs=tuple(default_include_dirs + paths(
                check.string_list(body.get("include-dirs", []), f"{key}.include-dirs"), f"{key}.include-dirs")),
            skeletons=tuple(check.skeletons(body["skeletons"], f"{key}.skeletons") if "skeletons" in body
                            else default_skeletons),
            vmlinux=check.vmlinux(body, key, default_vmlinux) or _default_vmlinux(target),
        )
        objects.append(obj)
    return BuildConfig(path=pyproject_path, root=root, objects=tuple(objects))
