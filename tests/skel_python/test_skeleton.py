"""Generated Python skeletons in the kernel: open/load/attach/close, global data round trips, map
types declared in C, typed ring buffer events, error reporting, the CLI."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import subprocess
import sys

import pytest

from bpf_build.runtime import BpfRuntimeError, LoaderError, MapType, num_possible_cpus
from bpf_build.runtime.ringbuf import RingBuffer

pytestmark = pytest.mark.kernel

APP_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event { __u32 pid; __u32 seq; char comm[16]; };
/* clang emits BTF only for types that globals or signatures use: this puts struct event in it */
const struct event *unused_event __attribute__((unused));

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 14); } events SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); } per_cpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 8); __type(key, __u32); __type(value, __u32); } lru SEC(".maps");
struct lpm_key { __u32 prefixlen; __u8 addr[4]; };
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 8); __uint(map_flags, BPF_F_NO_PREALLOC);
         __type(key, struct lpm_key); __type(value, __u32); } routes SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_QUEUE); __uint(max_entries, 8); __type(value, __u32); } fifo SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_STACK); __uint(max_entries, 8); __type(value, __u32); } lifo SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_DEVMAP); __uint(max_entries, 4); __type(key, __u32); __type(value, __u32); } devices SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_CPUMAP); __uint(max_entries, 2); __type(key, __u32); __type(value, struct bpf_cpumap_val); } cpus SEC(".maps");

struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } inner_a SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 2); __type(key, __u32);
         __array(values, struct inner); } outer SEC(".maps") = { .values = { &inner_a } };
struct { __uint(type, BPF_MAP_TYPE_HASH_OF_MAPS); __uint(max_entries, 2); __type(key, __u32);
         __array(values, struct inner); } outer_hash SEC(".maps");

int tail_target(void *ctx);
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 2); __type(key, __u32);
         __array(values, int (void *)); } jump SEC(".maps") = { .values = { [1] = (void *)&tail_target } };

const volatile __u32 target_pid = 0;
const volatile __u32 step = 1;
__u64 seen = 0;
__u32 from_user = 0;
__u32 echoed = 0;
__u32 data_init = 1234;

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
    __u32 pid = bpf_get_current_pid_tgid() >> 32, zero = 0, one = 1, *inner_val;
    __u64 *n, init = 1;
    struct event *e;
    void *inner_map;

    if (pid != target_pid)
        return 0;
    seen += step;
    echoed = from_user;
    n = bpf_map_lookup_elem(&counts, &pid);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        bpf_map_update_elem(&counts, &pid, &init, BPF_ANY);
    n = bpf_map_lookup_elem(&per_cpu, &zero);
    if (n)
        *n += 1;
    inner_map = bpf_map_lookup_elem(&outer, &zero);
    if (inner_map) {
        inner_val = bpf_map_lookup_elem(inner_map, &zero);
        if (inner_val)
            *inner_val += 1;
    }
    e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (e) {
        e->pid = pid;
        e->seq = seen;
        bpf_get_current_comm(e->comm, sizeof(e->comm));
        bpf_ringbuf_submit(e, 0);
    }
    bpf_tail_call(ctx, &jump, one);
    return 0;
}

SEC("tracepoint")  /* no target: reached only through the tail call */
int tail_target(void *ctx)
{
    data_init += 1;
    return 0;
}

SEC("raw_tp/sys_enter")
int raw_counter(void *ctx) { return 0; }

SEC("xdp")
int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }

SEC("?socket")
int optional_filter(struct __sk_buff *skb) { return 0; }

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def app(skeleton_module):
    return skeleton_module(APP_C, name="app")[0]


@pytest.fixture
def skel(app, needs_kernel, tracefs):
    s = app.app_bpf.open()
    s.rodata.target_pid = os.getpid()
    s.rodata.step = 10
    s.load()
    yield s
    s.close()


def test_global_data_round_trips(app, skel):
    assert skel.data.data_init == 1234                  # C initializer, through the loader
    skel.bss.from_user = 0xBEEF                         # Python -> kernel memory via mmap
    skel.attach()
    for _ in range(3):
        os.getppid()
    assert skel.bss.seen == 30                          # rodata step=10 set before load reached the program
    assert skel.bss.echoed == 0xBEEF                    # the program saw Python's write
    assert skel.maps.bss[0].seen == 30                  # same memory, read through the map
    assert skel.data.data_init == 1234 + 3              # tail calls through the PROG_ARRAY slot
    with pytest.raises(AttributeError, match="read-only after load"):
        skel.rodata.step = 1
    assert skel.rodata.step == 10


def test_rodata_before_load_is_plain_memory(app, needs_kernel):
    s = app.app_bpf.open()
    try:
        assert s.rodata.target_pid == 0 and s.data.data_init == 1234
        s.rodata.target_pid = 5
        assert s.rodata.target_pid == 5
    finally:
        s.close()


def test_maps_declared_in_c_are_typed(app, skel):
    skel.attach()
    os.getppid()
    os.getppid()
    m = skel.maps
    assert dict(m.counts.items()) == {os.getpid(): 2}
    assert sum(m.per_cpu[0]) == 2 and len(m.per_cpu[0]) == num_possible_cpus()
    assert m.lru.type == MapType.LRU_HASH
    key = app.lpm_key(prefixlen=16, addr=(ctypes.c_uint8 * 4)(10, 1, 0, 0))
    m.routes[key] = 16
    assert m.routes[app.lpm_key(prefixlen=32, addr=(ctypes.c_uint8 * 4)(10, 1, 2, 3))] == 16
    m.fifo.push(1)
    m.fifo.push(2)
    m.lifo.push(1)
    m.lifo.push(2)
    assert (m.fifo.pop(), m.lifo.pop()) == (1, 2)
    assert m.devices.type == MapType.DEVMAP and m.cpus.type == MapType.CPUMAP
    with m.outer.inner_map(0, key_type=ctypes.c_uint32, value_type=ctypes.c_uint32) as inner:
        assert inner.id == m.inner_a.id and inner[0] == 2  # pre-populated slot, counted by the program
    assert m.outer_hash.type == MapType.HASH_OF_MAPS and len(m.outer_hash) == 0
    assert m.jump[1] == skel.progs.tail_target.id and 0 not in m.jump


def test_typed_ring_buffer_events(app, skel):
    skel.attach()
    with RingBuffer(skel.maps.events, event_type=app.event) as rb:
        for _ in range(4):
            os.getppid()
        events = rb.read(timeout=1.0)
    assert [e.seq for e in events] == [10, 20, 30, 40]
    assert all(e.pid == os.getpid() and e.comm for e in events)


def test_attach_links_what_it_can_and_close_detaches(app, skel):
    skel.attach()
    names = {name for name, _ in skel.links}
    assert names == {"on_getppid", "raw_counter"}  # xdp needs an interface, tail_target has no target
    assert not hasattr(skel.progs, "optional_filter")                 # SEC("?socket"): not loaded
    os.getppid()
    before = skel.bss.seen
    skel.detach()
    os.getppid()
    assert skel.bss.seen == before


def test_close_releases_every_fd(app, needs_kernel, tracefs):
    fds_before = set(os.listdir("/proc/self/fd"))
    with app.app_bpf.open_and_load() as s:
        s.attach()
        assert len(set(os.listdir("/proc/self/fd")) - fds_before) > 10
    assert set(os.listdir("/proc/self/fd")) == fds_before
    assert repr(s).endswith("closed>")
    s.close()  # twice is fine


def test_autoload_and_max_entries(app, needs_kernel):
    s = app.app_bpf.open()
    s.set_autoload("optional_filter", True)
    s.set_autoload("raw_counter", False)
    s.set_max_entries("counts", 128)
    with s:
        s.load()
        assert s.maps.counts.max_entries == 128
        assert hasattr(s.progs, "optional_filter") and not hasattr(s.progs, "raw_counter")
        with pytest.raises(BpfRuntimeError, match="only possible before load"):
            s.set_max_entries("counts", 1)


def test_attach_before_load_is_an_error(app):
    with app.app_bpf.open() as s, pytest.raises(BpfRuntimeError, match="needs load"):
        s.attach()


BROKEN_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); } arr SEC(".maps");
SEC("socket")
int out_of_bounds(struct __sk_buff *skb)
{
    __u32 key = 0, *v = bpf_map_lookup_elem(&arr, &key);
    return v ? v[1] : 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_load_failure_reports_the_program_and_log(skeleton_module, needs_kernel):
    mod = skeleton_module(BROKEN_C, name="broken")[0]
    fds_before = set(os.listdir("/proc/self/fd"))
    s = mod.broken_bpf.open()
    with pytest.raises(LoaderError) as e:
        s.load()
    s.close()
    assert "out_of_bounds" in str(e.value) and "invalid access to map value" in e.value.log
    assert set(os.listdir("/proc/self/fd")) == fds_before


def test_cli_writes_an_importable_skeleton(compile_c, cached_output, tmp_path, needs_kernel):
    obj = compile_c(APP_C, name="app", cflags=("-mcpu=v3",))

    def write_skeleton(out):
        subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "skel", "--lang", "python", obj, "-o", str(out)],
                       check=True)

    # the command runs once (on the host); the booted kernels load what it wrote
    out = cached_output("app_skel.py", open(obj, "rb").read(), write_skeleton)
    spec = importlib.util.spec_from_file_location("app_skel_cli", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with module.app_bpf.open_and_load() as s:
        assert s.data.data_init == 1234
    # The module needs nothing from the build side.
    text = out.read_text()
    assert "from bpf_build.runtime import skeleton as _rt" in text
    assert "bpf_build.model.elf" not in text and "gen_loader" not in text
