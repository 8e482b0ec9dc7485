"""The loader corpus through the Python runtime's user-space load path, on every kernel we boot
(issue 17): each case loads and passes the same checks as the loader program's run
(tests/loader/test_gen_loader.py), or, where the running kernel lacks what the case is made of, the
load fails naming that. On Debian 11's 5.10 (test_vm_kernels.py) this is the only load path."""

from __future__ import annotations

import ctypes

import pytest

from bpf_build.runtime import LoaderError, features
from bpf_build.runtime.loader import run_loader
from tests import kernel_facts
from tests.loader.conftest import LOADABLE_CASES, missing_kfunc
from tests.loader.runner import Loaded
from tests.loader.test_gen_loader import CHECKS, generate_loader, opened_case, run_options
from tests.runtime.rt_support import loader_spec

# Cases made only of BPF_PROG_TYPE_SYSCALL programs (Linux 5.14), test-run for their checks.
SYSCALL_CASES = {"core", "externs", "globals", "linked", "optional", "subprogs", "syscall"}
# Cases with a map type newer than some kernel we boot: (map name, type, Linux release).
NEWER_MAPS = {"maps": ("bloom", "BLOOM_FILTER", (5, 16))}


def _lacks(case: str):
    """A regex for the error a load of ``case`` must give on this kernel, or None if it must load."""
    kfunc = missing_kfunc(case)
    if kfunc:  # looked up before the program that calls it is loaded
        return f'find kernel BTF id of FUNC "{kfunc}"'
    if case in SYSCALL_CASES and not features.has_loader_programs():
        return r"no BPF_PROG_TYPE_SYSCALL programs \(Linux 5\.14\+\)"
    if case in NEWER_MAPS and kernel_facts.kernel_version() < NEWER_MAPS[case][2]:
        return f'create map "{NEWER_MAPS[case][0]}"'
    return None


@pytest.mark.parametrize("case", LOADABLE_CASES)
def test_corpus_loads_from_user_space_and_runs(corpus_object, case):
    opened = opened_case(corpus_object, case)
    names = generate_loader(opened)
    spec = loader_spec(corpus_object(case))
    initial = run_options(opened, case).get("initial_values", {})
    buffers = {name: ctypes.create_string_buffer(value, len(value)) for name, value in initial.items()}
    # the same maps in the same order; their names differ by the object name each was made with
    assert [m.type for m in spec.maps] == [m.type for m in names.maps]
    by_index = {i: ctypes.addressof(buffers[m.name]) for i, m in enumerate(names.maps) if m.name in buffers}
    expected_error = _lacks(case)
    if expected_error is not None:
        with pytest.raises(LoaderError, match=expected_error):
            run_loader(spec, initial_values=by_index, mode="user")
        return
    fds = run_loader(spec, initial_values=by_index, mode="user")
    loaded = Loaded(names,
                    {m.name: fd.detach() for m, fd in zip(names.maps, fds.maps)},
                    {p.name: (fd.detach() if fd is not None else 0) for p, fd in zip(names.progs, fds.progs)})
    with loaded:
        assert [p.name for p in spec.progs] == [p.name for p in names.progs]
        CHECKS[case](opened, names, loaded)


def test_the_expectations_are_not_all_failures():
    """On the newest kernels every case loads; what an older one lacks is listed, not assumed."""
    loadable = [case for case in LOADABLE_CASES if _lacks(case) is None]
    assert {"raw_tp", "tracepoint", "xdp", "socket", "tailcall"} <= set(loadable)
    if kernel_facts.kernel_version() >= (6, 4):
        assert loadable == LOADABLE_CASES
