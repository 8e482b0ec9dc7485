"""Maps pinned by name (LIBBPF_PIN_BY_NAME) from C light skeletons: tests/runtime/progs/pin_counts.bpf.c
built into a light skeleton and loaded by a C program (c/pinning.c) on this kernel, as
tests/runtime/test_pinning.py loads its Python skeleton: two loads share the pinned maps, an
incompatible pin, a pin root off a BPF file system, two maps on one path and a program at a map's
path are refused in one line naming the map and the path, a failed load keeps the pin it reused and
pins nothing, and no load leaves an fd open. Pins go into a BPF file system mounted per test."""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from bpf_build.headers import include_dir
from bpf_build.model.elf import Object
from bpf_build.runtime import Map, MapType, Program, ProgType
from bpf_build.skel.light_c import generate
from tests.runtime import rt_support
from tests.runtime import test_pinning
from tests.runtime.test_pinning import PINNED, SOURCE, _pins

bpffs = test_pinning.bpffs  # the fixture: a BPF file system mounted for the test

pytestmark = pytest.mark.kernel  # loads into the running kernel: runs in the VMs too

DRIVER = Path(__file__).resolve().parent / "c" / "pinning.c"
LOADER_HEADERS = sorted(Path(include_dir(), "bpf_build").glob("*.h"))


@pytest.fixture(scope="module")
def driver(compile_c, cached_output) -> Path:
    header = generate(Object.read(compile_c(SOURCE, "pin_counts", cflags=("-mcpu=v3",))), "pin_counts")
    assert "#include <bpf_build/pinning.h>" in header

    def build(exe: Path) -> None:
        (exe.parent / "pin_counts.lskel.h").write_text(header)
        built = subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", "-O1", "-I", include_dir(), "-I",
                                str(exe.parent), str(DRIVER), "-o", str(exe)], capture_output=True, text=True)
        assert built.returncode == 0, built.stderr
    key = header + DRIVER.read_text() + (DRIVER.parent / "fds.h").read_text() + "".join(h.read_text() for h in LOADER_HEADERS)
    return cached_output("pinning_driver", key, build)


class Load:
    """One run of the driver: the ids of its maps, or why its load failed; fds before and after."""

    def __init__(self, exe: Path, **settings: Optional[str]):
        env = dict(os.environ)
        env.update({k.upper(): v for k, v in settings.items() if v is not None})
        ran = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)
        self.stderr = ran.stderr
        words = ran.stdout.split()
        assert ran.returncode in (0, 3) and words, ran.stdout + ran.stderr
        self.ok = ran.returncode == 0
        values = dict(zip(words[1::2], words[2::2]))
        self.ids: Dict[str, int] = {k: int(values[k]) for k in ("counts", "names", "private") if k in values}
        self.errno = 0 if self.ok else int(words[2])
        self.fds_before, self.fds_after = int(words[-2]), int(words[-1])

    def failed_with(self, code: int, message: str) -> None:
        assert not self.ok and self.errno == code, self.stderr
        lines = self.stderr.splitlines()
        assert len(lines) == 1 and lines[0] == f"pin_counts: {message}", self.stderr
        assert self.fds_after == self.fds_before  # what the load opened is closed


def _counts(root: str, name: str = "shared_counts") -> List[int]:
    with Map.from_pinned(os.path.join(root, name)) as m:
        return [int.from_bytes(m[i], "little") for i in range(4)]


def test_two_loads_share_the_pinned_maps(driver, bpffs):
    first = Load(driver, pin_root=bpffs)
    assert first.ok, first.stderr
    assert _pins(bpffs) == sorted(PINNED)  # created, then pinned; the private map not
    assert first.fds_after == first.fds_before
    second = Load(driver, pin_root=bpffs)
    assert second.ok, second.stderr
    assert second.ids["counts"] == first.ids["counts"] and second.ids["names"] == first.ids["names"]
    assert second.ids["private"] != first.ids["private"]
    assert _counts(bpffs)[0] == 2  # both loads' programs counted in the one pinned map
    assert second.fds_after == second.fds_before


def test_incompatible_pin_is_refused_naming_map_path_and_field(driver, bpffs):
    path = os.path.join(bpffs, "shared_counts")
    with Map.create(MapType.ARRAY, 4, 8, 16, name="shared_counts") as other:
        other.pin(path)
    Load(driver, pin_root=bpffs).failed_with(
        errno.EINVAL, f"map 'shared_counts': the map pinned at {path} does not match this object's definition "
                      "(max_entries 16 there, 4 here): remove the pin or give the map another pin path")
    assert _pins(bpffs) == ["shared_counts"]  # and the compatible map was not pinned


def test_failed_load_keeps_the_pin_it_reused_and_pins_nothing(driver, bpffs):
    """The loader's clean-up closes the maps it created, never the skeleton's pinned one."""
    assert Load(driver, pin_root=bpffs).ok
    with Map.from_pinned(os.path.join(bpffs, "shared_counts")) as counts:
        counts_id = counts.id
    os.unlink(os.path.join(bpffs, "shared_names"))  # this one the failing load creates
    failed = Load(driver, pin_root=bpffs, refused="1")
    assert not failed.ok and failed.errno == errno.EACCES and "refused" in failed.stderr, failed.stderr
    assert failed.fds_after == failed.fds_before
    assert _pins(bpffs) == ["shared_counts"]  # nothing pinned by the failed load
    with Map.from_pinned(os.path.join(bpffs, "shared_counts")) as still:
        assert still.id == counts_id
    assert _counts(bpffs)[0] == 1


def test_pin_root_must_be_a_bpf_file_system(driver):
    with tempfile.TemporaryDirectory() as plain:
        failed = Load(driver, pin_root=plain)
        assert not failed.ok and failed.errno == errno.EINVAL
        assert failed.stderr.startswith(f"pin_counts: map 'shared_counts': cannot pin at {plain}/shared_counts: "
                                        f"{plain} is not on a BPF file system (")
        assert f"mount one with 'mount -t bpf bpf {plain}')" in failed.stderr
        assert failed.fds_after == failed.fds_before and os.listdir(plain) == []
        Load(driver, pin_root=os.path.join(plain, "missing")).failed_with(
            errno.ENOENT, f"map 'shared_counts': cannot pin at {plain}/missing/shared_counts: {plain}/missing is not "
                          "a directory")


def test_what_cannot_be_a_pinned_map_is_refused_before_the_run(driver, bpffs):
    both = os.path.join(bpffs, "both")
    Load(driver, pin_counts=both, pin_names=both).failed_with(
        errno.EINVAL, f"maps 'shared_counts' and 'shared_names' have the same pin path {both}")
    with Program.load(ProgType.SOCKET_FILTER, rt_support.returns(0), name="not_a_map") as prog:
        prog.pin(os.path.join(bpffs, "shared_names"))
    Load(driver, pin_root=bpffs).failed_with(
        errno.EINVAL, f"map 'shared_names': what is pinned at {bpffs}/shared_names is not a BPF map")
    assert _pins(bpffs) == ["shared_names"]


def test_pin_path_settings(driver, bpffs):
    """A map's own path wins over the root; "" leaves the map unpinned this load."""
    loaded = Load(driver, pin_root="/nonexistent", pin_counts=os.path.join(bpffs, "counters"), pin_names="-")
    assert loaded.ok, loaded.stderr
    assert _pins(bpffs) == ["counters"]
    assert _counts(bpffs, "counters")[0] == 1
