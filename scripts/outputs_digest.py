"""Every output bpf-build and bpf-link make for a set of BPF objects, as one digest per output.

    .venv/bin/python scripts/outputs_digest.py OUT.json OBJECT_OR_DIR...
    PYTHONPATH=/tmp/old-checkout .venv/bin/python scripts/outputs_digest.py old.json ...
    .venv/bin/python scripts/outputs_digest.py --compare old.json new.json

A refactoring must not change a byte of what the tools write. This runs, on each object, every
command that writes something (C, light C and Python skeletons, subskeleton, loader explain, BTF
dump, inspect, bpf-link of the object alone), plus vmlinux.h and the BTF dump of the running
kernel, and records sha256 of each output (and the exit status and error line when a command
refuses the object: errors are outputs too). Run it with the old checkout on PYTHONPATH and with
the new one, then --compare: any difference is listed by object and command.

The commands run in this process through the CLI entry points (the public interface both
checkouts share), so a whole corpus (libbpf-tools, libbpf-bootstrap, our fixtures) takes seconds
per object, not a process start per command.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
from typing import Dict, List

COMMANDS = {
    "skel-c": ["skel", "{obj}"],
    "skel-light": ["skel", "--light", "{obj}"],
    "skel-python": ["skel", "--lang", "python", "{obj}"],
    "subskel": ["skel", "--subskeleton", "{obj}"],
    "loader-explain": ["loader", "explain", "{obj}"],
    "btf-dump": ["btf", "dump", "{obj}"],
    "inspect": ["inspect", "{obj}"],
}
KERNEL_BTF = "/sys/kernel/btf/vmlinux"


def _run(entry, argv: List[str], out_file: str) -> Dict[str, object]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = entry(argv) or 0
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else 1
    digest = hashlib.sha256(stdout.getvalue().encode())
    if os.path.exists(out_file):
        with open(out_file, "rb") as f:
            digest.update(f.read())
        os.unlink(out_file)
    return {"status": status, "sha256": digest.hexdigest(),
            "error": stderr.getvalue().strip().splitlines()[-1:] if status else []}


def objects_of(paths: List[str]) -> List[str]:
    found = []
    for p in paths:
        if os.path.isdir(p):
            for dp, _, files in os.walk(p):
                found += [os.path.join(dp, f) for f in files if f.endswith(".o")]
        else:
            found.append(p)
    return sorted(found)


def digest(paths: List[str]) -> Dict[str, Dict[str, object]]:
    from bpf_build.cli.link import main as link_main
    from bpf_build.cli.main import main as build_main
    results: Dict[str, Dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        os.environ["BPF_BUILD_CACHE_DIR"] = os.path.join(tmp, "cache")  # vmlinux.h made, not recalled
        for obj in objects_of(paths):
            for name, argv in COMMANDS.items():
                results[f"{obj} {name}"] = _run(build_main, [a.format(obj=obj) for a in argv], out)
            results[f"{obj} bpf-link"] = _run(link_main, [obj, "-o", out], out)
        if os.path.exists(KERNEL_BTF):
            results["kernel vmlinux.h"] = _run(build_main, ["vmlinux", "-o", out], out)
            results["kernel btf-dump"] = _run(build_main, ["btf", "dump", KERNEL_BTF], out)
    return results


def compare(old_path: str, new_path: str) -> int:
    with open(old_path) as f:
        old = json.load(f)
    with open(new_path) as f:
        new = json.load(f)
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    for key in differ:
        print(f"{key}: {old.get(key)} -> {new.get(key)}")
    print(f"{len(old)} outputs before, {len(new)} after, {len(differ)} differ")
    return 1 if differ else 0


def main() -> int:
    if sys.argv[1:2] == ["--compare"] and len(sys.argv) == 4:
        return compare(sys.argv[2], sys.argv[3])
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    results = digest(sys.argv[2:])
    with open(sys.argv[1], "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    failed = sum(1 for r in results.values() if r["status"])
    print(f"{len(results)} outputs, {failed} refused", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
