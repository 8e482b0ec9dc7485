"""The oracle: `bpftool gen object` (libbpf 1.1's linker) on the same inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import List, Optional

import pytest

from bpf_build.model.elf import Object


@dataclass
class Built:
    name: str
    inputs: List[str]           # compiled objects, in link order
    ours: bytes                 # bpf-link's output
    path: str                   # where `ours` is written
    workdir: str

    def bpftool(self, inputs: Optional[List[str]] = None, out_name: str = "bpftool.o"):
        """`bpftool gen object` on ``inputs`` (default: this case's); (returncode, stderr, bytes)."""
        return bpftool_link(inputs or self.inputs, os.path.join(self.workdir, out_name))


def bpftool_link(inputs: List[str], out: str):
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool not installed (oracle)")
    proc = subprocess.run(["bpftool", "gen", "object", out, *inputs], capture_output=True, text=True)
    data = open(out, "rb").read() if proc.returncode == 0 else b""
    return proc.returncode, proc.stderr, data


def read(path_or_bytes) -> Object:
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return Object.read(bytes(path_or_bytes), path="<bytes>")
    return Object.read(path_or_bytes)
