"""The version of bpf-build (the tooling distribution); pyproject.toml reads it from here.

It is a module of its own because ``bpf_build`` is a namespace package shared with the
bpf-build-runtime distribution (see runtime-dist/README.md): neither may ship
``bpf_build/__init__.py``.
"""

__version__ = "0.1.0"
