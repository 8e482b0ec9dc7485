"""freplace programs (BPF_PROG_TYPE_EXT) from C light skeletons: tests/runtime/progs/freplace.bpf.c takes
the place of the global function handler() of freplace_target.bpf.c's XDP program, both loaded from
their light skeletons by one C program (c/freplace.c), as tests/runtime/test_freplace.py does from
Python: the target's verdict changes while the link is attached and comes back once it is gone.

freplace runs through BPF trampolines: a kernel that refuses them (this host answers EPERM to fentry
and freplace loads alike) must say so by name; the VMs' 6.1 and 6.12 run the replacement. A
missing target or a function the target lacks is one line naming the program, and no fd is left."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path
import pytest

from bpf_build.headers import include_dir
from bpf_build.model.elf import Object
from bpf_build.runtime import Program
from bpf_build.runtime.errors import VerifierError
from bpf_build.runtime.uapi import AttachType, ProgType
from bpf_build.skel.light_c import generate
from tests.runtime import rt_support
from tests.runtime.test_freplace import EXT_SOURCE, TARGET_SOURCE, XDP_DROP, XDP_PASS

pytestmark = pytest.mark.kernel  # loads into the running kernel: runs in the VMs too

DRIVER = Path(__file__).resolve().parent / "c" / "freplace.c"
LOADER_HEADERS = sorted(Path(include_dir(), "bpf_build").glob("*.h"))
WHERE = "freplace_ext: program 'new_handler' (SEC(\"freplace/handler\"))"


@pytest.fixture(scope="module")
def driver(compile_c, cached_output) -> Path:
    headers = {name: generate(Object.read(compile_c(source, name, cflags=("-mcpu=v3",))), name)
               for name, source in (("freplace_target", TARGET_SOURCE), ("freplace_ext", EXT_SOURCE))}
    assert "#include <bpf_build/freplace.h>" in headers["freplace_ext"]
    assert "freplace.h" not in headers["freplace_target"]

    def build(exe: Path) -> None:
        for name, text in headers.items():
            (exe.parent / f"{name}.lskel.h").write_text(text)
        built = subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", "-O1", "-I", include_dir(), "-I",
                                str(exe.parent), str(DRIVER), "-o", str(exe)], capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
    key = "".join(headers.values()) + DRIVER.read_text() + (DRIVER.parent / "fds.h").read_text() + "".join(h.read_text() for h in LOADER_HEADERS)
    return cached_output("freplace_driver", key, build)


def _run(exe: Path, **settings: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update({k.upper(): v for k, v in settings.items()})
    return subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)


def _failed(ran: subprocess.CompletedProcess) -> int:
    """The errno of a failed load, after checking no fd was left."""
    words = ran.stdout.split()
    assert ran.returncode == 3 and words[:2] == ["load", "failed"], ran.stdout + ran.stderr
    assert words[-2] == words[-1]  # fds before and after
    return int(words[2])


def test_freplace_replaces_the_function_while_its_link_lives(driver):
    ran = _run(driver)
    if ran.returncode == 3 and _failed(ran) == errno.EPERM:
        assert ran.stderr.splitlines()[-1] == (
            "freplace_ext: program 'new_handler': this kernel does not permit freplace programs: they run through "
            "BPF trampolines, which it refuses before verification (as for fentry/fexit); freplace needs a kernel "
            "that allows them (Linux 5.10+)"), ran.stderr
        # the refusal is this kernel's rule for trampolines: fentry gets it too
        with pytest.raises(VerifierError) as fentry:
            Program.load(ProgType.TRACING, rt_support.returns(0), expected_attach_type=AttachType.TRACE_FENTRY,
                         attach_target="do_unlinkat", name="fentry_probe").close()
        assert fentry.value.errno == errno.EPERM
        return
    assert ran.returncode == 0, ran.stdout + ran.stderr
    words = ran.stdout.split()  # verdicts BEFORE ATTACHED AFTER calls REPLACED HANDLER fds N N
    assert words[1:4] == [str(XDP_PASS), str(XDP_DROP), str(XDP_PASS)], ran.stdout
    assert words[5:7] == ["1", "2"], ran.stdout  # the replacement ran while attached, handler() before and after
    assert words[-2] == words[-1], ran.stdout  # no fd left


def test_an_freplace_program_without_a_target_is_refused_by_name(driver):
    ran = _run(driver, no_target="1")
    assert _failed(ran) == errno.EINVAL
    assert ran.stderr.splitlines() == [
        f"{WHERE} is an freplace program: set its attach target (skel->attach_targets.new_handler = "
        "{ target_prog_fd, \"function\" }) before load, the program whose function it replaces"]


def test_a_function_the_target_lacks_is_named(driver):
    ran = _run(driver, func="no_such_function")
    assert _failed(ran) == errno.ENOENT
    lines = ran.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{WHERE}: the target program (fd ")
    assert lines[0].endswith("has no function 'no_such_function' in its BTF (only global functions of programs "
                             "compiled with -g can be replaced)")
