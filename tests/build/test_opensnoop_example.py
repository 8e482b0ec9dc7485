"""examples/opensnoop-py, the libbpf tool ported to Python end to end: built by pip into a wheel,
installed in a fresh venv, run while this test opens files, and its events, histogram and drop
count checked against the opens the test made."""

from __future__ import annotations

import os
import re
import uuid
import zipfile

from tests.build.test_examples import DURATION_CAP, kernel, run_while, wheel_objects


def test_opensnoop_wheel_has_object_and_skeleton(example_wheel):
    wheel = example_wheel("opensnoop-py")
    assert wheel_objects(wheel, "opensnoop") == ["opensnoop/opensnoop.bpf.o", "opensnoop/opensnoop_skel.py"]
    with zipfile.ZipFile(wheel) as z:
        skeleton = z.read("opensnoop/opensnoop_skel.py").decode()
    assert "class open_event(_rt.Structure):" in skeleton   # the shared event type, as ctypes


@kernel
def test_opensnoop_reports_the_opens_we_make(example_venv, tracefs, tmp_path):
    bindir = example_venv("opensnoop-py")
    present = tmp_path / f"opensnoop-{uuid.uuid4().hex}"
    present.write_text("x")
    missing = tmp_path / f"missing-{uuid.uuid4().hex}"

    def open_files():
        for _ in range(5):
            fd = os.open(present, os.O_RDONLY)
            os.close(fd)
        try:
            os.open(missing, os.O_RDONLY)
        except FileNotFoundError:
            pass

    output = run_while([bindir / "bpf-opensnoop", "--pid", str(os.getpid()), "--duration", DURATION_CAP], "PID",
                       open_files)
    events = [line.split() for line in output.splitlines() if re.match(r"\d+\s+\d+\s", line)]
    assert all(int(e[0]) == os.getpid() for e in events), output   # the .rodata filter
    ours = [e for e in events if e[-1] == str(present)]
    assert len(ours) == 5 and all(int(e[3]) >= 0 for e in ours), output
    assert [int(e[3]) for e in events if e[-1] == str(missing)] == [-2], output   # -ENOENT
    assert "dropped: 0" in output
    counts = [int(n) for n in re.findall(r"^\s*\d+ -> \d+\s+: (\d+)", output, re.M)]
    assert sum(counts) == len(events), output   # every traced call is in the histogram once
