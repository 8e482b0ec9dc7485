#!/usr/bin/env bash
# Set up, then run the whole test suite (in parallel on all cores), the kernels booted under QEMU
# included (tests/kernels/test_vm_kernels.py; -m "not vm" leaves them out). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Objects, skeletons, wheels and venvs this run builds, shared with the kernels it boots. A fresh
# one per run: its entries are keyed by their inputs, but the example wheels by name only.
if [ -z "${BPF_BUILD_TEST_CACHE:-}" ]; then
  export BPF_BUILD_TEST_CACHE="$PWD/.cache/test-run"
  rm -rf "$BPF_BUILD_TEST_CACHE"
fi
exec .venv/bin/python -m pytest -n "${BPF_BUILD_TEST_JOBS:-auto}" "$@"
