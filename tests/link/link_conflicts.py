"""Pairs of BPF C units that libbpf's linker refuses to combine, one per conflict class, with the
message (a regular expression) bpf-link must report: the symbol or section, the other file and
what differs. The prelude of link_cases is added to each unit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

LICENSE = 'char LICENSE[] SEC("license") = "GPL";\n'


@dataclass
class Conflict:
    id: str
    first: str
    second: str
    message: str            # regex; the error names the second unit, the reason the first
    bpftool_message: str    # what libbpf 1.1 says (regex), to show it refuses the same inputs
    cflags: Tuple[tuple, tuple] = ((), ())


def _map(name: str, body: str, extern: bool = False, weak: bool = False) -> str:
    prefix = "extern " if extern else ("__weak " if weak else "")
    return f"{prefix}struct {{ {body} }} {name} SEC(\".maps\");\n"


MAP_BASE = ("__uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16); __type(key, __u32); "
            "__type(value, __u64);")
MAP_USE = 'SEC("socket") int use_{n}(struct __sk_buff *s) {{ __u32 k = 0; return bpf_map_lookup_elem(&m, &k) != 0; }}\n'


def _map_pair(id_: str, other_body: str, message: str, bpftool: str) -> Conflict:
    return Conflict(f"map-{id_}", _map("m", MAP_BASE) + MAP_USE.format(n=1) + LICENSE,
                    _map("m", other_body, extern=True) + MAP_USE.format(n=2) + LICENSE,
                    message, bpftool)


CONFLICTS = [
    Conflict("strong-function-twice",
             "int twin(int x) { return x; }\n" + LICENSE,
             "int twin(int x) { return x + 1; }\n" + LICENSE,
             r"symbol 'twin' is already defined in \S*u0\.bpf\.o \(two strong definitions",
             r"conflicting non-weak symbol #\d+ \(twin\) definition"),
    Conflict("strong-variable-twice",
             "int counter = 1;\n" + LICENSE,
             "int counter = 2;\n" + LICENSE,
             r"symbol 'counter' is already defined in \S*u0\.bpf\.o",
             r"conflicting non-weak symbol #\d+ \(counter\) definition"),
    Conflict("kind-int-vs-struct",
             "int thing = 1;\n" + LICENSE,
             "struct thing_t { int a; };\nextern struct thing_t thing;\n"
             'SEC("socket") int p(struct __sk_buff *s) { return thing.a; }\n' + LICENSE,
             r"global 'thing' does not match \S*u0\.bpf\.o: BTF kinds INT and STRUCT differ",
             r"global 'thing': incompatible BTF kinds int and struct"),
    Conflict("int-size",
             "int width = 1;\n" + LICENSE,
             "extern long width;\n"
             'SEC("socket") int p(struct __sk_buff *s) { return width; }\n' + LICENSE,
             r"global 'width' does not match \S*u0\.bpf\.o: INT 'int' sizes 4 and 8 differ",
             r"global 'width': incompatible int .* size 4 and 8"),
    Conflict("function-argument-count",
             "__noinline int f2(int a) { return a; }\n" + LICENSE,
             "extern int f2(int a, int b);\n"
             'SEC("socket") int p(struct __sk_buff *s) { return f2(1, 2); }\n' + LICENSE,
             r"global 'f2' does not match \S*u0\.bpf\.o: functions take 1 and 2 arguments",
             r"global 'f2': incompatible number of func_proto params 1 and 2"),
    Conflict("function-return-type",
             "__noinline int f3(int a) { return a; }\n" + LICENSE,
             "extern char f3(int a);\n"
             'SEC("socket") int p(struct __sk_buff *s) { return f3(1); }\n' + LICENSE,
             r"global 'f3' does not match \S*u0\.bpf\.o: INT 'int' sizes 4 and 1 differ",
             r"global 'f3': incompatible int .* size 4 and 1"),
    Conflict("struct-field-offset",
             "struct S { int a; int b; };\nstruct S s_var = {1, 2};\n" + LICENSE,
             "struct S { int a; long b; };\nextern struct S s_var;\n"
             'SEC("socket") int p(struct __sk_buff *s) { return s_var.b; }\n' + LICENSE,
             r"global 's_var' does not match \S*u0\.bpf\.o: field #1 'b' of 'S' has different offsets",
             r"global 's_var': incompatible field #1 \('b'\) offsets"),
    Conflict("struct-field-name",
             "struct S { int a; int b; };\nstruct S s_var = {1, 2};\n" + LICENSE,
             "struct S { int a; int c; };\nextern struct S s_var;\n"
             'SEC("socket") int p(struct __sk_buff *s) { return s_var.c; }\n' + LICENSE,
             r"global 's_var' does not match \S*u0\.bpf\.o: field #1 of 'S' is named 'b' and 'c'",
             r"global 's_var': incompatible field #1 names 'b' and 'c'"),
    Conflict("struct-field-count",
             "struct S { int a; int b; };\nstruct S s_var = {1, 2};\n" + LICENSE,
             "struct S { int a; int b; int c; };\nextern struct S s_var;\n"
             'SEC("socket") int p(struct __sk_buff *s) { return s_var.c; }\n' + LICENSE,
             r"global 's_var' does not match \S*u0\.bpf\.o: STRUCT 'S' has 2 and 3 fields",
             r"global 's_var': incompatible number of struct fields 2 and 3"),
    Conflict("forward-declaration-kind",
             "struct T { int a; };\nstruct T t_obj;\nstruct T *t_ptr = &t_obj;\n" + LICENSE,
             "union T;\nextern union T *t_ptr;\n"
             'SEC("socket") int p(struct __sk_buff *s) { return t_ptr != 0; }\n' + LICENSE,
             r"global 't_ptr' does not match \S*u0\.bpf\.o: union forward declaration 'T' does "
             r"not match STRUCT 'T'",
             r"global 't_ptr': incompatible union forward declaration and concrete kind struct"),
    _map_pair("type", MAP_BASE.replace("HASH", "LRU_HASH"),
              r"global 'm' does not match \S*u0\.bpf\.o: map 'm' type differs: 1 there, 9 here",
              r"global 'm': map type mismatch"),
    _map_pair("key-size", MAP_BASE.replace("__type(key, __u32)", "__type(key, __u64)"),
              r"map 'm' key_size differs: 4 there, 8 here", r"global 'm': map key_size mismatch"),
    _map_pair("key-type", MAP_BASE.replace("__type(key, __u32)", "__type(key, struct { int k; })"),
              r"map 'm' key type differs: BTF kinds INT and STRUCT differ",
              r"global 'm': map key type mismatch"),
    _map_pair("value-size", MAP_BASE.replace("__type(value, __u64)", "__type(value, __u32)"),
              r"map 'm' value_size differs: 8 there, 4 here", r"global 'm': map value_size mismatch"),
    _map_pair("max-entries", MAP_BASE.replace("max_entries, 16", "max_entries, 32"),
              r"map 'm' max_entries differs: 16 there, 32 here",
              r"global 'm': map max_entries mismatch"),
    _map_pair("flags", MAP_BASE + " __uint(map_flags, BPF_F_NO_PREALLOC);",
              r"map 'm' map_flags differs: 0 there, 1 here", r"global 'm': map map_flags mismatch"),
    _map_pair("pinning", MAP_BASE + " __uint(pinning, LIBBPF_PIN_BY_NAME);",
              r"map 'm' pinning differs: 0 there, 1 here", r"global 'm': map pinning mismatch"),
    _map_pair("unknown-field", MAP_BASE + " int colour;",
              r"global 'm' does not match \S*u0\.bpf\.o: invalid map definition: map 'm': unknown "
              r"field 'colour'", r"global 'm': invalid map definition"),
    Conflict("map-inner-definition",
             "struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); "
             "__type(key, int); __type(value, int); };\n"
             "struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 2); "
             "__type(key, int); __array(values, struct inner); } outer SEC(\".maps\");\n" + LICENSE,
             "struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2); "
             "__type(key, int); __type(value, int); };\n"
             "extern struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 2); "
             "__type(key, int); __array(values, struct inner); } outer SEC(\".maps\");\n"
             'SEC("socket") int p(struct __sk_buff *s) { int k = 0; return bpf_map_lookup_elem(&outer, &k) != 0; }\n'
             + LICENSE,
             r"map 'outer\.inner' max_entries differs: 1 there, 2 here",
             r"global 'outer\.inner': map max_entries mismatch"),
    Conflict("weak-variable-sections",
             "__weak int placed = 1;\n" + LICENSE,
             "__weak int placed;\n"
             'SEC("socket") int p(struct __sk_buff *s) { return placed; }\n' + LICENSE,
             r"global 'placed' is in section '\.bss' here but in '\.data' in \S*u0\.bpf\.o",
             r"global 'placed': section mismatch"),
    Conflict("license",
             LICENSE,
             'char LICENSE[] SEC("license") = "Dual BSD/GPL";\n',
             r"section 'license' \('Dual BSD/GPL'\) differs from the one in \S*u0\.bpf\.o "
             r"\('GPL'\); they must be identical",
             r"non-identical contents of section 'license' are not supported"),
    Conflict("section-flags",
             'int writable SEC(".mine") = 1;\n' + LICENSE,
             'const int readonly SEC(".mine") = 2;\n' + LICENSE,
             r"section '\.mine' is incompatible with the one in \S*u0\.bpf\.o: flags 0x2 here, 0x3 there",
             r"sec \.mine flags mismatch"),
    Conflict("extern-without-btf",
             "__noinline int helper(int x) { return x; }\n" + LICENSE,
             "extern int helper(int x);\n"  # the program is static: the extern is the first global
             'SEC("socket") static int p(struct __sk_buff *s) { return helper(1); }\n' + LICENSE,
             r"extern 'helper' has no BTF \(externs need BTF; compile with -g\)",
             r"externs without BTF info are not supported", cflags=((), ("-g0",))),
    Conflict("global-without-btf",
             LICENSE,
             "__noinline int plain(int x) { return x; }\n" + LICENSE,
             r"global 'plain' has no BTF \(compile with -g\)",
             r"failed to find BTF info for object", cflags=((), ("-g0",))),
    Conflict("data-relocation-against-section-symbol",
             LICENSE,
             "static int target_v = 3;\nint *ptr_v = &target_v;\n" + LICENSE,
             r"relocation at offset \d+ in '\.data' is against a section symbol in a non-code "
             r"section \(not supported\)",
             r"relocation against STT_SECTION in non-exec section is not supported"),
]
