#!/usr/bin/env bash
# Set up a Debian 12 machine (as root) for bpf-build: system packages, tracefs, a virtualenv with
# the package installed in editable mode. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  clang-19 llvm-19 lld-19          # BPF compiler (any clang >= 14 with the BPF target works)
  libbpf-dev linux-libc-dev        # bpf_helpers.h & co, kernel UAPI headers
  gcc libc6-dev make pkg-config    # C skeletons, the loader library, ABI test libraries
  bpftool pahole abigail-tools     # oracles for tests and benchmarks (never used by the product)
  meson ninja-build                # the Meson example
  iproute2                         # veth pairs and network namespaces for XDP/tc tests
  qemu-system-x86 busybox-static kmod udev  # other kernels under QEMU (scripts/vmtest.py)
  python3 python3-venv python3-dev
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Tracepoints attach only with tracefs mounted; bpffs is where maps get pinned.
if [ ! -e /sys/kernel/tracing/events ]; then
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || echo "setup: warning: could not mount tracefs"
fi
if ! grep -q " /sys/fs/bpf bpf " /proc/mounts; then
  mount -t bpf bpf /sys/fs/bpf 2>/dev/null || echo "setup: warning: could not mount bpffs"
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c "import bpf_build.runtime, bpf_build.version, elftools, pytest, xdist, hypothesis, mypy, jsonschema" 2>/dev/null \
   || [ pyproject.toml -nt .venv/.bpf-build-installed ] || [ runtime-dist/pyproject.toml -nt .venv/.bpf-build-installed ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # Two distributions from this repository: the runtime (runtime-dist/) and the tooling, which
  # depends on it.
  .venv/bin/python -m pip install -q -e ./runtime-dist -e ".[test]"
  touch .venv/.bpf-build-installed
fi
