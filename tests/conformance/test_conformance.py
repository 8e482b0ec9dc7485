"""Each pattern of the corpora through the three skeleton kinds, in the running kernel.

Python: load + attach + read (activity caused by the test: getpid syscalls from this process).
Light C: the header compiled as C and as C++ with a user program, loaded, attached, read.
C: user code written for bpftool's skeleton API compiled against ours and run; the same code against
`bpftool gen skeleton` (oracle) shows the expectations are bpftool's."""

from __future__ import annotations

import ctypes
import errno
import os
import struct

import pytest

from bpf_build.runtime.errors import BpfRuntimeError
from bpf_build.runtime.uapi import BPF_F_MMAPABLE

from tests.conftest import require_tool

from .conftest import BPF_DIR, CLI, USER_DIR, build_and_run_user, c_skeleton_run, light_run, run_tool

# One BPF program per pattern (bpf/NAME.bpf.c) with its users (user/NAME.c, user/NAME.light.c).
# runtime_sized has no light user: neither bpftool's light skeletons nor ours can set a map's
# value size before load (only max_entries), and its stack map declares none.
PATTERNS = ["static_data", "dunder_names", "long_sections", "rodata_config", "task_iter", "percpu_maps",
            "map_in_map", "bitfields", "events", "runtime_sized", "map_create_fails", "core_fixes",
            "cgroup_filter", "kfunc_task", "compat_buffer", "uprobe_args"]
LIGHT_PATTERNS = [p for p in PATTERNS if p != "runtime_sized"]


def possible_cpus() -> int:
    """Count of /sys/devices/system/cpu/possible ("0-3,8-11")."""
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    total = 0
    for part in text.split(","):
        first, _, last = part.partition("-")
        total += int(last or first) - int(first) + 1
    return total


def getpid_times(n: int) -> None:
    for _ in range(n):
        os.getpid()  # glibc does not cache getpid: one syscall each


def ran_ok(proc) -> None:
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stdout + proc.stderr


# -- C skeleton: user code written for bpftool's header --------------------------------------

@pytest.mark.kernel
@pytest.mark.parametrize("name", PATTERNS)
def test_c_skeleton_runs_code_written_for_bpftool(bpf_object, workdir, kernel, tracefs, name):
    ran_ok(c_skeleton_run(bpf_object, workdir, name, "ours"))


@pytest.mark.oracle
@pytest.mark.kernel
@pytest.mark.parametrize("name", PATTERNS)
def test_same_user_code_runs_against_bpftool_skeleton(bpf_object, workdir, kernel, tracefs, name):
    ran_ok(c_skeleton_run(bpf_object, workdir, name, "bpftool"))


# Patterns whose object loads and attaches as compiled, with the header of the types it shares.
CXX_PATTERNS = {"static_data": None, "dunder_names": "dunder_names.h", "long_sections": None,
                "rodata_config": None, "task_iter": None, "percpu_maps": None, "map_in_map": None,
                "bitfields": "bitfields.h", "events": "events.h", "core_fixes": None, "cgroup_filter": None,
                "compat_buffer": "events.h", "kfunc_task": None}


@pytest.mark.kernel
@pytest.mark.parametrize("who", ["ours", pytest.param("bpftool", marks=pytest.mark.oracle)])
@pytest.mark.parametrize("name", sorted(CXX_PATTERNS))
def test_c_skeleton_from_cxx(bpf_object, workdir, kernel, tracefs, name, who):
    d = workdir / name / f"cxx_{who}"
    d.mkdir(parents=True, exist_ok=True)
    header = d / f"{name}.skel.h"
    if who == "ours":
        run_tool(CLI + ["skel", bpf_object(name), "-o", header])
    else:
        header.write_text(run_tool([require_tool("bpftool"), "gen", "skeleton", bpf_object(name)]).stdout)
    shared = CXX_PATTERNS[name]
    defines = [f'-DSKEL_HEADER="{header.name}"', f"-DSKEL={name}_bpf"] + \
        ([f'-DSHARED_HEADER="{shared}"'] if shared else [])
    ran_ok(build_and_run_user(require_tool("g++"), USER_DIR / "cxx_main.cpp", [d, BPF_DIR], d / "main",
                              [*defines, "-lbpf"]))


# -- light skeleton: C and C++ ------------------------------------------------------------------

@pytest.mark.kernel
@pytest.mark.parametrize("lang", ["c", "c++"])
@pytest.mark.parametrize("name", LIGHT_PATTERNS)
def test_light_skeleton_compiles_loads_and_runs(bpf_object, workdir, kernel, tracefs, name, lang):
    ran_ok(light_run(bpf_object, workdir, name, lang))


# -- Python skeleton ------------------------------------------------------------------------------

@pytest.mark.kernel
def test_python_static_only_sections_load_and_are_read_through_the_map(python_skeleton, kernel, tracefs):
    cls = python_skeleton("static_data")
    with cls.open_and_load() as skel:
        bss, data = skel.maps.bss, skel.maps.data
        # libbpf's rule: no global variable in the section, no BPF_F_MMAPABLE
        assert not bss.flags & BPF_F_MMAPABLE and not data.flags & BPF_F_MMAPABLE
        data.update(0, (0x1234).to_bytes(4, "little"))  # writable through the map
        skel.attach()
        getpid_times(3)
        assert skel.maps.results[0] >= 3
        assert skel.maps.results[1] == 0x1234
        hist = skel.maps.hists[os.getpid()]
        assert sum(hist.slots) >= 3
        raw = bytes(bss.lookup(0))
        assert len(raw) == 40  # struct hist + u64
        assert any(int.from_bytes(raw[i:i + 8], "little") >= 3 for i in range(0, 40, 8))


@pytest.mark.kernel
def test_python_dunder_names_import_load_and_read(python_skeleton, kernel, tracefs):
    cls = python_skeleton("dunder_names")
    with cls.open_and_load() as skel:
        specs = getattr(skel.maps, "__specs")
        spec = specs.value_type()
        spec.arg_cnt = 2
        spec.args[0].reg_off = -8
        spec.args[1].arg_signed = True
        specs[0] = spec
        skel.attach()
        assert getattr(skel.links, "__on_getpid") is not None
        getpid_times(2)
        bss = skel.bss
        assert getattr(bss, "__calls") >= 2
        last_spec, last_node = getattr(bss, "__last_spec"), getattr(bss, "__last_node")
        assert last_spec.arg_cnt == 2 and last_spec.args[1].arg_signed is True
        assert getattr(last_node, "__lo") == 2 and getattr(last_node, "__hi") == 7
        assert getattr(last_node, "__src") == -8
        # `struct __arg_spec` and `struct _arg_spec` stay two types
        shadow = getattr(bss, "_shadow")
        assert ctypes.sizeof(type(shadow)) == 4 and ctypes.sizeof(type(last_spec.args[0])) == 16
        assert shadow.only_one == 0


@pytest.mark.kernel
def test_python_long_custom_section_names_and_string_only_rodata(python_skeleton, kernel, tracefs):
    cls = python_skeleton("long_sections")
    skel = cls.open()
    try:
        assert skel.data_read_mostly.read_mostly_var == 123
        skel.data_read_mostly.read_mostly_var = 456
        skel.load()
        skel.attach()
        getpid_times(2)
        assert skel.bss.getpid_calls >= 2
        assert skel.data_read_mostly.read_mostly_seen == 456
        assert bytes(skel.data_a_rather_long_custom_name)[:1] == b"X"
        assert skel.maps.rodata is not None  # the format strings' map
    finally:
        skel.close()


@pytest.mark.kernel
def test_python_const_volatile_bool_config(python_skeleton, kernel, tracefs):
    cls = python_skeleton("rodata_config")
    skel = cls.open()
    try:
        assert skel.rodata.filter_by_tgid is False
        skel.rodata.filter_by_tgid = True
        skel.rodata.count_twice = True
        skel.rodata.targ_tgid = os.getpid()
        skel.rodata.multiplier = 5
        skel.load()
        skel.attach()
        getpid_times(3)
        assert skel.bss.saw_event is True
        assert skel.bss.matched >= 30 and skel.bss.matched % 10 == 0
        assert skel.rodata.filter_by_tgid is True  # frozen, read back
    finally:
        skel.close()


@pytest.mark.kernel
def test_python_task_iterator(python_skeleton, kernel, tracefs):
    cls = python_skeleton("task_iter")
    skel = cls.open()
    skel.rodata.only_tgid = os.getpid()
    with skel:
        skel.load()
        skel.attach()
        data = skel.links.dump_task.read()
        records = [struct.unpack_from("<ii", data, i) for i in range(0, len(data), 8)]
        assert len(data) % 8 == 0 and (os.getpid(), os.getpid()) in records
        assert all(tgid == os.getpid() for _, tgid in records)
        assert skel.bss.tasks_seen > len(records)


@pytest.mark.kernel
def test_python_per_cpu_maps(python_skeleton, kernel, tracefs):
    cls = python_skeleton("percpu_maps")
    with cls.open_and_load() as skel:
        skel.attach()
        getpid_times(5)
        per_cpu = skel.maps.per_cpu_counters[0]
        assert len(per_cpu) == possible_cpus()  # one value per possible CPU, as the kernel copies
        assert sum(c.calls for c in per_cpu) >= 5
        for cpu, c in enumerate(per_cpu):
            assert c.calls == 0 or (c.marker == 0xc0ffee and c.last_cpu == cpu)
        assert sum(skel.maps.per_cpu_by_tgid[os.getpid()]) >= 5


@pytest.mark.kernel
def test_python_map_in_map(python_skeleton, kernel, tracefs):
    cls = python_skeleton("map_in_map")
    with cls.open_and_load() as skel:
        assert skel.maps.outer_array[1] == skel.maps.inner_b.id  # initial slots are the inner maps
        assert skel.maps.outer_array[0] == skel.maps.inner_a.id
        skel.maps.outer_hash[7] = skel.maps.inner_a.fileno()
        skel.attach()
        getpid_times(3)
        assert skel.maps.inner_b[2] >= 3
        assert skel.maps.inner_a[2] >= 30


@pytest.mark.kernel
def test_python_bitfields(python_skeleton, kernel, tracefs):
    cls = python_skeleton("bitfields")
    skel = cls.open()
    try:
        f = skel.data.current_flags
        assert (f.kind, f.level, f.delta, f.tail, f.after, f.wide) == (5, 17, -3, 2, 0xabcd, 0x123456789a)
        skel.data.current_flags.level = 30
        skel.load()
        skel.attach()
        getpid_times(1)
        seen = skel.bss.seen_flags
        assert (seen.level, seen.delta, seen.rest, seen.after) == (30, -4, 0xfff, 0xabcd)
        from_map = skel.maps.flag_map[0]
        assert (from_map.kind, from_map.delta, from_map.wide) == (5, -4, 0x123456789a)
    finally:
        skel.close()


def _event_fields(data):
    """struct event {u32 pid, seq; char comm[16]; u64 payload} from bytes or a typed record."""
    raw = data if isinstance(data, (bytes, bytearray)) else bytes(data)
    return struct.unpack_from("<II16sQ", raw)


@pytest.mark.kernel
def test_python_ring_buffer_and_perf_buffer_events(python_skeleton, kernel, tracefs):
    from bpf_build.runtime.perfbuf import PerfBuffer
    from bpf_build.runtime.ringbuf import RingBuffer
    cls = python_skeleton("events")
    skel = cls.open()
    skel.rodata.targ_tgid = os.getpid()
    with skel:
        skel.load()
        skel.attach()
        rb = RingBuffer(skel.maps.rb, event_type=bytes)
        pb = PerfBuffer(skel.maps.perf_events, event_type=bytes)
        getpid_times(4)
        ring = [_event_fields(e) for e in rb.read(timeout=1.0)]
        perf = [_event_fields(sample) for _cpu, sample in pb.read(timeout=1.0)]
        pb.close()
        rb.close()
        for events in (ring, perf):
            assert len(events) == 4
            assert all(pid == os.getpid() and payload == 0x1122334455667788 for pid, _, _, payload in events)
        assert sorted(seq for _, seq, _, _ in ring) == [0, 1, 2, 3]
        assert skel.bss.dropped == 0


@pytest.mark.kernel
def test_python_sizes_and_autoload_set_before_load(python_skeleton, kernel, tracefs):
    cls = python_skeleton("runtime_sized")
    skel = cls.open()
    with skel:
        skel.maps.stackmap.value_size = 127 * 8
        skel.maps.stackmap.max_entries = 1024
        skel.maps.sized_later.max_entries = 8
        skel.progs.on_missing.autoload = False  # its tracepoint does not exist
        skel.load()
        skel.attach()
        getpid_times(2)
        assert 2 <= skel.bss.getpid_calls < 1000
        assert skel.maps.sized_later[1] == 1
        assert skel.maps.stackmap.value_size == 127 * 8 and skel.maps.sized_later.max_entries == 8


@pytest.mark.kernel
def test_python_failed_map_creation_names_the_map_and_no_btf_log(python_skeleton, kernel, tracefs):
    cls = python_skeleton("map_create_fails")
    with pytest.raises(BpfRuntimeError) as info:
        cls.open_and_load()
    message = str(info.value)
    assert "refused" in message and "E2BIG" in message, message
    assert getattr(info.value, "errno", None) == errno.E2BIG
    # only the failing step's log: BPF_MAP_CREATE logs nothing, the BTF load's FWD line must not show
    assert "verifier" not in message and "audit_context" not in message, message


def test_struct_ops_python_and_light_skeletons_are_made(bpf_object, workdir):
    """Issue 13 bug 7 asked for one line naming what is missing; since issue 16 both the Python
    skeleton and the light C skeleton load struct_ops maps."""
    import subprocess
    out = workdir / "struct_ops" / "out.py"
    proc = subprocess.run([str(a) for a in CLI + ["skel", "--lang", "python", bpf_object("struct_ops"), "-o", out]],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "_rt.StructOpsSpec(0, 'bpf_dummy_ops', False," in out.read_text()
    header = workdir / "struct_ops" / "out.lskel.h"
    proc = subprocess.run([str(a) for a in CLI + ["skel", "--light", bpf_object("struct_ops"), "-o", header]],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == "", proc.stderr
    text = header.read_text()
    assert '"bpf_dummy_ops", 0,' in text and "bpf_build_struct_ops_prepare(" in text


@pytest.mark.kernel
def test_python_refused_program_is_named_whole(python_skeleton, kernel):
    cls = python_skeleton("shared_prefix")
    with pytest.raises(BpfRuntimeError) as info:
        cls.open_and_load()
    assert "'handle_sched_wakeup_new'" in str(info.value) and "EACCES" in str(info.value)


@pytest.mark.kernel
@pytest.mark.parametrize("lang", ["c", "c++"])
def test_light_refused_program_is_named_whole(bpf_object, workdir, kernel, lang):
    ran = light_run(bpf_object, workdir, "shared_prefix", lang)
    ran_ok(ran)
    headline = ran.stderr.splitlines()[0]
    assert "handle_sched_wakeup_new" in headline, headline


@pytest.mark.kernel
def test_python_core_checks_and_renamed_fields(python_skeleton, kernel):
    cls = python_skeleton("core_fixes")
    skel = cls.open()
    skel.rodata.targ_tgid = os.getpid()
    with skel:
        skel.load()
        skel.attach()
        getpid_times(2)
        bss = skel.bss
        assert (bss.have_iter_type, bss.have_missing_type) == (1, 0)
        assert (bss.have_ringbuf_output, bss.have_missing_helper) == (1, 0)
        assert (bss.state_from_new_field, bss.state_from_old_field) == (1, 0)  # task_struct::__state here
        assert skel.data.running_state == 0  # TASK_RUNNING while in a syscall
        assert bss.tgid_seen == os.getpid()


CGROUP2 = "/sys/fs/cgroup/unified"


@pytest.mark.kernel
def test_python_cgroup_array_filter(python_skeleton, kernel, tracefs, tmp_path):
    if not os.path.isdir(CGROUP2):
        pytest.skip(f"no cgroup v2 hierarchy at {CGROUP2}")
    cls = python_skeleton("cgroup_filter")
    empty = f"{CGROUP2}/conformance-py-{os.getpid()}"
    os.mkdir(empty)
    root_fd, empty_fd = os.open(CGROUP2, os.O_RDONLY), os.open(empty, os.O_RDONLY)
    try:
        skel = cls.open()
        skel.rodata.filter_cg = True
        skel.rodata.targ_tgid = os.getpid()
        with skel:
            skel.load()
            skel.maps.cgroup_map[0] = root_fd
            skel.attach()
            getpid_times(3)
            before = skel.bss.matched
            skel.maps.cgroup_map[0] = empty_fd
            getpid_times(3)  # not in the empty cgroup: filtered out
            assert before >= 3 and skel.bss.matched == before
            # walking the skeleton's maps does not trip over one whose values the kernel keeps
            assert "cgroup_map" in [name for name, _ in skel.maps]
            assert list(skel.maps.cgroup_map.keys()) == [0]
    finally:
        os.close(root_fd)
        os.close(empty_fd)
        os.rmdir(empty)


@pytest.mark.kernel
def test_python_kfunc_calls(python_skeleton, kernel):
    cls = python_skeleton("kfunc_task")
    skel = cls.open()
    skel.rodata.targ_tgid = os.getpid()
    with skel:
        skel.load()
        skel.attach()
        getpid_times(2)
        assert skel.bss.lookups >= 2 and skel.bss.found_tgid == os.getpid()


@pytest.mark.kernel  # vmlinux.h from this kernel's BTF
def test_vmlinux_h_declares_kfuncs_as_bpftool_does(bpf_object, kernel):
    """bpftool >= 7.4 writes `extern ... __weak __ksym;` for every FUNC tagged bpf_kfunc, under
    #ifndef BPF_NO_KFUNC_PROTOTYPES; libbpf-tools' sigsnoop calls bpf_task_from_pid relying on it."""
    obj = bpf_object("kfunc_task", cflags=["-DKFUNCS_FROM_VMLINUX_H"])
    from bpf_build.model.elf import Object
    undefined = {s.name for s in Object.read(obj).symbols if s.name.startswith("bpf_task_")}
    assert {"bpf_task_from_pid", "bpf_task_release"} <= undefined


@pytest.mark.kernel
@pytest.mark.parametrize("mode", ["ring", "perf"])
def test_python_bcc_compat_buffer_modes(python_skeleton, kernel, tracefs, mode):
    """bcc's compat.c before load: ring mode drops the heap map, perf mode retypes `events`."""
    from bpf_build.runtime.uapi import MapType
    from bpf_build.runtime.perfbuf import PerfBuffer
    from bpf_build.runtime.ringbuf import RingBuffer
    cls = python_skeleton("compat_buffer")
    skel = cls.open()
    skel.rodata.targ_tgid = os.getpid()
    skel.rodata.use_ringbuf = mode == "ring"
    if mode == "perf":
        skel.maps.events.type = MapType.PERF_EVENT_ARRAY
        skel.maps.events.key_size = 4
        skel.maps.events.value_size = 4
    else:
        skel.maps.heap.autocreate = False
    with skel:
        skel.load()
        assert skel.maps.events.type == (MapType.PERF_EVENT_ARRAY if mode == "perf" else MapType.RINGBUF)
        assert ("heap" in [n for n, _ in skel.maps]) == (mode == "perf")  # not created: absent
        skel.attach()
        reader = PerfBuffer(skel.maps.events, event_type=bytes) if mode == "perf" else \
            RingBuffer(skel.maps.events, event_type=bytes)
        getpid_times(3)
        records = reader.read(timeout=1.0)
        reader.close()
        samples = [r[1] if isinstance(r, tuple) else r for r in records]
        events = [_event_fields(s) for s in samples]
        assert len(events) == 3 and skel.bss.submitted == 3
        assert all(pid == os.getpid() and payload == (2 if mode == "perf" else 1) for pid, _, _, payload in events)


@pytest.mark.kernel
def test_python_event_types_inferred_from_the_programs(python_skeleton, kernel, tracefs):
    """The ring buffer gets `struct event` from bpf_ringbuf_reserve(&rb, sizeof(*e)), the perf
    buffer from bpf_perf_event_output(..., &copy, sizeof(copy)): typed records without configuration."""
    from bpf_build.runtime.perfbuf import PerfBuffer
    from bpf_build.runtime.ringbuf import RingBuffer
    cls = python_skeleton("events")
    skel = cls.open()
    skel.rodata.targ_tgid = os.getpid()
    with skel:
        skel.load()
        skel.attach()
        rb, pb = RingBuffer(skel.maps.rb), PerfBuffer(skel.maps.perf_events)
        getpid_times(2)
        ring = rb.read(timeout=1.0)
        perf = [sample for _cpu, sample in pb.read(timeout=1.0)]
        rb.close()
        pb.close()
        for records in (ring, perf):
            assert len(records) == 2
            for e in records:
                assert ctypes.sizeof(e) == 32 and e.pid == os.getpid() and e.payload == 0x1122334455667788


@pytest.mark.kernel
def test_python_uprobe_arguments_through_pt_regs(python_skeleton, kernel):
    """PT_REGS_PARM1 and the return value of libc's getenv(), as the corpora's uprobes read them."""
    cls = python_skeleton("uprobe_args")
    libc = ctypes.CDLL("libc.so.6")
    libc.getenv.restype = ctypes.c_char_p
    skel = cls.open()
    skel.rodata.targ_tgid = os.getpid()
    with skel:
        skel.load()
        skel.progs.on_getenv.attach_uprobe("libc.so.6", "getenv", pid=os.getpid())
        skel.progs.on_getenv_return.attach_uprobe("libc.so.6", "getenv", retprobe=True, pid=os.getpid())
        os.environ["CONFORMANCE_UPROBE_KEY"] = "1"
        assert libc.getenv(b"CONFORMANCE_UPROBE_KEY") == b"1"
        assert skel.bss.entries >= 1 and skel.bss.returns >= 1
        assert bytes(skel.bss.seen_name).rstrip(b"\0") == b"CONFORMANCE_UPROBE_KEY"
        assert skel.bss.last_result_nonnull == 1
