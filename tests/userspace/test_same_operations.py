"""Both load paths perform the loader's operations: the kernel running the loader program, and
user space running the same instructions (runtime/user_loader.py). On a kernel that supports
both, they must create the same maps and programs, as BPF_OBJ_GET_INFO_BY_FD reports them."""

from __future__ import annotations

import pytest

from bpf_build.runtime.loader import run_loader
from tests.loader.conftest import LOADABLE_CASES, missing_kfunc
from tests.runtime.rt_support import loader_spec
from tests.userspace.support import map_info, prog_summary


def _load(spec, mode):
    fds = run_loader(spec, mode=mode)
    try:
        return ([map_info(fd.fileno()) for fd in fds.maps],
                [None if fd is None else prog_summary(fd.fileno()) for fd in fds.progs])
    finally:
        for fd in fds.maps + [p for p in fds.progs if p is not None]:
            fd.close()


@pytest.mark.parametrize("case", LOADABLE_CASES)
def test_kernel_and_user_paths_create_the_same_maps_and_programs(corpus_object, case):
    if missing_kfunc(case):
        pytest.skip(f"this kernel lacks the kfunc {missing_kfunc(case)}")
    spec = loader_spec(corpus_object(case))
    kernel_maps, kernel_progs = _load(spec, "kernel")
    user_maps, user_progs = _load(spec, "user")
    assert user_maps == kernel_maps
    assert [p and {k: v for k, v in p.items() if k != "xlated"} for p in user_progs] == \
        [p and {k: v for k, v in p.items() if k != "xlated"} for p in kernel_progs]
    for spec_prog, user, kernel in zip(spec.progs, user_progs, kernel_progs):
        assert (user and user["xlated"]) == (kernel and kernel["xlated"]), spec_prog.name
    assert any(p is not None for p in user_progs)
