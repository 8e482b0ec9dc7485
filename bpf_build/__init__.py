"""bpf-build: ship eBPF programs from Python (and C) projects.

The build side (ELF/BTF model, linker, loader generator, skeletons, compile driver) lives in this
package; the pure-Python loading side lives in ``bpf_build.runtime`` and imports nothing from the
build side.
"""

__version__ = "0.1.0"
