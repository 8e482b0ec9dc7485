"""The relocator against libbpf 1.1 on the BTF of every kernel we boot, not only the host's: the
vmlinux BTF of Debian's 5.10, 6.1 and 6.12 (taken from the images scripts/vmtest.py fetches) is
the target of both, through our runner's ``kernel_btf`` and libbpf's ``btf_custom_path``. The
relocated programs are loaded here (the host verifies them) and compared as the verifier left
them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bpf_build.runtime import loader
from bpf_build.runtime.btf_types import BtfTypes
from bpf_build.runtime.user_loader import run_in_user_space
from tests.runtime.rt_support import loader_spec
from tests.userspace.support import LIBBPF, btf_of_kernel_image, kernel_images, libbpf_loaded, xlated

REPO = Path(__file__).resolve().parents[2]
SERIES = ("5.10", "6.1", "6.12")
CORE_CASES = (Path(__file__).parent / "core_cases.bpf.c").read_text()

pytestmark = pytest.mark.oracle


@pytest.fixture(scope="module")
def kernel_btf_files(bpf_cache_dir):
    """series -> a file holding that kernel's raw vmlinux BTF (fetched once if missing)."""
    images = kernel_images()
    missing = [s for s in SERIES if s not in images]
    for series in missing:
        subprocess.run([sys.executable, str(REPO / "scripts/vmtest.py"), series, "--fetch-only"],
                       check=False, capture_output=True, timeout=900)
    images = kernel_images()
    files = {}
    for series, image in images.items():
        stat = os.stat(image)
        path = bpf_cache_dir / f"vmlinux-btf-{series}-{stat.st_size}"
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_bytes(btf_of_kernel_image(image))
            os.replace(tmp, path)
        files[series] = str(path)
    return files


@pytest.fixture(scope="module")
def objects(corpus_object, compile_c):
    return {"core": corpus_object("core"), "core_cases": compile_c(CORE_CASES, name="core_cases")}


def _ours(obj: str, target: BtfTypes):
    spec = loader_spec(obj)
    ctx = loader._build_ctx(spec, {}, {}, {}, 0, None)
    assert run_in_user_space(spec.insns, spec.blob, ctx, kernel_btf=lambda: target) == 0
    fds = loader._read_fds(spec, ctx)
    try:
        return {p.name: xlated(fd.fileno()) for p, fd in zip(spec.progs, fds.progs) if fd is not None}
    finally:
        for fd in fds.maps + [p for p in fds.progs if p is not None]:
            fd.close()


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("name", ["core", "core_cases"])
def test_relocation_for_another_kernels_btf_gives_libbpfs_instructions(kernel_btf_files, objects, series, name):
    if not os.path.exists(LIBBPF):
        pytest.skip("libbpf 1.1 (libbpf-dev) not installed: the oracle")
    if series not in kernel_btf_files:
        pytest.fail(f"Debian's {series} kernel image could not be fetched (scripts/vmtest.py {series} --fetch-only)")
    path = kernel_btf_files[series]
    target = BtfTypes(Path(path).read_bytes(), f"vmlinux BTF of {series}")
    ours = _ours(objects[name], target)
    with libbpf_loaded(objects[name], btf_custom_path=path) as theirs:
        assert sorted(theirs) == sorted(ours)
        for prog_name, fd in theirs.items():
            assert ours[prog_name] == xlated(fd), (series, prog_name)
