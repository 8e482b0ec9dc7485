"""Skeleton attach(): every program that cannot attach is reported (or skipped on request), links
made with ``skel.progs.X.attach_*()`` belong to the skeleton and go with close() (a tc filter
does not stay behind), iterators attach and read, and the log hook hears what was skipped."""

from __future__ import annotations

import os
import struct
import subprocess
import threading

import pytest

from bpf_build.runtime import AttachError, IterLink, set_print
from tests.runtime import rt_support

ATTACH_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 raw_hits;
__u32 watch_pid;

SEC("raw_tp/sys_enter")
int counts_syscalls(void *ctx)
{
    if ((bpf_get_current_pid_tgid() >> 32) == watch_pid)
        __sync_fetch_and_add(&raw_hits, 1);
    return 0;
}

SEC("tracepoint/syscalls/sys_enter_no_such_call_here")
int missing_tracepoint(void *ctx) { return 0; }

SEC("tracepoint/no_such_category/whatever")
int missing_category(void *ctx) { return 0; }

SEC("tc")
int tc_pass(struct __sk_buff *skb) { return 0; }

char LICENSE[] SEC("license") = "GPL";
"""

ITER_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct seq_file;
struct bpf_iter_meta { struct seq_file *seq; } __attribute__((preserve_access_index));
struct task_struct { int pid; int tgid; } __attribute__((preserve_access_index));
struct bpf_iter__task { struct bpf_iter_meta *meta; struct task_struct *task; } __attribute__((preserve_access_index));

const volatile int target_tgid = 0;

SEC("iter/task")
int thread_ids(struct bpf_iter__task *ctx)
{
    struct task_struct *task = ctx->task;
    int pid;

    if (!task || task->tgid != target_tgid)
        return 0;
    pid = task->pid;
    bpf_seq_write(ctx->meta->seq, &pid, sizeof(pid));
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def attach_mod(skeleton_module):
    return skeleton_module(ATTACH_C, name="attachrep")[0]


@pytest.fixture
def skel(attach_mod, tracefs):
    with attach_mod.attachrep_bpf.open_and_load() as s:
        s.bss.watch_pid = os.getpid()
        yield s


def test_attach_reports_every_failure_and_keeps_nothing(skel):
    with pytest.raises(AttachError) as e:
        skel.attach()
    message = str(e.value)
    assert "could not attach 2 program(s)" in message
    assert "'missing_tracepoint' (SEC(\"tracepoint/syscalls/sys_enter_no_such_call_here\"))" in message
    assert "'missing_category'" in message and "does not exist" in message
    assert set(e.value.failures) == {"missing_tracepoint", "missing_category"}
    assert list(skel.links) == []                      # the one that worked was detached again
    before = skel.bss.raw_hits
    os.getppid()
    assert skel.bss.raw_hits == before


def test_skip_failed_attaches_the_rest_and_tells_the_log_hook(skel):
    heard = []
    previous = set_print(lambda level, message: heard.append((level, message)))
    try:
        skel.attach(skip_failed=True)
    finally:
        set_print(previous)
    assert [name for name, _ in skel.links] == ["counts_syscalls"]
    assert set(skel.attach_failures) == {"missing_tracepoint", "missing_category"}
    assert [level for level, _ in heard] == ["warn"] and "missing_category" in heard[0][1]
    os.getppid()
    assert skel.bss.raw_hits >= 1


def test_autoattach_off_leaves_a_program_alone(skel):
    skel.progs.missing_tracepoint.autoattach = False
    skel.progs.missing_category.autoattach = False
    skel.progs.counts_syscalls.autoattach = False
    skel.attach()                                      # nothing to attach, nothing fails
    assert list(skel.links) == []


def _filters(veth) -> str:
    return subprocess.run(["tc", "filter", "show", "dev", veth.local, "ingress"], capture_output=True,
                          text=True).stdout


def test_links_made_by_programs_are_released_by_close(attach_mod, veth):
    skel = attach_mod.attachrep_bpf.open_and_load()
    try:
        skel.progs.tc_pass.attach_tc(veth.local)
        link = skel.progs.counts_syscalls.attach_raw_tracepoint("sys_enter")
        assert "tc_pass" in _filters(veth)
        link_id = link.id
    finally:
        skel.close()
    assert "tc_pass" not in _filters(veth)             # the filter went with the skeleton
    assert link.closed and link_id not in rt_support.kernel_ids("link")
    # the next run attaches again without EEXIST
    with attach_mod.attachrep_bpf.open_and_load() as again:
        again.progs.tc_pass.attach_tc(veth.local)
        assert "tc_pass" in _filters(veth)
    assert "tc_pass" not in _filters(veth)


def test_iterator_attaches_from_its_section_and_reads(skeleton_module):
    module = skeleton_module(ITER_C, name="threads")[0]
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        skel = module.threads_bpf.open()
        skel.rodata.target_tgid = os.getpid()
        with skel:
            skel.load().attach()
            link = skel.links.thread_ids
            assert isinstance(link, IterLink)
            first, second = link.read(), link.read()   # every read walks the tasks anew
    finally:
        stop.set()
        worker.join()
    tids = set(struct.unpack(f"{len(first) // 4}i", first))
    assert {os.getpid(), worker.native_id} <= tids
    assert tids <= {int(t) for t in os.listdir(f"/proc/{os.getpid()}/task")} | {worker.native_id}
    assert first == second


def test_load_log_level_sends_the_log_to_the_print_hook(attach_mod):
    heard = []
    previous = set_print(lambda level, message: heard.append((level, message)))
    try:
        with attach_mod.attachrep_bpf.open() as quiet:
            quiet.load()
        assert heard == []                                 # no log asked, nothing said
        with attach_mod.attachrep_bpf.open() as logged:
            logged.load(log_level=1)
    finally:
        set_print(previous)
    assert [level for level, _ in heard] == ["debug"]
    assert "processed" in heard[0][1] and "insns" in heard[0][1]   # the verifier's summary line
