"""Passes over BTF: deduplication (libbpf's algorithm) and rendering as C (vmlinux.h)."""
