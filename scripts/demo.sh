#!/usr/bin/env bash
# Set up, then the main job: ship a BPF program in a Python wheel.
#
#   1. bpf-build itself as wheels (what a release would publish: the tooling, and the runtime
#      the tooling and every generated project depend on);
#   2. `pip wheel examples/hello`: pip's build isolation installs setuptools and that bpf-build
#      wheel, whose setuptools plugin compiles hello.bpf.c and renders its Python skeleton;
#   3. the wheel installed into a fresh venv (it pulls in bpf-build-runtime, nothing else), and
#      `bpf-hello` run for a few seconds while this
#      script makes getpid() calls, printing the live count the BPF program keeps.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== building the bpf-build and bpf-build-runtime wheels"
mkdir "$work/bpf-build"
cp -r bpf_build pyproject.toml README.md "$work/bpf-build/"
cp -rL runtime-dist "$work/bpf-build/"   # -L: its bpf_build/runtime link copied as files
.venv/bin/python -m pip wheel -q --no-deps "$work/bpf-build" "$work/bpf-build/runtime-dist" -w "$work/wheels"

echo "== pip wheel examples/hello (BPF compiled by the bpf-build setuptools plugin)"
cp -r examples/hello "$work/hello"
.venv/bin/python -m pip wheel -q --no-deps --find-links "$work/wheels" "$work/hello" -w "$work/wheels"
ls "$work/wheels"
.venv/bin/python -m zipfile -l "$work"/wheels/bpf_hello-*.whl | grep -E "hello/(hello\.bpf\.o|hello_skel\.py)"

echo "== installing it into a fresh venv and running bpf-hello for 4 seconds"
.venv/bin/python -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --find-links "$work/wheels" "$work"/wheels/bpf_hello-*.whl
echo "installed (besides the pip and setuptools every venv starts with):"
"$work/venv/bin/python" -m pip list --format=freeze --exclude pip --exclude setuptools | sed "s/^/  /"
# Something to count: bursts of getpid() calls while bpf-hello runs.
( for _ in 1 2 3 4 5 6; do sleep 0.5; "$work/venv/bin/python" -c 'import os; [os.getpid() for _ in range(500)]'; done ) &
"$work/venv/bin/bpf-hello" --duration 4 --interval 1
wait
