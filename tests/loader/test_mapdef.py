"""model/mapdef.py: BTF map definitions as clang writes them, read the way libbpf reads them."""

import dataclasses

import pytest

from bpf_build.loader.open import OpenedMap, open_object
from bpf_build.model import btf as B
from bpf_build.model.elf import Object
from bpf_build.model.mapdef import (
    MapDef,
    MapDefError,
    map_def_of_var,
    parse_map_def,
)
from bpf_build.runtime.uapi import MapType

HEADER = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#define __ulong(name, val) enum { ___ulong_##name = val } name
char LICENSE[] SEC("license") = "GPL";
"""

MAPS = HEADER + """
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 128);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __uint(key_size, 4);
    __type(key, __u32);
    __type(value, __u64);
    __uint(pinning, LIBBPF_PIN_BY_NAME);
} counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
    __uint(max_entries, 64);
    __uint(value_size, 8);
    __ulong(map_extra, 0x100000003ULL);
} bloom SEC(".maps");

struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); };
struct inner slot0 SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 2);
    __type(key, int);
    __array(values, struct inner);
} outer SEC(".maps") = { .values = { &slot0 } };

SEC("tp/syscalls/sys_enter_getpid") int tail(void *ctx) { return 0; }
struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 1);
    __type(key, int);
    __array(values, int (void *));
} jumps SEC(".maps") = { .values = { &tail } };
"""


def definitions(path) -> dict:
    """{map name: MapDef} of every variable in .maps."""
    btf = Object.read(path).btf
    sec = btf.type(btf.find(".maps", B.DATASEC))
    return {btf.type(v.type).name: map_def_of_var(btf, v.type, btf.type(v.type).name) for v in sec.secinfo}


def test_attributes(compile_c):
    defs = definitions(compile_c(MAPS, "mapdefs"))
    counts = defs["counts"]
    assert (counts.type, counts.max_entries, counts.map_flags) == (MapType.HASH, 128, 1)
    assert (counts.key_size, counts.value_size, counts.pinning) == (4, 8, 1)
    assert counts.key_type_id and counts.value_type_id and counts.inner is None
    assert counts.values_offset is None
    bloom = defs["bloom"]
    assert bloom.map_extra == 0x100000003 and bloom.key_type_id == 0 and bloom.value_size == 8


def test_values(compile_c):
    defs = definitions(compile_c(MAPS, "mapdefs"))
    outer = defs["outer"]
    assert outer.value_size == 4 and outer.values_offset == 24
    assert outer.inner == MapDef("outer.inner", type=MapType.ARRAY, key_size=4, key_type_id=outer.inner.key_type_id,
                                 value_size=4, value_type_id=outer.inner.value_type_id, max_entries=1)
    jumps = defs["jumps"]
    assert jumps.inner is None and jumps.value_size == 4 and jumps.values_offset == 24


def test_the_open_phase_keeps_each_definition_as_parsed(compile_c):
    """OpenedMap is a MapDef: a BTF map's definition reaches the loader and skeletons field for
    field (inner map included), and maps still compare by identity, not by value."""
    path = compile_c(MAPS, "mapdefs")
    defs = definitions(path)
    opened = open_object(Object.read(path))
    for name, d in defs.items():
        m = opened.map(name)
        for f in dataclasses.fields(MapDef):
            if f.name != "inner":
                assert getattr(m, f.name) == getattr(d, f.name), (name, f.name)
        assert (m.inner is None) == (d.inner is None)
        assert m == m and m != dataclasses.replace(m) and len({m, m}) == 1
    inner = opened.map("outer").inner
    assert isinstance(inner, OpenedMap) and inner.name == "outer.inner" and inner.key_size == 4


def test_fields_in_the_order_the_linker_compares_them():
    names = [f.name for f in dataclasses.fields(MapDef)]
    assert names[:11] == ["name", "type", "key_size", "key_type_id", "value_size", "value_type_id",
                          "max_entries", "map_flags", "numa_node", "pinning", "inner"]



@pytest.mark.parametrize("body, problem", [
    ("__uint(type, BPF_MAP_TYPE_ARRAY); __uint(colour, 1);", "map 'bad': unknown field 'colour'"),
    ("__uint(max_entries, 1);", "map 'bad': map type isn't specified"),
    ("__uint(type, BPF_MAP_TYPE_HASH); __uint(key_size, 8); __type(key, int);",
     "map 'bad': conflicting key size 8 != 4"),
    ("__uint(type, BPF_MAP_TYPE_HASH); int key;", "map 'bad': key must be declared as a pointer"),
    ("__uint(type, BPF_MAP_TYPE_HASH); __type(max_entries, int);",
     "map 'bad': attribute 'max_entries' must be __uint"),
    ("__uint(type, BPF_MAP_TYPE_HASH); __array(values, struct inner);",
     "map 'bad': 'values' needs a map-in-map or PROG_ARRAY type"),
    ("__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS); __array(values, struct pinned);",
     "map 'bad.inner': an inner map definition cannot be pinned"),
])
def test_refusals_name_the_map(compile_c, body, problem):
    source = HEADER + """
    struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, int); __type(value, int); };
    struct pinned { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(pinning, LIBBPF_PIN_BY_NAME); };
    struct { %s } bad SEC(".maps");
    """ % body
    btf = Object.read(compile_c(source, "badmap")).btf
    var = btf.find("bad", B.VAR)
    with pytest.raises(MapDefError) as e:
        map_def_of_var(btf, var, "bad")
    assert e.value.reason.startswith(problem) and str(e.value) == e.value.reason
    assert e.value.map_name == problem.split("'")[1]


def test_a_definition_must_be_a_struct():
    btf = B.Btf()
    int_id = btf.add(B.BtfType(B.INT, "int", size=4, int_bits=32, int_encoding=B.INT_SIGNED))
    var_id = btf.add(B.BtfType(B.VAR, "notamap", type=int_id, linkage=B.VAR_GLOBAL_ALLOCATED))
    with pytest.raises(MapDefError, match="map 'notamap': definition is not a struct"):
        map_def_of_var(btf, var_id, "notamap")
    with pytest.raises(MapDefError, match="map 'x': definition is not a struct"):
        parse_map_def(btf, int_id, "x")
    with pytest.raises(MapDefError, match=r"map 'x': BTF type \[1\] is not a variable"):
        map_def_of_var(btf, int_id, "x")
