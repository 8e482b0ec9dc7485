"""C names that are awkward in Python (issue 13): names starting with ``__`` (mangled inside class
bodies), Python keywords, enum members Python's enum refuses, nested anonymous types of ``__``
structs, custom data sections with long names, sections holding no variables, struct_ops."""

from __future__ import annotations

import ctypes
import os

import pytest

from bpf_build.model.elf import Object
from bpf_build.skel.light_c import generate as generate_light
from bpf_build.skel.python import generate

# The shapes of usdt.bpf.h and of vmlinux's __call_single_node, with names that start with "__".
MANGLED_C = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    enum __arg_kind { __ARG_CONST, __ARG_REG, _ARG_SUNDER_, mro, None };

    struct __bpf_usdt_arg_spec {
        __u64 val_off;
        enum __arg_kind arg_type;
        short reg_off;
        unsigned char __arg_signed : 1;
        unsigned char arg_bitshift : 7;
    };

    struct __call_single_node {
        struct { void *next; } llist;
        union { unsigned int u_flags; int a_flags; };
        __u16 src, dst;
    };

    struct __bpf_usdt_spec {
        struct __bpf_usdt_arg_spec args[3];
        __u64 usdt_cookie;
        short arg_cnt;
        struct __call_single_node node;
    };

    struct {
        __uint(type, BPF_MAP_TYPE_ARRAY);
        __uint(max_entries, 4);
        __type(key, __u32);
        __type(value, struct __bpf_usdt_spec);
    } __bpf_usdt_specs SEC(".maps");

    /* types named like what the generated module calls while it is imported */
    struct bytes { int n; } sizes;
    struct setattr { int n; } setters;

    int __hidden_total;
    int pass;
    const volatile int lambda = 3;
    int read_mostly_var SEC(".data.read_mostly") = 5;

    SEC("xdp")
    int __count(struct xdp_md *ctx)
    {
        __u32 key = 0;
        struct __bpf_usdt_spec *spec = bpf_map_lookup_elem(&__bpf_usdt_specs, &key);

        if (spec) {
            spec->arg_cnt++;
            spec->args[1].__arg_signed = 1;
            spec->node.u_flags = 7;
        }
        __hidden_total += lambda + sizes.n + setters.n;
        pass++;
        read_mostly_var++;
        return XDP_PASS;
    }

    char LICENSE[] SEC("license") = "GPL";
"""

# Only a string for bpf_printk in .rodata (a static variable): no variable for the skeleton.
PRINTK_C = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    int calls;

    SEC("xdp")
    int say(struct xdp_md *ctx)
    {
        bpf_printk("packet %d", calls);
        calls++;
        return XDP_PASS;
    }

    char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def mangled(skeleton_module):
    return skeleton_module(MANGLED_C, name="mangled")


def test_double_underscore_types_import_and_keep_their_fields(mangled):
    mod, text, _ = mangled
    spec, arg, node = mod._bpf_usdt_spec, mod._bpf_usdt_arg_spec, mod._call_single_node
    fields = dict(spec._fields_)
    assert fields["args"] is arg * 3 and fields["node"] is node
    value = spec()
    value.node.u_flags = 0xFFFFFFFF                 # nested anonymous union, through _anonymous_
    assert value.node.a_flags == -1
    setattr(value.args[1], "__arg_signed", 1)       # a bitfield named __x, set after the class
    value.args[1].arg_bitshift = 5
    assert getattr(value.args[1], "__arg_signed") == 1 and value.args[1].arg_bitshift == 5
    assert bytes(value.args[1])[14] == 1 | 5 << 1
    assert "class __" not in text and "\n    __" not in text.split("_loader_ =")[0]


def test_types_named_like_builtins_the_module_uses(mangled):
    mod = mangled[0]
    assert mod.bytes_.__name__ == "bytes_" and mod.setattr_.__name__ == "setattr_"
    assert "bytes" not in vars(mod) and "setattr" not in vars(mod)   # not shadowed


def test_enum_members_python_would_refuse_or_mangle(mangled):
    kind = mangled[0]._arg_kind
    assert {m.name: m.value for m in kind} == {"__ARG_CONST": 0, "__ARG_REG": 1, "_ARG_SUNDER__": 2,
                                               "mro_": 3, "None_": 4}


def test_custom_section_with_a_long_name_has_its_variables(mangled):
    skel_class = mangled[0].mangled_bpf
    assert skel_class._section_types_["data_read_mostly"].read_mostly_var is not None
    skel = skel_class.open()
    try:
        assert skel.data_read_mostly.read_mostly_var == 5
        assert getattr(skel.bss, "__hidden_total") == 0 and skel.bss.pass_ == 0
        assert skel.rodata.lambda_ == 3
    finally:
        skel.close()


@pytest.mark.kernel
def test_double_underscore_and_keyword_names_load_and_run(mangled, needs_kernel):
    skel = mangled[0].mangled_bpf.open()
    try:
        skel.rodata.lambda_ = 4
        skel.data_read_mostly.read_mostly_var = 123
        skel.load()
        run = skel.progs.__count.test_run(bytes(64))
        assert run.retval == 2                       # XDP_PASS
        assert getattr(skel.bss, "__hidden_total") == 4 and skel.bss.pass_ == 1
        assert skel.data_read_mostly.read_mostly_var == 124
        value = skel.maps.__bpf_usdt_specs[0]
        assert value.arg_cnt == 1 and value.node.u_flags == 7
        assert getattr(value.args[1], "__arg_signed") == 1
    finally:
        skel.close()


def test_rodata_without_variables_still_has_its_member(skeleton_module):
    mod, text, _ = skeleton_module(PRINTK_C, name="printk")
    assert "rodata" in mod.printk_bpf._section_types_
    skel = mod.printk_bpf.open()
    try:
        assert ctypes.sizeof(skel.rodata) > 0       # the format string, not exposed as a variable
    finally:
        skel.close()


@pytest.mark.kernel
def test_rodata_without_variables_loads(skeleton_module, needs_kernel):
    mod = skeleton_module(PRINTK_C, name="printk")[0]
    with mod.printk_bpf.open_and_load() as skel:
        assert skel.progs.say.test_run(bytes(64)).retval == 2
        assert skel.bss.calls == 1
        assert bytes(skel.rodata).startswith(b"packet %d")


STRUCT_OPS_C = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    struct sock;
    struct tcp_congestion_ops {
        void (*init)(struct sock *sk);
        char name[16];
    };

    SEC("struct_ops/my_init")
    void my_init(struct sock *sk) { }

    SEC(".struct_ops")
    struct tcp_congestion_ops my_ops = { .init = (void *)my_init, .name = "bpf_mine" };

    char LICENSE[] SEC("license") = "GPL";
"""


def test_struct_ops_render_in_python_and_light_skeletons(compile_c):
    path = compile_c(STRUCT_OPS_C, name="ops")
    text = generate(Object.read(path), "ops_bpf")
    assert "_rt.StructOpsSpec(0, 'tcp_congestion_ops', False," in text
    assert "_rt.StructOpsMemberSpec('init', 0, 8, 0)" in text and "_rt.StructOpsMemberSpec('name', 8, 16, -1)" in text
    light = generate_light(Object.read(path), "ops_bpf")
    assert '{ "my_ops", "tcp_congestion_ops", 0,' in light and \
        '{ "name", 8, 16, BPF_BUILD_STRUCT_OPS_DATA, BPF_BUILD_STRUCT_OPS_DATA },' in light
    assert "struct ops_bpf__my_ops__tcp_congestion_ops {" in light and "\t\t\tchar name[16];\n" in light


def test_skeleton_module_names_its_object_file(mangled):
    mod, _, obj_path = mangled
    assert os.path.basename(obj_path) in mod.__doc__
