"""Generated ctypes types match BTF byte for byte, and values written by a BPF program in the kernel
read back through them field by field (and the other way round)."""

from __future__ import annotations

import ctypes
import enum

import pytest

from bpf_build.model import btf as B
from bpf_build.model.elf import Object
from bpf_build.loader.open import open_object
from bpf_build.skel import default_skeleton_name
from bpf_build.skel.python import generate

TYPES_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

enum color { RED = 1, GREEN = 2, BLUE = -3 };
enum big { HUGE = 0x100000000ULL };

typedef struct { __u16 a; __u8 b; } pair_t;

struct flags {
    __u8 low : 3;
    __s8 neg : 4;
    __u32 wide : 20;
    __u64 tail : 37;
};

struct record {
    __u8 tag;                 /* then 7 bytes of padding */
    __u64 id;
    char name[12];
    __u32 nums[3];
    union {                   /* anonymous union */
        __u32 as_u32;
        __u8 as_bytes[4];
    };
    struct {                  /* anonymous struct with a bitfield */
        __u16 x;
        __u16 y : 5;
    };
    struct flags f;
    pair_t pair;
    enum color color;
    enum big big;
    void *ptr;
    _Bool ok;
    __u32 in;                 /* a Python keyword as a C field name */
    float ratio;
    __s64 delta;
};

struct record out;            /* written by the program */
struct record input;          /* written by Python, copied by the program */
struct record copy;
const volatile struct flags config = { .low = 5, .neg = -2, .wide = 12345, .tail = 99 };
__u32 counter = 42;           /* .data */

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4);
    __type(key, pair_t);
    __type(value, struct record);
} by_pair SEC(".maps");

SEC("syscall")
int fill(void *ctx)
{
    pair_t key = { .a = 7, .b = 9 };

    out.tag = 0xAB;
    out.id = 0x1122334455667788ULL;
    __builtin_memcpy(out.name, "hello bpf", 10);
    out.nums[0] = 1; out.nums[1] = 2; out.nums[2] = 3;
    out.as_u32 = 0x04030201;
    out.x = 500;
    out.y = 17;
    out.f.low = 6;
    out.f.neg = -5;
    out.f.wide = 0xABCDE;
    out.f.tail = 0x1234567890ULL;
    out.pair.a = 65535;
    out.pair.b = 200;
    out.color = BLUE;
    out.big = HUGE;
    out.ok = 1;
    out.in = 77;
    out.ratio = 1.5f;
    out.delta = -123456789;
    copy = input;
    copy.f.tail = config.tail + counter;
    bpf_map_update_elem(&by_pair, &key, &out, BPF_ANY);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def types_skel(skeleton_module):
    return skeleton_module(TYPES_C, name="types")


def _btf_struct(obj_path, name):
    btf = open_object(Object.read(obj_path)).btf
    tid = btf.find(name, B.STRUCT)
    return btf, btf.get(tid)


def test_layout_matches_btf(types_skel):
    mod, _, obj_path = types_skel
    btf, record = _btf_struct(obj_path, "record")
    assert ctypes.sizeof(mod.record) == record.size
    for m in record.members:
        if m.name and not m.bitfield_size:
            assert getattr(mod.record, m.name if m.name != "in" else "in_").offset == m.offset // 8, m.name
    _, flags = _btf_struct(obj_path, "flags")
    assert ctypes.sizeof(mod.flags) == flags.size
    assert ctypes.sizeof(mod.pair_t) == 4  # typedef'd anonymous struct, named after the typedef


def test_enums_are_int_enums(types_skel):
    mod = types_skel[0]
    assert issubclass(mod.color, enum.IntEnum)
    assert (mod.color.RED, mod.color.GREEN, mod.color.BLUE) == (1, 2, -3)
    assert mod.big.HUGE == 0x100000000


def test_values_written_by_the_kernel_read_back_field_by_field(types_skel, needs_kernel):
    mod = types_skel[0]
    with mod.types_bpf.open_and_load() as skel:
        skel.progs.fill.test_run()
        out = skel.bss.out
        assert out.tag == 0xAB and out.id == 0x1122334455667788
        assert out.name == b"hello bpf"
        assert list(out.nums) == [1, 2, 3]
        assert out.as_u32 == 0x04030201 and list(out.as_bytes) == [1, 2, 3, 4]  # anonymous union
        assert out.x == 500 and out.y == 17                                       # anonymous struct + bitfield
        assert (out.f.low, out.f.neg, out.f.wide, out.f.tail) == (6, -5, 0xABCDE, 0x1234567890)
        assert (out.pair.a, out.pair.b) == (65535, 200)
        assert mod.color(out.color) is mod.color.BLUE and out.big == mod.big.HUGE
        assert out.ok is True and out.in_ == 77 and out.ratio == 1.5 and out.delta == -123456789
        # The same struct as a typed map value under a typed struct key.
        key = mod.pair_t(a=7, b=9)
        stored = skel.maps.by_pair[key]
        assert isinstance(stored, mod.record) and bytes(stored) == bytes(out)


def test_values_written_by_python_reach_the_program(types_skel, needs_kernel):
    mod = types_skel[0]
    with mod.types_bpf.open_and_load() as skel:
        assert (skel.rodata.config.low, skel.rodata.config.neg, skel.rodata.config.wide) == (5, -2, 12345)
        skel.bss.input.f.neg = -8       # bitfield writes keep their neighbours
        skel.bss.input.f.wide = 0xFFFFF
        skel.bss.input.y = 31
        skel.bss.input.name = b"py"
        skel.data.counter = 1000
        skel.progs.fill.test_run()
        copy = skel.bss.copy
        assert (copy.f.neg, copy.f.wide, copy.f.low) == (-8, 0xFFFFF, 0)
        assert copy.y == 31 and copy.name == b"py"
        assert copy.f.tail == 99 + 1000  # rodata config + the .data counter Python changed


def test_generation_is_deterministic_and_compiles(types_skel):
    _, text, obj_path = types_skel
    again = generate(Object.read(obj_path), default_skeleton_name(obj_path))
    assert again == text
    compile(text, "types_skel.py", "exec")
    assert "in_: int" in text and "y = _rt.bitfield" in text and "_anonymous_" in text
