#!/usr/bin/env bash
# Set up, then run the whole test suite (in parallel on all cores). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n "${BPF_BUILD_TEST_JOBS:-auto}" "$@"
