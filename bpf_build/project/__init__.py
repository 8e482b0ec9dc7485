"""Building a user's project: clang, vmlinux.h, the [tool.bpf-build] configuration, the setuptools plugin."""
