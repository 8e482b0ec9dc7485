"""A user-space load that fails (the kernel refuses a step, or the runtime refuses a CO-RE
relocation itself) names the step and leaves nothing behind: the loader's own clean-up code
closes what it created, exactly as in the kernel."""

from __future__ import annotations

import pytest

from bpf_build.runtime.errors import LoaderError
from bpf_build.runtime.loader import choose_mode, run_loader
from tests.runtime.rt_support import kernel_ids, loader_spec, wait_until_gone
from tests.userspace.support import open_fd_count

ANONYMOUS_TYPE = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

__u64 seen;
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
	 __type(key, __u32); __type(value, __u64); } created_first SEC(".maps");

SEC("syscall")
int anonymous(void *ctx)
{
	struct { int x; } __attribute__((preserve_access_index)) *anon = (void *)bpf_get_current_task();

	seen = bpf_core_field_exists(anon->x);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def _snapshot():
    return {kind: kernel_ids(kind) for kind in ("prog", "map")}, open_fd_count()


def _assert_nothing_left(before, spec):
    ids, fds = before
    assert open_fd_count() == fds
    names = {m.name[:15] for m in spec.maps} | {p.name[:15] for p in spec.progs}
    assert wait_until_gone(ids, names) == {}


def test_refused_program_names_the_step_and_leaves_nothing(corpus_object):
    spec = loader_spec(corpus_object("rejected"))
    before = _snapshot()
    with pytest.raises(LoaderError) as e:
        run_loader(spec, mode="user")
    assert e.value.errno == 13 and "out_of_bounds" in str(e.value)
    assert "invalid access to map value" in e.value.log
    _assert_nothing_left(before, spec)


def test_failed_map_after_others_closes_the_earlier_ones(corpus_object):
    spec = loader_spec(corpus_object("maps"))
    lru = next(i for i, m in enumerate(spec.maps) if m.name == "lru")
    before = _snapshot()
    with pytest.raises(LoaderError) as e:
        run_loader(spec, mode="user", max_entries={lru: 0xFFFFFFFF})
    assert '"lru"' in str(e.value) and "create map" in str(e.value)
    _assert_nothing_left(before, spec)


def test_relocation_the_runtime_refuses_is_named_and_leaves_nothing(compile_c):
    spec = loader_spec(compile_c(ANONYMOUS_TYPE, name="anon_core"))
    before = _snapshot()
    with pytest.raises(LoaderError) as e:
        run_loader(spec, mode="user")
    assert "program 'anonymous'" in str(e.value) and "anonymous type" in str(e.value)
    assert "field_exists" in str(e.value)
    _assert_nothing_left(before, spec)


def test_modes_are_checked_and_auto_prefers_the_kernel_here():
    with pytest.raises(ValueError, match="auto, kernel, user"):
        choose_mode("userspace")
    assert choose_mode("user") == "user"
    assert choose_mode() == "kernel"   # this kernel (6.x) runs loader programs with in-kernel CO-RE
