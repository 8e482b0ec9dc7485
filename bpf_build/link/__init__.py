"""The static linker: BPF objects in, one object out (libbpf's linker.c rules). Never touches files.

``link`` (linker.py) lists the phases in order; each phase is a module of its own: inputs,
sections, symbols, relocs, btf, btf_ext, finalize, over the state of state.py; mismatch.py says
why two descriptions of one global do not agree.
"""

from .linker import Input, link

__all__ = ["Input", "link"]
