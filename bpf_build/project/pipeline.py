"""Build what a project's [tool.bpf-build] declares: compile every source, link each object's
compiled sources into one object, render its skeletons, record how it was built, and put the
results in the object's package directory.

Each step is one call into the library (``compile.compile_all``, ``link.link``,
``skel.<kind>.generate``); this module only decides file names and order. Every object is
linked, a single source too: the link drops DWARF and leaves what libbpf loads, as
libbpf-style Makefiles do with ``bpftool gen object`` (execsnoop: 643 kB from clang, 29 kB
linked). Outputs are written only when their bytes change, so a rebuild that changes nothing
touches nothing.

``NAME.bpf.json`` records what the object was built from and for: target, clang, sources,
and where vmlinux.h came from with its hash (a CI container and a cross-arch build can prove
they used the kernel types they meant to).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Union

from .config import RUNNING_KERNEL, SKELETON_FILES, BuildConfig, ObjectConfig
from .compile import CompileJob, CompileOptions, compile_all, find_clang
from .vmlinux import VMLINUX_BTF, needs_generated_vmlinux_h
from ..errors import BpfBuildError, CompileError, LinkError
from ..fileio import sha256_file, write_atomic

# skeleton kind -> renderer module in bpf_build.skel (see bpf_build/skel/__init__.py)
RENDERERS = {"python": "python", "c": "c", "light-c": "light_c"}


@dataclass(frozen=True)
class Output:
    """One file the build puts into a package: the object itself (kind "object"), its build
    record ("record") or a skeleton (the skeleton kind)."""

    package: str
    filename: str
    kind: str


def object_outputs(obj: ObjectConfig) -> List[Output]:
    return [Output(obj.package, obj.object_file, "object"), Output(obj.package, obj.record_file, "record")] + [
        Output(obj.package, SKELETON_FILES[kind].format(name=obj.name), kind) for kind in obj.skeletons]


def planned_outputs(config: BuildConfig) -> List[Output]:
    """Every file ``build_project`` writes, known without building anything."""
    return [out for obj in config.objects for out in object_outputs(obj)]


def _compile_jobs(config: BuildConfig, temp_dir: str) -> Dict[str, List[CompileJob]]:
    jobs = {}
    for obj in config.objects:
        vmlinux = obj.vmlinux
        options = CompileOptions(
            target=obj.target.name, cflags=obj.cflags,
            include_dirs=tuple(os.path.join(config.root, d) for d in obj.include_dirs),
            base_dir=config.root,  # debug info names sources relative to the project: reproducible
            vmlinux_btf={RUNNING_KERNEL: VMLINUX_BTF, "btf": os.path.join(config.root, vmlinux.path or "")}.get(vmlinux.kind),
            vmlinux_h_dir=os.path.dirname(os.path.join(config.root, vmlinux.path or "")) if vmlinux.kind == "header" else None)
        jobs[obj.name] = [
            CompileJob(os.path.join(config.root, src), os.path.join(temp_dir, obj.name, src + ".o"),
                       options=options)
            for src in obj.sources]
    return jobs


def _linked_object(jobs: List[CompileJob]) -> bytes:
    """The object's final bytes: the static link of its compiled sources (one or more)."""
    from ..link.linker import link
    try:
        return link([j.output for j in jobs]).to_bytes()
    except LinkError as e:
        # The user knows sources, not our intermediate objects: name the source.
        source = next((j.source for j in jobs if j.output == e.path), e.path)
        raise LinkError(source, e.reason) from None


def _sha256_of(path: str) -> str:
    try:
        return sha256_file(path)
    except OSError as e:
        raise CompileError(path, f"cannot read: {e.strerror or e}") from None


def build_record(config: BuildConfig, obj: ObjectConfig, jobs: List[CompileJob], object_bytes: bytes) -> str:
    """NAME.bpf.json: what the object was built from and for (keys sorted: reproducible)."""
    from ..version import __version__
    options = jobs[0].options
    assert options is not None  # _compile_jobs gives every job its object's options
    uses_vmlinux = any(needs_generated_vmlinux_h(j.source, options.include_dirs, options.cflags) for j in jobs)
    vmlinux = None
    if uses_vmlinux:
        source = obj.vmlinux
        if source.kind == RUNNING_KERNEL:
            path = VMLINUX_BTF
        else:
            assert source.path is not None  # a header or BTF file: "none" fails the compile before
            path = os.path.join(config.root, source.path)
        vmlinux = {"from": source.kind, "path": path if source.kind == RUNNING_KERNEL else source.path,
                   "sha256": _sha256_of(path)}
        if source.kind == RUNNING_KERNEL:
            vmlinux["kernel"] = os.uname().release
    target = obj.target
    record = {
        "object": obj.object_file,
        "sha256": hashlib.sha256(object_bytes).hexdigest(),
        "bpf_build": __version__,
        "clang": find_clang().version,
        "target": {"name": target.name, "byteorder": "little" if target.bpf == "bpfel" else "big",
                   "target_arch": target.arch.target_arch if target.arch else None},
        "sources": list(obj.sources),
        "cflags": list(obj.cflags),
        "vmlinux": vmlinux,
    }
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def skeleton_name(obj: ObjectConfig) -> str:
    """One rule for every skeleton kind and entry point: the name bpftool gives the object file
    (NAME.bpf.o gives NAME_bpf), as `bpf-build skel` does. A C project moving from a
    libbpf-bootstrap Makefile keeps its ``NAME_bpf__open()``, and a Python skeleton's class has
    the same name whether the CLI or the build plugin made it."""
    from ..skel import default_skeleton_name
    return default_skeleton_name(obj.object_file)


def render_skeleton(kind: str, object_bytes: bytes, name: str, path: Optional[str] = None) -> str:
    from ..model.elf import Object
    renderer = importlib.import_module(f"bpf_build.skel.{RENDERERS[kind]}")
    return renderer.generate(Object.read(object_bytes, path=path), name)


def write_if_changed(path: str, data: Union[bytes, str]) -> bool:
    data = data.encode() if isinstance(data, str) else data
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return False
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    write_atomic(path, data)
    return True


def build_project(config: BuildConfig, *, temp_dir: str, package_dir: Callable[[str], str],
                  parallel: Optional[int] = None, force: bool = False,
                  log: Callable[[str], None] = lambda message: None) -> List[str]:
    """Build every object of the config; returns the paths of the files written.

    ``temp_dir`` keeps the per-source objects and their incremental state between builds;
    ``package_dir(package)`` is the directory a package's outputs go to (build_lib, or the
    source tree for an editable install)."""
    try:
        return _build(config, temp_dir, package_dir, parallel, force, log)
    except BpfBuildError:
        # An output from an earlier build would look current (editable installs keep them in the
        # source tree): a failed build leaves none.
        for out in planned_outputs(config):
            try:
                os.unlink(os.path.join(package_dir(out.package), out.filename))
            except FileNotFoundError:
                pass
        raise


def _build(config: BuildConfig, temp_dir: str, package_dir: Callable[[str], str], parallel: Optional[int],
           force: bool, log: Callable[[str], None]) -> List[str]:
    jobs = _compile_jobs(config, temp_dir)
    all_jobs = [j for obj_jobs in jobs.values() for j in obj_jobs]
    compile_all(all_jobs, parallel=parallel, force=force,
                on_compile=lambda job: log(f"compiling {os.path.relpath(job.source, config.root)}"))
    written = []
    for obj in config.objects:
        data = _linked_object(jobs[obj.name])
        object_path = os.path.join(package_dir(obj.package), obj.object_file)
        for out in object_outputs(obj):
            path = os.path.join(package_dir(out.package), out.filename)
            content: Union[bytes, str]
            if out.kind == "object":
                content = data
            elif out.kind == "record":
                content = build_record(config, obj, jobs[obj.name], data)
            else:
                content = render_skeleton(out.kind, data, skeleton_name(obj), object_path)
            if write_if_changed(path, content):
                log(f"writing {path}")
            written.append(path)
    return written
