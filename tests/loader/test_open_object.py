"""The open phase model against objects compiled by the real clang."""

import pytest

from bpf_build.model import btf as B
from bpf_build.loader import section_defs as S
from bpf_build.model.elf import Object
from bpf_build.errors import OpenError
from bpf_build.model.insn import PSEUDO_CALL
from bpf_build.runtime.uapi import AttachType, ProgLoadFlag, ProgType, attach_type_name, prog_type_name
from bpf_build.loader.open import (
    BPF_F_MMAPABLE,
    BPF_F_RDONLY_PROG,
    default_object_name,
    internal_map_name,
    open_object,
)

HEADER = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
"""

BASIC = HEADER + """
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 128);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, __u32);
    __type(value, __u64);
} counts SEC(".maps");

__u64 hits = 0;
const volatile __u32 filter = 7;
int data_var = 3;
static volatile int static_var = 4;
__hidden int hidden_var = 5;
int custom_var SEC(".data.custom") = 9;

static __noinline int bump(__u32 k)
{
    __u64 one = 1, *v = bpf_map_lookup_elem(&counts, &k);
    if (v)
        __sync_fetch_and_add(v, 1);
    else
        bpf_map_update_elem(&counts, &k, &one, BPF_ANY);
    return static_var + hidden_var;
}

__noinline int twice(int x) { return bump(x) * 2; }

SEC("tp/syscalls/sys_enter_getpid")
int handle(void *ctx)
{
    hits += filter + data_var + custom_var;
    return twice(1) & 0;
}

SEC("?xdp")
int later(struct xdp_md *ctx)
{
    return bump(2) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
"""


@pytest.fixture(scope="module")
def basic(compile_c):
    return open_object(Object.read(compile_c(BASIC, "basic")), "basic_bpf")


def test_programs_types_and_order(basic):
    assert [p.name for p in basic.programs] == ["handle", "later"]
    handle, later = basic.programs
    assert handle.type_name == "TRACEPOINT" and handle.autoload
    assert handle.attach_target == "syscalls/sys_enter_getpid"
    assert later.type_name == "XDP" and later.section == "xdp" and not later.autoload
    assert later.expected_attach_type_name == "XDP"
    assert basic.license == "Dual BSD/GPL"
    assert {p.name for p in basic.subprograms} == {"bump", "twice"}


def test_subprograms_appended_and_calls_fixed(basic):
    handle = basic.program("handle")
    assert handle.subprograms == ["twice", "bump"]  # depth first, in call order
    assert len(handle.insns) == handle.sec_insn_cnt + sum(
        s.sec_insn_cnt for s in basic.subprograms)
    starts = {0}
    for idx, insn in enumerate(handle.insns):
        if insn.is_call and insn.src == PSEUDO_CALL:
            target = idx + insn.imm + 1
            assert 0 < target < len(handle.insns)
            starts.add(target)
    # each function start has func_info, in increasing order
    assert [fi[0] for fi in handle.func_info] == sorted(starts)
    assert handle.line_info and handle.line_info == sorted(handle.line_info, key=lambda li: li.insn_off)
    later = basic.program("later")
    assert later.subprograms == ["bump"]


def test_relocations_point_at_maps(basic):
    names = [m.name for m in basic.maps]
    handle = basic.program("handle")
    kinds = {(r.kind, names[r.map_index]) for r in handle.relocations}
    assert ("map", "counts") in kinds
    assert ("data", "basic_bp.bss") in kinds
    assert ("data", "basic_bp.rodata") in kinds
    assert ("data", ".data.custom") in kinds
    for r in handle.relocations:
        assert handle.insns[r.insn_idx].is_ld_imm64


def test_maps(basic):
    # BTF maps first, then global data in ELF section order
    order = [m.name for m in basic.maps]
    assert order[0] == "counts"
    sections = [m.section_index for m in basic.maps[1:]]
    assert sections == sorted(sections)
    assert set(order[1:]) == {"basic_bp.bss", "basic_bp.data", ".data.custom", "basic_bp.rodata"}
    counts = basic.map("counts")
    assert (counts.type_name, counts.key_size, counts.value_size, counts.max_entries,
            counts.map_flags) == ("HASH", 4, 8, 128, 1)
    assert basic.btf.type(counts.key_type_id).name == "__u32"
    rodata = basic.map("basic_bp.rodata")
    assert rodata.map_flags == BPF_F_RDONLY_PROG | BPF_F_MMAPABLE
    assert rodata.initial_value == (7).to_bytes(4, "little")
    assert rodata.ident == "rodata" and rodata.kind == "rodata"
    bss = basic.map("basic_bp.bss")
    assert bss.initial_value == bytes(8) and bss.ident == "bss"
    custom = basic.map(".data.custom")
    assert custom.ident == "data_custom"
    data = basic.map("basic_bp.data")
    dsec = basic.btf.get(data.value_type_id)
    assert dsec.kind == B.DATASEC and dsec.size == data.value_size
    # clang leaves DATASEC offsets at 0; the open phase fills them from the symbols
    offsets = {basic.btf.type(v.type).name: v.offset for v in dsec.secinfo}
    values = {n: int.from_bytes(data.initial_value[o:o + 4], "little") for n, o in offsets.items()}
    assert values["data_var"] == 3 and values["static_var"] == 4 and values["hidden_var"] == 5
    linkage = {basic.btf.type(v.type).name: basic.btf.type(v.type).linkage for v in dsec.secinfo}
    assert linkage["hidden_var"] == B.VAR_STATIC and linkage["data_var"] == B.VAR_GLOBAL_ALLOCATED


def test_internal_map_names_follow_libbpf():
    assert internal_map_name("basic_bpf", ".bss") == "basic_bp.bss"
    assert internal_map_name("my_object_name", ".rodata") == "my_objec.rodata"
    assert internal_map_name("my_object_name", ".bss") == "my_objec.bss"
    assert internal_map_name("my_object_name", ".kconfig") == "my_obje.kconfig"
    assert internal_map_name("x", ".rodata.abracadabra") == ".rodata.abracad"
    assert internal_map_name("t1-x", ".data") == "t1_x.data"
    assert default_object_name("/a/b/prog.bpf.o") == "prog"


def test_section_table_matching():
    d = S.find_sec_def("tc/ingress")
    assert prog_type_name(d.prog_type) == "SCHED_CLS" and attach_type_name(d.expected_attach_type) == "TCX_INGRESS"
    assert prog_type_name(S.find_sec_def("tc").prog_type) == "SCHED_CLS"
    assert S.find_sec_def("tpx/foo") is None
    assert S.find_sec_def("kprobe/do_sys_open").prog_type == ProgType.KPROBE
    assert S.find_sec_def("kprobe").prog_type == ProgType.KPROBE
    assert S.find_sec_def("kprobex") is None
    assert S.find_sec_def("uprobe.s/bin:f").prog_flags == ProgLoadFlag.SLEEPABLE
    assert S.find_sec_def("xdp.frags").prog_flags == ProgLoadFlag.XDP_HAS_FRAGS
    assert S.find_sec_def("cgroup/sock").expected_attach_type == AttachType.CGROUP_INET_SOCK_CREATE
    assert S.kernel_btf_prefix_kind(AttachType.TRACE_RAW_TP) == ("btf_trace_", B.TYPEDEF)


def test_btf_attach_target(compile_c):
    src = HEADER + """
    SEC("tp_btf/sched_switch") int on_switch(void *ctx) { return 0; }
    SEC("lsm/file_open") int on_open(void *ctx) { return 0; }
    SEC("fentry/do_nanosleep") int on_entry(void *ctx) { return 0; }
    char LICENSE[] SEC("license") = "GPL";
    """
    o = open_object(Object.read(compile_c(src, "btfattach")))
    got = {p.name: p.attach_btf for p in o.programs}
    assert got == {"on_switch": ("btf_trace_sched_switch", B.TYPEDEF),
                   "on_open": ("bpf_lsm_file_open", B.FUNC),
                   "on_entry": ("do_nanosleep", B.FUNC)}


def test_map_in_map_and_prog_array_slots(compile_c):
    src = HEADER + """
    struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2);
                   __type(key, __u32); __type(value, __u32); };
    struct inner in_a SEC(".maps"), in_b SEC(".maps");
    struct {
        __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
        __uint(max_entries, 4);
        __type(key, __u32);
        __array(values, struct inner);
    } outer SEC(".maps") = { .values = { [0] = &in_a, [3] = &in_b } };
    int tail(void *ctx);
    struct {
        __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
        __uint(max_entries, 2);
        __type(key, __u32);
        __array(values, int (void *));
    } jumps SEC(".maps") = { .values = { [1] = (void *)&tail } };
    SEC("xdp") int tail(void *ctx) { return XDP_PASS; }
    SEC("xdp") int entry(void *ctx) { bpf_tail_call(ctx, &jumps, 1); return XDP_DROP; }
    char LICENSE[] SEC("license") = "GPL";
    """
    o = open_object(Object.read(compile_c(src, "slots")))
    outer = o.map("outer")
    assert outer.init_slots == ["in_a", None, None, "in_b"]
    assert outer.inner is not None and outer.inner.name == "outer.inner"
    assert (outer.inner.type_name, outer.inner.max_entries, outer.inner.value_size) == ("ARRAY", 2, 4)
    assert outer.value_size == 4
    assert o.map("jumps").init_slots == [None, "tail"]


def test_externs(compile_c):
    src = HEADER + """
    #include <stdbool.h>
    extern int LINUX_KERNEL_VERSION __kconfig;
    extern bool CONFIG_BPF_SYSCALL __kconfig;
    extern enum libbpf_tristate CONFIG_VETH __kconfig;
    extern int CONFIG_HZ __kconfig __weak;
    extern char CONFIG_MISSING_THING __kconfig __weak;
    extern const int bpf_prog_active __ksym;
    extern const void bpf_rcu_read_lock_typeless __ksym __weak;
    __u64 out[4];
    SEC("raw_tp/sys_enter") int prog(void *ctx)
    {
        out[0] = LINUX_KERNEL_VERSION + CONFIG_BPF_SYSCALL + CONFIG_VETH + CONFIG_HZ + CONFIG_MISSING_THING;
        out[1] = (__u64)&bpf_prog_active;
        out[2] = (__u64)&bpf_rcu_read_lock_typeless;
        return 0;
    }
    char LICENSE[] SEC("license") = "GPL";
    """
    o = open_object(Object.read(compile_c(src, "externs")), "externs")
    kcfg = [e for e in o.externs if e.kind == "kconfig"]
    # libbpf's order: alignment descending, then size, then name
    assert [e.name for e in kcfg] == ["CONFIG_HZ", "CONFIG_VETH", "LINUX_KERNEL_VERSION",
                                      "CONFIG_BPF_SYSCALL", "CONFIG_MISSING_THING"]
    assert [e.offset for e in kcfg] == [0, 4, 8, 12, 13]
    assert {e.name: e.kcfg_type for e in kcfg}["CONFIG_VETH"] == "tristate"
    assert {e.name: e.weak for e in kcfg}["CONFIG_HZ"] is True
    kmap = o.maps[o.kconfig_map]
    assert kmap.name == "externs.kconfig" and kmap.value_size == 14
    assert kmap.map_flags & BPF_F_RDONLY_PROG
    ksyms = {e.name: e for e in o.externs if e.kind == "ksym"}
    assert ksyms["bpf_prog_active"].ksym_type_id != 0
    assert ksyms["bpf_rcu_read_lock_typeless"].typeless and ksyms["bpf_rcu_read_lock_typeless"].weak
    # the kernel takes neither extern VARs nor zero-sized .ksyms: rewritten as 4-byte ints
    sec = o.btf.get(o.btf.find(".ksyms", B.DATASEC))
    assert sec.size == 8 and [v.size for v in sec.secinfo] == [4, 4]
    assert all(o.btf.type(v.type).linkage == B.VAR_GLOBAL_ALLOCATED for v in sec.secinfo)
    prog = o.programs[0]
    assert {r.kind for r in prog.relocations} >= {"data", "ksym"}


@pytest.mark.parametrize("source, reason", [
    (HEADER + 'struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(bogus, 1); } m SEC(".maps"); '
     'char L[] SEC("license") = "GPL";', "unknown field 'bogus'"),
    (HEADER + 'struct { __uint(max_entries, 1); } m SEC(".maps"); char L[] SEC("license") = "GPL";',
     "map type isn't specified"),
    (HEADER + 'SEC("tp/x") static int p(void *c) { return 0; } char L[] SEC("license") = "GPL";',
     "is static"),
])
def test_open_errors(compile_c, source, reason):
    obj = Object.read(compile_c(source, "bad"))
    with pytest.raises(OpenError) as e:
        open_object(obj)
    assert reason in str(e.value) and "bad.bpf.o" in str(e.value)


def test_inspect_lists_the_open_model(corpus_object):
    from bpf_build.loader.inspect import summarize
    text = summarize(Object.read(corpus_object("optional")))
    assert "optional_prog                    SYSCALL section syscall" in text
    assert 'not autoloaded: SEC("?...")' in text
    text = summarize(Object.read(corpus_object("externs")))
    assert "CONFIG_NO_SUCH_OPTION            kconfig bool weak" in text
    assert ".kconfig, global data" in text


@pytest.mark.parametrize("case", ["maps", "externs", "subprogs"])
def test_corrupt_objects_end_in_clean_errors(corpus_object, case):
    """Random byte corruption either still models and generates, or raises one of our errors."""
    from hypothesis import HealthCheck, given, settings, strategies as st

    from bpf_build.errors import BpfBuildError
    from bpf_build.skel.light_c import generate

    original = open(corpus_object(case), "rb").read()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.integers(64, len(original) - 1), st.integers(0, 255)),
                    min_size=1, max_size=4))
    def check(edits):
        data = bytearray(original)
        for at, value in edits:
            data[at] = value
        try:
            generate(Object.read(bytes(data), f"{case}.bpf.o"), "x")
        except BpfBuildError as e:
            assert e.one_line() and "\n" not in e.one_line()

    check()
