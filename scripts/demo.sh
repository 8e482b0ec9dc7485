#!/usr/bin/env bash
# Set up, then run the main job on the bundled example.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
.venv/bin/bpf-build compile examples/hello/hello/bpf/hello.bpf.c -o "$out/hello.bpf.o"
.venv/bin/bpf-build inspect "$out/hello.bpf.o"
