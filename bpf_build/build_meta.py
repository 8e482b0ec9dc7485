"""A PEP 517 build backend: setuptools' own, plus ``bpf-build.*`` config settings.

Projects name it in pyproject.toml to pass settings from the build front end::

    [build-system]
    requires = ["setuptools>=64", "bpf-build"]
    build-backend = "bpf_build.build_meta"

    pip wheel -C bpf-build.target=arm64 .
    python -m build -C bpf-build.vmlinux-btf=btf/arm64.btf

setuptools' build_meta ignores config settings it does not know, and the setuptools plugin
(bpf_build.project.setuptools_plugin) cannot see them. Each hook here turns ``bpf-build.KEY=VALUE`` into
the environment override of KEY (build_config.OVERRIDABLE: ``$BPF_BUILD_TARGET`` ...) for the
duration of the call, then hands the remaining settings to setuptools. A key bpf-build does not
know is an error, not silently ignored. With plain ``setuptools.build_meta`` the environment
variables still work.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import sys
from typing import Any, Dict, Iterator, Mapping, Optional

from setuptools import build_meta as _setuptools

from .project.config import OVERRIDABLE

PREFIX = "bpf-build."

# Hooks passed through untouched: they take no config settings.
get_requires_for_build_sdist = _setuptools.get_requires_for_build_sdist


def _split(config_settings: Optional[Mapping[str, Any]]):
    """(environment overrides, the settings left for setuptools)."""
    ours, theirs = {}, {}
    for key, value in (config_settings or {}).items():
        if not key.startswith(PREFIX):
            theirs[key] = value
            continue
        name = key[len(PREFIX):]
        if name not in OVERRIDABLE:
            # SystemExit: the front end shows this line, not a traceback.
            raise SystemExit(f"error: config setting {key}: unknown (expected one of: "
                             + ", ".join(PREFIX + k for k in OVERRIDABLE) + ")")
        if isinstance(value, list):  # given twice: the last one wins, as on a command line
            value = value[-1]
        ours[OVERRIDABLE[name]] = str(value)
    return ours, (theirs or None)


@contextlib.contextmanager
def _overrides(config_settings) -> Iterator[Optional[Dict[str, Any]]]:
    env, rest = _split(config_settings)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield rest
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _with_settings(hook_name: str):
    hook = getattr(_setuptools, hook_name)
    signature = inspect.signature(hook)

    def run(*args, **kwargs):
        # Front ends pass config_settings by position or by name.
        bound = signature.bind(*args, **kwargs)
        with _overrides(bound.arguments.get("config_settings")) as rest:
            bound.arguments["config_settings"] = rest
            return hook(*bound.args, **bound.kwargs)

    run.__name__ = run.__qualname__ = hook_name
    run.__doc__ = f"setuptools' {hook_name}, with bpf-build.* config settings applied."
    return run


for _name in ("get_requires_for_build_wheel", "prepare_metadata_for_build_wheel", "build_wheel",
              "build_sdist", "get_requires_for_build_editable", "prepare_metadata_for_build_editable",
              "build_editable"):
    if hasattr(_setuptools, _name):  # the editable hooks: setuptools >= 64
        setattr(sys.modules[__name__], _name, _with_settings(_name))
