"""Maps pinned by name (LIBBPF_PIN_BY_NAME) through loader programs: a Python skeleton of our own
object (progs/pin_counts.bpf.c) reuses the pinned map it finds, pins the ones it creates, refuses
an incompatible pin naming the map, the path and the differing field, and leaks nothing (no fd,
no pin) when a load fails. Pins go into a BPF file system mounted afresh for each test (kernels
booted by scripts/vmtest.py may not mount /sys/fs/bpf). Kernels: every one tested; where loader
programs cannot run (5.10: they need 5.14), "kernel" mode is the clear error and the rest loads
through the user-space path (the object's programs are socket filters here for that)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from bpf_build.loader.gen import describe_loader, generate_loader
from bpf_build.loader.open import open_object
from bpf_build.model.elf import Object
from bpf_build.runtime import Map, MapType, Program, ProgType, features
from bpf_build.runtime.errors import LoaderError, NotSupportedError
from tests.runtime import rt_support

SOURCE = (Path(__file__).resolve().parent / "progs" / "pin_counts.bpf.c").read_text()
PINNED = ("shared_counts", "shared_names")


@pytest.fixture
def bpffs(tmp_path):
    """A BPF file system of its own, unmounted (with every pin in it) afterwards."""
    root = tmp_path / "bpffs"
    root.mkdir()
    mounted = subprocess.run(["mount", "-t", "bpf", "bpf", str(root)], capture_output=True, text=True)
    assert mounted.returncode == 0, mounted.stderr
    try:
        yield str(root)
    finally:
        subprocess.run(["umount", str(root)], check=True)


def _skeleton(skeleton_module, cflags=()):
    module, _, obj_path = skeleton_module(SOURCE, name="pin_counts",
                                         cflags=("-mcpu=v3", "-DSOCKET_FILTERS", *cflags))
    cls = next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, module._rt.Skeleton)
               and v is not module._rt.Skeleton)
    return cls, obj_path


def _pins(root: str) -> list:
    """What is pinned in ``root``, without what a fresh bpffs holds (maps.debug, progs.debug)."""
    return sorted(name for name in os.listdir(root) if not name.endswith(".debug"))


def _open_fds() -> set:
    return set(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("mode", ["kernel", "user"])
def test_two_loads_share_the_pinned_maps(skeleton_module, bpffs, mode):
    cls, _ = _skeleton(skeleton_module)
    if mode == "kernel" and not features.has_loader_programs():
        with pytest.raises(LoaderError, match="Linux 5.14"):
            cls().load(mode=mode, pin_root_path=bpffs)
        return
    with cls().load(mode=mode, pin_root_path=bpffs) as first:
        assert _pins(bpffs) == sorted(PINNED)  # created, then pinned; the private map not
        first.maps.shared_counts[1] = 41
        with cls().load(mode=mode, pin_root_path=bpffs) as second:
            # the same kernel map, not a copy: the value written through the first load is there
            assert second.maps.shared_counts.id == first.maps.shared_counts.id
            assert second.maps.private_count.id != first.maps.private_count.id
            assert second.maps.shared_counts[1] == 41
            assert second.progs.bump.test_run(bytes(64)).retval == 0  # a program of the second load...
            assert first.maps.shared_counts[0] == 1           # ...updates what the first sees
            assert first.maps.private_count[0] == 0
    # closing does not unpin (libbpf's rule): a third load still finds the counters
    with cls().load(mode=mode, pin_root_path=bpffs) as third:
        assert third.maps.shared_counts[0] == 1 and third.maps.shared_counts[1] == 41


def test_incompatible_pin_is_refused_naming_map_path_and_field(skeleton_module, bpffs):
    cls, _ = _skeleton(skeleton_module)
    path = os.path.join(bpffs, "shared_counts")
    with Map.create(MapType.ARRAY, 4, 8, 16, name="shared_counts") as other:
        other.pin(path)
    before = _open_fds()
    with pytest.raises(LoaderError) as failure:
        cls().load(pin_root_path=bpffs)
    message = str(failure.value)
    assert "map 'shared_counts'" in message and path in message
    assert "max_entries 16 there, 4 here" in message
    assert _open_fds() == before            # the pinned map's fd, opened to compare, is closed
    assert _pins(bpffs) == ["shared_counts"]  # and the compatible map was not pinned


@pytest.mark.parametrize("mode", ["auto", "user"])
def test_failed_load_keeps_the_pin_it_reused_and_pins_nothing(skeleton_module, bpffs, mode):
    """Both runners: the loader's clean-up closes the maps it created, never the runner's pinned one."""
    cls, _ = _skeleton(skeleton_module)
    with cls().load(pin_root_path=bpffs) as first:
        first.maps.shared_counts[2] = 7
        counts_id = first.maps.shared_counts.id
    os.unlink(os.path.join(bpffs, "shared_names"))  # this one the failing load creates
    before = _open_fds()
    skel = cls()
    skel.progs.refused.autoload = True
    with pytest.raises(LoaderError, match="program 'refused'"):
        skel.load(pin_root_path=bpffs, mode=mode)
    skel.close()
    assert _open_fds() == before                       # the loader closed what it created, not the reused fd
    assert _pins(bpffs) == ["shared_counts"]      # nothing pinned by the failed load
    with Map.from_pinned(os.path.join(bpffs, "shared_counts")) as still:
        assert still.id == counts_id and still[2] == (7).to_bytes(8, "little")


def test_pin_root_must_be_a_bpf_file_system(skeleton_module):
    cls, _ = _skeleton(skeleton_module)
    before = _open_fds()
    with tempfile.TemporaryDirectory() as plain:
        with pytest.raises(LoaderError, match=f"map 'shared_counts': cannot pin at {plain}/shared_counts: "
                                              f"{plain} is not on a BPF file system"):
            cls().load(pin_root_path=plain)
        assert os.listdir(plain) == []
    assert _open_fds() == before


def test_what_cannot_be_a_pinned_map_is_refused_before_the_run(skeleton_module, bpffs):
    cls, _ = _skeleton(skeleton_module)
    before = _open_fds()
    skel = cls()
    skel.maps.shared_counts.pin_path = skel.maps.shared_names.pin_path = os.path.join(bpffs, "both")
    with pytest.raises(LoaderError, match="maps 'shared_counts' and 'shared_names' have the same pin path"):
        skel.load()
    skel.close()
    with Program.load(ProgType.SOCKET_FILTER, rt_support.returns(0), name="not_a_map") as prog:
        prog.pin(os.path.join(bpffs, "shared_names"))
    with pytest.raises(LoaderError, match=f"map 'shared_names': what is pinned at {bpffs}/shared_names is not a "
                                          "BPF map"):
        cls().load(pin_root_path=bpffs)
    assert _open_fds() == before and _pins(bpffs) == ["shared_names"]


def test_pin_path_setting(skeleton_module, bpffs):
    cls, _ = _skeleton(skeleton_module)
    skel = cls()
    assert skel.maps.shared_counts.pin_path == "/sys/fs/bpf/shared_counts"  # libbpf's default
    assert skel.maps.private_count.pin_path is None
    with pytest.raises(NotSupportedError, match="LIBBPF_PIN_BY_NAME"):
        skel.maps.private_count.pin_path = os.path.join(bpffs, "private")
    skel.maps.shared_counts.pin_path = os.path.join(bpffs, "counters")
    skel.maps.shared_names.pin_path = None  # not pinned this load
    with skel.load():
        assert _pins(bpffs) == ["counters"]


def test_loader_explains_the_reuse_step(skeleton_module):
    _, obj_path = _skeleton(skeleton_module)
    loader = generate_loader(open_object(Object.read(obj_path)))
    lines = describe_loader(loader.insns, loader.blob)
    at = lines.index('reuse pinned map "shared_counts" if the runner gives its fd')
    assert lines[at + 1] == 'create map "shared_counts" ARRAY 4/8 x4'
    assert [op.kind for op in loader.ops].count("reuse_map") == 2


def test_container_refuses_pinned_maps(skeleton_module):
    """The BPFBLDR1 container would load private maps where the object asks for shared ones:
    refused, naming the maps (light C skeletons pin: tests/loader/test_light_c_pinning.py)."""
    from bpf_build.errors import NotSupportedError as BuildNotSupported

    _, obj_path = _skeleton(skeleton_module)
    with pytest.raises(BuildNotSupported, match=r"maps pinned by name \('shared_counts', 'shared_names'.*BPFBLDR1 "
                                                r"container.*C light skeleton"):
        generate_loader(open_object(Object.read(obj_path))).to_bytes()
