#!/usr/bin/env bash
# Set up, then run the whole test suite (in parallel on all cores), the kernels booted under QEMU
# included (tests/kernels/test_vm_kernels.py; BPF_BUILD_VM_TESTS=0 leaves them out). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The whole suite: the kernels booted under QEMU too (a bare `pytest` leaves them out).
export BPF_BUILD_VM_TESTS="${BPF_BUILD_VM_TESTS:-1}"
# Objects, skeletons, wheels and venvs this run builds, shared with the kernels it boots. A fresh
# one per run: its entries are keyed by their inputs, but the example wheels by name only.
if [ -z "${BPF_BUILD_TEST_CACHE:-}" ]; then
  export BPF_BUILD_TEST_CACHE="$PWD/.cache/test-run"
  rm -rf "$BPF_BUILD_TEST_CACHE"
fi
exec .venv/bin/python -m pytest -n "${BPF_BUILD_TEST_JOBS:-auto}" "$@"
