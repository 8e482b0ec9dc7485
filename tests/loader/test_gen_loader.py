"""Loader programs generated for the corpus, run in the real kernel by the test runner."""

import os
import re
import struct
import threading
from pathlib import Path

import pytest

from bpf_build.model.elf import Object
from bpf_build.errors import LoaderError, NotSupportedError
from bpf_build.loader.gen import LoaderProgram, describe_loader, generate_loader
from bpf_build.loader.open import open_object
from bpf_build.runtime.uapi import AttachType, MapType, ProgType

from .conftest import ALL_CASES, LOADABLE_CASES, missing_kfunc
from .runner import (LoadFailed, kernel_ids, kernel_version_code, leftover_objects, map_by_ident, map_info,
                     map_lookup, open_fds, prog_info, raw_tracepoint_open, read_globals,
                     read_kconfig, run_loader, s32, prog_test_run, u64, with_global)


def opened_case(corpus_object, case):
    return open_object(Object.read(corpus_object(case)), f"{case}_bpf")


def kallsyms(name: str) -> int:
    with open("/proc/kallsyms") as f:
        for line in f:
            addr, _, sym = line.split()[:3]
            if sym == name:
                return int(addr, 16)
    raise LookupError(name)


def eth_packet(proto: int, size: int = 64) -> bytes:
    return (b"\x02" * 6 + b"\x04" * 6 + struct.pack(">H", proto)).ljust(size, b"\x00")


# -- per-case behaviour ------------------------------------------------------------------------

def check_tracepoint(o, L, r):
    assert prog_info(r.prog_fds["handle_getpid"])["type"] == ProgType.TRACEPOINT


def check_raw_tp(o, L, r):
    ctx = bytearray(struct.pack("QQ", 11, 22))
    prog_test_run(r.prog_fds["on_sys_enter"], ctx)
    g = read_globals(r, o, "bss")
    assert struct.unpack("QQ", g["last_args"]) == (11, 22)
    link = raw_tracepoint_open(b"sys_enter", r.prog_fds["on_sys_enter"])
    try:
        for _ in range(3):
            os.getppid()
    finally:
        os.close(link)
    assert u64(read_globals(r, o, "bss")["syscalls"]) >= 4  # the test run + three syscalls


def check_kprobe(o, L, r):
    assert {prog_info(fd)["type"] for fd in r.prog_fds.values()} == {ProgType.KPROBE}


def check_tracing(o, L, r):
    assert r.prog_fds["on_sys_enter"] > 0 and r.prog_fds["dump_maps"] > 0
    assert r.prog_fds["on_nanosleep"] == 0  # SEC("?...")
    link = raw_tracepoint_open(None, r.prog_fds["on_sys_enter"])
    try:
        for _ in range(3):
            os.getppid()
    finally:
        os.close(link)
    assert u64(read_globals(r, o, "bss")["enters"]) >= 3


def check_xdp(o, L, r):
    fd = r.prog_fds["xdp_filter"]
    assert prog_test_run(fd, data=eth_packet(0x86DD))[0] == 1  # XDP_DROP: drop_proto set at load
    assert prog_test_run(fd, data=eth_packet(0x0800))[0] == 2  # XDP_PASS
    assert u64(read_globals(r, o, "bss")["bytes_seen"]) == 128


def check_tc(o, L, r):
    ret, out = prog_test_run(r.prog_fds["tc_rewrite"], data=eth_packet(0x0800))
    assert ret == 0 and out[0] == 0xAA
    assert prog_test_run(r.prog_fds["tcx_count"], data=eth_packet(0x0800, 200))[0] == 2  # TC_ACT_SHOT
    assert {p.name: p.expected_attach_type for p in L.progs}["tcx_count"] == AttachType.TCX_INGRESS


def check_socket(o, L, r):
    fd = r.prog_fds["snap"]
    assert prog_test_run(fd, data=eth_packet(0x0800, 100))[0] == 64
    assert prog_test_run(fd, data=eth_packet(0x0800, 40))[0] == 40 - 14  # skb->len excludes Ethernet


def check_syscall(o, L, r):
    ctx = bytearray(struct.pack("QQQ", 2, 3, 0))
    assert prog_test_run(r.prog_fds["add"], ctx)[0] == 7
    assert struct.unpack("QQQ", ctx)[2] == 5
    assert u64(read_globals(r, o, "bss")["calls"]) == 1


def check_subprogs(o, L, r):
    prog_test_run(r.prog_fds["first"], bytearray(8))
    prog_test_run(r.prog_fds["second"], bytearray(8))
    assert struct.unpack("4Q", read_globals(r, o, "bss")["results"]) == (25, 15, 45, 84)


def check_globals(o, L, r):
    prog_test_run(r.prog_fds["copy_all"], bytearray(8))
    g = read_globals(r, o, "bss")
    assert s32(g["seen_counter"]) == 101  # .data set to 100 by the runner, incremented
    assert s32(g["seen_limit"]) == 1000 and u64(g["total"]) == 1000
    assert struct.unpack("ii", g["seen_origin"]) == (-1, 2)
    assert s32(g["seen_custom"]) == 11 and s32(g["seen_custom_ro"]) == 22
    assert s32(g["seen_static"]) == 33 and s32(g["seen_hidden"]) == 44
    assert g["seen_greeting"].rstrip(b"\0") == b"hi there"
    assert g["seen_literal"].rstrip(b"\0") == b"literal"
    assert s32(read_globals(r, o, "data")["counter"]) == 101


def check_tailcall(o, L, r):
    assert prog_test_run(r.prog_fds["xdp_entry"], data=eth_packet(0x0800))[0] == 3  # XDP_TX via slot 1
    assert u64(read_globals(r, o, "bss")["tail_calls"]) == 1


def check_maps(o, L, r):
    assert prog_test_run(r.prog_fds["exercise"], data=eth_packet(0x0800))[0] == 2
    res = struct.unpack("8Q", read_globals(r, o, "bss")["results"])
    assert res[:6] == (100, 100, 0, 1, 1, 1)
    # outer_array slot 2 holds inner_b: the program wrote through it
    assert map_lookup(r.map_fds["inner_b"], bytes(4), 4) == struct.pack("I", 77)
    info = {n: map_info(fd) for n, fd in r.map_fds.items()}
    assert info["events"]["type"] == MapType.RINGBUF and info["events"]["max_entries"] == 4096
    assert info["bloom"]["type"] == MapType.BLOOM_FILTER
    assert info["routes"]["map_flags"] == 1  # BPF_F_NO_PREALLOC


def check_core(o, L, r):
    prog_test_run(r.prog_fds["read_task"], bytearray(8))
    g = {k: u64(v) for k, v in read_globals(r, o, "bss").items()}
    assert g["seen_tgid"] == os.getpid()
    assert g["seen_pid"] == threading.get_native_id()
    assert g["seen_ppid"] == os.getppid()
    assert g["has_missing"] == 0
    assert g["task_size"] > 1000  # the kernel's struct task_struct, not our 16-byte one
    assert g["ringbuf_value"] == MapType.RINGBUF


def check_externs(o, L, r):
    prog_test_run(r.prog_fds["read_externs"], bytearray(8))
    g = {k: u64(v) for k, v in read_globals(r, o, "bss").items()}
    config = read_kconfig()
    assert g["kernel_version"] == kernel_version_code()
    assert g["bpf_syscall"] == (config.get("CONFIG_BPF_SYSCALL") == "y")
    assert g["veth"] == {"y": 1, "m": 2}.get(config.get("CONFIG_VETH"), 0)
    assert g["hz"] == int(config["CONFIG_HZ"])
    assert g["no_option"] == 0 and g["no_number"] == 0
    assert g["iter_new_addr"] == kallsyms("bpf_iter_num_new")
    assert g["getpid_addr"] == kallsyms("__x64_sys_getpid")
    assert g["missing_var_addr"] == 0 and g["missing_func_addr"] == 0
    assert g["iter_sum"] == 0 + 1 + 2 + 3 + 4
    assert g["no_kfunc"] == 1


def check_linked(o, L, r):
    prog_test_run(r.prog_fds["entry_a"], bytearray(8))
    prog_test_run(r.prog_fds["entry_b"], bytearray(8))
    fd = r.map_fds["shared_counts"]
    assert u64(map_lookup(fd, struct.pack("I", 0), 8)) == 1 * 10 + 5
    assert u64(map_lookup(fd, struct.pack("I", 1), 8)) == 2 + 10


def check_optional(o, L, r):
    assert r.prog_fds["optional_prog"] == 0
    prog_test_run(r.prog_fds["always"], bytearray(8))


CHECKS = {name[len("check_"):]: fn for name, fn in globals().items() if name.startswith("check_")}


def run_options(o, case):
    if case in ("raw_tp", "tracepoint", "tracing"):
        return {"initial_values": {map_by_ident(o, "rodata").name:
                                   with_global(o, "rodata", target_pid=struct.pack("I", os.getpid()))}}
    if case == "xdp":
        return {"initial_values": {map_by_ident(o, "rodata").name:
                                   with_global(o, "rodata", drop_proto=struct.pack("H", 0x86DD))}}
    if case == "globals":
        return {"initial_values": {map_by_ident(o, "data").name:
                                   with_global(o, "data", counter=struct.pack("i", 100))}}
    return {}


@pytest.mark.kernel
@pytest.mark.parametrize("case", LOADABLE_CASES)
def test_corpus_loads_and_runs(corpus_object, kernel, case):
    o = opened_case(corpus_object, case)
    L = generate_loader(o)
    missing = missing_kfunc(case)
    if missing:
        with pytest.raises(LoadFailed, match=f'find kernel BTF id of FUNC "{missing}"'):
            run_loader(L, **run_options(o, case))
        return
    with run_loader(L, **run_options(o, case)) as loaded:
        for m in L.maps:
            info = map_info(loaded.map_fds[m.name])
            assert (info["name"], info["type"], info["key_size"], info["value_size"]) == \
                (m.name[:15], m.type, m.key_size, m.value_size)
        for p in L.progs:
            if p.autoload:
                assert prog_info(loaded.prog_fds[p.name])["name"] == p.name[:15]
        CHECKS[case](o, L, loaded)


@pytest.mark.kernel
def test_optional_program_loads_on_request(corpus_object, kernel):
    o = opened_case(corpus_object, "optional")
    L = generate_loader(o)
    assert [p.autoload for p in L.progs] == [True, False]
    with run_loader(L, load={"optional_prog": 1, "always": 2}) as r:
        assert r.prog_fds["always"] == 0
        prog_test_run(r.prog_fds["optional_prog"], bytearray(8))
        assert u64(read_globals(r, o, "bss")["ran_optional"]) == 1


@pytest.mark.kernel
def test_kernel_refusal_is_reported_without_the_btf_dump(corpus_object, kernel):
    """fentry gets EPERM here before verification: the retried log must not be BTF's dump."""
    o = opened_case(corpus_object, "tracing")
    L = generate_loader(o)
    assert [op.text for op in L.ops if op.kind == "find_btf_id"][0].startswith(
        'find kernel BTF id of TYPEDEF "btf_trace_sys_enter"')
    try:
        loaded = run_loader(L, load={"on_nanosleep": 1})
    except LoadFailed as e:
        assert e.op.kind == "load_prog" and '"on_nanosleep"' in e.op.text
        assert "DATASEC" not in e.log  # no BTF dump in the log
    else:  # a kernel that allows fentry
        loaded.close()


@pytest.mark.kernel
def test_kconfig_comes_from_the_loading_machine(corpus_object, kernel):
    """bpftool freezes the build host's kconfig into the skeleton; ours leaves zeros in the blob
    and the runner fills in the values of whichever machine runs the loader."""
    o = opened_case(corpus_object, "externs")
    L = generate_loader(o)
    missing = missing_kfunc("externs")
    if missing:  # kconfig on such kernels: tests/kernels/test_attach_kinds.py
        with pytest.raises(LoadFailed, match=f'"{missing}"'):
            run_loader(L, kconfig=read_kconfig())
        return
    kmap = L.maps[L.kconfig_map]
    assert kmap.initial_value == bytes(kmap.value_size)
    hz = next(v for v in L.kconfig if v.name == "CONFIG_HZ")
    other_machine = dict(read_kconfig(), CONFIG_HZ="1000", CONFIG_VETH="m", CONFIG_NO_SUCH_NUMBER="7")
    with run_loader(L, kconfig=other_machine) as r:
        prog_test_run(r.prog_fds["read_externs"], bytearray(8))
        g = {k: u64(v) for k, v in read_globals(r, o, "bss").items()}
        assert (g["hz"], g["veth"], g["no_number"]) == (1000, 2, 7)
    assert hz.kcfg_type == "int" and hz.size == 4


@pytest.mark.kernel
def test_failed_load_reports_verifier_log_and_leaves_nothing(corpus_object, kernel):
    L = generate_loader(opened_case(corpus_object, "rejected"))
    before, before_fds = kernel_ids(), open_fds()
    with pytest.raises(LoadFailed) as e:
        run_loader(L)
    assert e.value.op.kind == "load_prog" and '"out_of_bounds"' in e.value.op.text
    assert e.value.errno == 13  # EACCES from the verifier
    assert "invalid access to map value" in e.value.log
    assert open_fds() == before_fds
    names = [m.name for m in L.maps] + [p.name for p in L.progs] + ["__loader.map", "__loader.prog"]
    assert leftover_objects(before, names) == []


@pytest.mark.kernel
def test_failure_in_the_middle_closes_earlier_maps(corpus_object, kernel):
    """A map that cannot be created after others were: everything created so far is closed."""
    o = opened_case(corpus_object, "maps")
    L = generate_loader(o)
    before, before_fds = kernel_ids(), open_fds()
    with pytest.raises(LoadFailed) as e:
        run_loader(L, max_entries={"lru": 0xFFFFFFFF})
    assert e.value.op.kind == "create_map" and '"lru"' in e.value.op.text
    assert e.value.step > 5
    assert open_fds() == before_fds
    assert leftover_objects(before, [m.name for m in L.maps] + ["__loader.map"]) == []


def test_no_fixed_map_or_program_limits(compile_c, kernel):
    """libbpf's gen_loader stops at 64 maps and 32 programs; ours has no such limits."""
    maps = "".join(
        f"struct {{ __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32);"
        f" __type(value, __u64); }} m{i} SEC(\".maps\");\n" for i in range(70))
    progs = "".join(
        f"SEC(\"syscall\") int p{i}(void *c) {{ __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&m{i}, &k);"
        f" if (v) *v += {i}; return {i}; }}\n" for i in range(40))
    src = "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n" + maps + progs + \
        'char LICENSE[] SEC("license") = "GPL";\n'
    o = open_object(Object.read(compile_c(src, "many")))
    L = generate_loader(o)
    assert len(L.maps) == 70 and len(L.progs) == 40
    with run_loader(L) as r:
        assert all(fd > 0 for fd in r.map_fds.values()) and all(fd > 0 for fd in r.prog_fds.values())
        assert prog_test_run(r.prog_fds["p39"], bytearray(8))[0] == 39
        assert u64(map_lookup(r.map_fds["m39"], bytes(4), 8)) == 39


@pytest.mark.parametrize("case", ALL_CASES)
def test_generation_is_deterministic_and_serialises(corpus_object, case):
    a = generate_loader(opened_case(corpus_object, case))
    b = generate_loader(opened_case(corpus_object, case))
    assert a.to_bytes() == b.to_bytes()
    again = LoaderProgram.from_bytes(a.to_bytes())
    assert again == a and again.insns == a.insns and again.blob == a.blob
    assert again.maps == a.maps and again.progs == a.progs and again.kconfig == a.kconfig


@pytest.mark.parametrize("case", ALL_CASES)
def test_reader_sees_the_operations_recorded(corpus_object, case):
    """Following the instructions finds the same bpf() calls the generator recorded."""
    L = generate_loader(opened_case(corpus_object, case))

    def strip(t):
        return re.sub(r" \((inner map|attach target|ksym|kfunc)[^)]*\)$", "", t)

    def kernel_names(t):
        # the blob holds the kernel's 15-byte program names; the recorded steps name programs whole
        return re.sub(r'^load prog "([^"]*)"', lambda m: f'load prog "{m.group(1)[:15]}"', t)

    assert describe_loader(L.insns, L.blob) == [kernel_names(strip(op.text)) for op in L.ops]


def test_serialised_garbage_is_rejected():
    with pytest.raises(LoaderError, match="bad magic"):
        LoaderProgram.from_bytes(b"X" * 64, "x.bin")
    with pytest.raises(LoaderError, match="too short"):
        LoaderProgram.from_bytes(b"BPFBLDR1", "x.bin")


def test_unsupported_features_are_named(compile_c):
    struct_ops = """
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct tcp_congestion_ops { void (*init)(void *sk); char name[16]; };
    SEC("struct_ops/my_init") void my_init(void *sk) {}
    SEC(".struct_ops") struct tcp_congestion_ops my_ops = { .init = (void *)my_init, .name = "x" };
    char LICENSE[] SEC("license") = "GPL";
    """
    o = open_object(Object.read(compile_c(struct_ops, "stops")))
    # loaded by runners that lay out the kernel's value (the Python runtime), not by the container's
    with pytest.raises(NotSupportedError, match="struct_ops maps \\('my_ops'\\) are not supported by the BPFBLDR1"):
        generate_loader(o).to_bytes()
    arena = """
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct { __uint(type, 33 /* ARENA: newer than these UAPI headers */); __uint(map_flags, 1 << 10);
             __uint(max_entries, 1); } arena SEC(".maps");
    SEC("syscall") int p(void *c) { return 0; }
    char LICENSE[] SEC("license") = "GPL";
    """
    o = open_object(Object.read(compile_c(arena, "arena")))
    # loaded by runners that reserve and map the arena (the Python runtime), not by the container's
    with pytest.raises(NotSupportedError, match="arena maps \\('arena'\\) are not supported by the BPFBLDR1"):
        generate_loader(o).to_bytes()


def test_big_endian_object_gives_a_big_endian_loader(compile_c):
    """Like libbpf's swapped-endian support: the loader, its attrs and the program's instructions
    are in the target's byte order, whatever the host's."""
    src = (Path(__file__).resolve().parent.parent / "corpus" / "globals.bpf.c").read_text()
    little = generate_loader(open_object(Object.read(compile_c(src, "globals", target="bpfel")), "g"))
    big = generate_loader(open_object(Object.read(compile_c(src, "globals", target="bpfeb")), "g"))
    assert big.byteorder == "big"
    assert describe_loader(big.insns, big.blob, "big") == describe_loader(little.insns, little.blob)
    assert big.insns_bytes() != little.insns_bytes() and len(big.blob) == len(little.blob)
    again = LoaderProgram.from_bytes(big.to_bytes())
    assert again.byteorder == "big" and again.insns == big.insns
