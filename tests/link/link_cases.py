"""BPF C sources the linker tests link, load and run: each case is a list of translation units
whose programs can only return the expected values if code and data from every unit were linked
correctly. Expected values are computed by hand in the comments."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

PRELUDE = """\
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#define __hidden __attribute__((visibility("hidden")))
"""

# ----------------------------------------------------------------------------------------------
# Functions: strong/weak/extern, subprograms calling across objects, same-named statics.

FUNCS_A = PRELUDE + r"""
/* first in .text: reached through the section symbol from another section */
static __noinline int twice(int x) { return x * 2; }

extern int mul_b(int x);                              /* strong in b */
__weak int pick(int x) { return x + 1; }              /* b's strong pick wins */
__weak int first_weak(int x) { return x + 1000; }     /* weak in b too: this one wins */
__noinline int add_a(int x) { return x + 3; }         /* called from b */

SEC("socket") int prog_funcs_a(struct __sk_buff *skb)
{
    /* pick(1)=11 (b), mul_b(11)=twice_b(11)*5=165, twice_a(165)=330, first_weak(0)=1000 */
    return twice(mul_b(pick(1))) + first_weak(0);
}
char LICENSE[] SEC("license") = "GPL";
"""

FUNCS_B = PRELUDE + r"""
static __noinline int twice(int x) { return x * 3; }  /* same name as a's, different body */

extern int add_a(int x);
int pick(int x) { return x + 10; }
__weak int first_weak(int x) { return x + 2000; }
__noinline int mul_b(int x) { return twice(x) * 5; }

SEC("socket") int prog_funcs_b(struct __sk_buff *skb)
{
    return add_a(twice(2)) + first_weak(1);           /* add_a(6)=9, first_weak(1)=1001 (a) */
}
char LICENSE[] SEC("license") = "GPL";
"""

# ----------------------------------------------------------------------------------------------
# Variables: strong/weak/extern, hidden visibility, .data/.rodata/.bss in both objects with
# different alignments, mergeable string sections.

VARS_A = PRELUDE + r"""
int shared = 5;                            /* extern in b */
__weak int weak_var = 1;                   /* b's strong definition wins */
__weak int first_weak_var = 100;           /* weak in b too: this one wins */
extern int b_only;                         /* defined in b */
__hidden int hidden_counter = 3;           /* hidden, extern in b */
extern __hidden int made_hidden;           /* b defines it with default visibility */
const volatile int ro_a = 11;
int bss_a;
const char greeting[] = "hello";

SEC("socket") int prog_vars_a(struct __sk_buff *skb)
{
    bss_a += 1;
    /* 5 + 20 + 100 + 7 + 3 + 9 + 11 + 1 + 'h'(104) = 260 */
    return shared + weak_var + first_weak_var + b_only + hidden_counter + made_hidden
           + ro_a + bss_a + greeting[0];
}
char LICENSE[] SEC("license") = "GPL";
"""

VARS_B = PRELUDE + r"""
extern int shared;
int weak_var = 20;
__weak int first_weak_var = 200;
int b_only = 7;
extern int hidden_counter;
int made_hidden = 9;
long long data_b = 1000;                   /* 8-byte aligned: a's .data gets padded */
const volatile char ro_b = 22;
char bss_b[3];
const char other[] = "world";

SEC("socket") int prog_vars_b(struct __sk_buff *skb)
{
    /* 5 + 20 + 100 + 7 + 3 + 9 + 1000 + 22 + 0 + 'w'(119) = 1285 */
    return shared + weak_var + first_weak_var + b_only + hidden_counter + made_hidden
           + data_b + ro_b + bss_b[0] + other[0];
}
char LICENSE[] SEC("license") = "GPL";
"""

# ----------------------------------------------------------------------------------------------
# Maps: the first object only declares extern maps (its .maps exists only in BTF), the
# definitions come later; a weak map defined twice; a map-in-map declared extern.

MAP_COUNTERS = """
struct counters_def {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
};
"""
MAP_WEAK = """
struct weak_def {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 8);
    __type(key, int);
    __type(value, int);
};
"""
MAP_OUTER = """
struct inner_def {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, int);
    __type(value, int);
};
struct outer_def {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, 2);
    __type(key, int);
    __array(values, struct inner_def);
};
"""

MAPS_USER = PRELUDE + MAP_COUNTERS + MAP_OUTER + r"""
extern struct counters_def counters SEC(".maps");
extern struct outer_def outer SEC(".maps");
extern int bump(__u32 key, __u64 by);              /* in maps_def */

SEC("socket") int prog_maps_user(struct __sk_buff *skb)
{
    __u32 k = 1;
    __u64 *v;
    int key = 0, key0 = 0, *val;
    void *inner;

    bump(1, 40);
    bump(1, 2);
    v = bpf_map_lookup_elem(&counters, &k);
    if (!v)
        return -1;
    if (bpf_map_lookup_elem(&outer, &key))        /* no inner map in slot 0 */
        return -2;
    key = 1;
    inner = bpf_map_lookup_elem(&outer, &key);     /* maps_def's inner_a if maps_more set it */
    if (!inner)
        return *v;                                 /* 42 */
    val = bpf_map_lookup_elem(inner, &key0);
    return val ? *v + 1000 + *val : -4;            /* 1042 */
}
char LICENSE[] SEC("license") = "GPL";
"""

MAPS_DEF = PRELUDE + MAP_COUNTERS + MAP_WEAK + MAP_OUTER + r"""
struct counters_def counters SEC(".maps");
__weak struct weak_def weak_map SEC(".maps");
struct inner_def inner_a SEC(".maps");              /* installed in outer by maps_more */

__noinline int bump(__u32 key, __u64 by)
{
    __u64 *v = bpf_map_lookup_elem(&counters, &key);

    if (!v)
        return 0;
    *v += by;
    return 1;
}

SEC("socket") int prog_maps_def(struct __sk_buff *skb)
{
    int k = 3, val = 33, *got;

    bpf_map_update_elem(&weak_map, &k, &val, BPF_ANY);
    got = bpf_map_lookup_elem(&weak_map, &k);
    return got ? *got + bump(0, 1) : -1;           /* 33 + 1 */
}
char LICENSE[] SEC("license") = "GPL";
"""

MAPS_MORE_HEAD = PRELUDE + MAP_WEAK + MAP_OUTER + r"""
__weak struct weak_def weak_map SEC(".maps");      /* the same weak map again */
"""
MAPS_MORE_TAIL = r"""

SEC("socket") int prog_maps_more(struct __sk_buff *skb)
{
    int k = 3, *got = bpf_map_lookup_elem(&weak_map, &k);

    return got ? 1 : 7;
}
char LICENSE[] SEC("license") = "GPL";
"""

MAPS_MORE = MAPS_MORE_HEAD + "struct outer_def outer SEC(\".maps\");\n" + MAPS_MORE_TAIL
# An initialised map-in-map: a relocation in .maps against another object's map, and a DATASEC
# entry larger than its type (the initialised flexible array).
MAPS_MORE_INIT = MAPS_MORE_HEAD + """
extern struct inner_def inner_a SEC(".maps");
struct outer_def outer SEC(".maps") = { .values = { [1] = &inner_a } };
""" + MAPS_MORE_TAIL

# ----------------------------------------------------------------------------------------------
# CO-RE: both objects read kernel memory through their own (different) partial views of
# task_struct; two more programs return CO-RE field offsets the test checks against vmlinux.

CORE_A = PRELUDE + r"""
struct task_struct {
    int tgid;
    int pid;
} __attribute__((preserve_access_index));

extern int core_b_pid_ok(void);

SEC("raw_tp/sys_enter") int prog_core_a(void *ctx)
{
    struct task_struct *t = (void *)bpf_get_current_task();

    if (BPF_CORE_READ(t, tgid) != (int)(bpf_get_current_pid_tgid() >> 32))
        return 0;
    return 1 + core_b_pid_ok();                       /* 11 */
}

SEC("socket") int prog_core_off_a(struct __sk_buff *skb)
{
    return bpf_core_field_offset(struct task_struct, tgid);
}
char LICENSE[] SEC("license") = "GPL";
"""

CORE_B = PRELUDE + r"""
struct mm_struct;
struct task_struct {
    struct mm_struct *mm;
    int pid;
} __attribute__((preserve_access_index));

__noinline int core_b_pid_ok(void)
{
    struct task_struct *t = (void *)bpf_get_current_task();

    return BPF_CORE_READ(t, pid) == (int)bpf_get_current_pid_tgid() ? 10 : 0;
}

SEC("socket") int prog_core_off_b(struct __sk_buff *skb)
{
    return bpf_core_field_offset(struct task_struct, pid);
}
char LICENSE[] SEC("license") = "GPL";
"""

# ----------------------------------------------------------------------------------------------
# kconfig and ksym externs, declared in both objects (one .kconfig/.ksyms entry each after
# linking), typeless and typed ksyms.

KSYMS_A = PRELUDE + r"""
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig __weak;
extern const void bpf_prog_put __ksym;               /* typeless: an address from kallsyms */
extern void bpf_rcu_read_lock(void) __ksym;          /* kfuncs: FUNCs in .ksyms */
extern void bpf_rcu_read_unlock(void) __ksym;

extern int ksyms_b(void);

SEC("socket") int prog_ksyms_a(struct __sk_buff *skb)
{
    bpf_rcu_read_lock();
    bpf_rcu_read_unlock();
    return LINUX_KERNEL_VERSION >> 8;                /* (major << 8) | minor */
}

SEC("socket") int prog_ksyms_addr(struct __sk_buff *skb)
{
    return (unsigned long)&bpf_prog_put >> 4 & 0xffff;
}

SEC("socket") int prog_ksyms_hz(struct __sk_buff *skb)
{
    return CONFIG_HZ * 10000 + ksyms_b();
}
char LICENSE[] SEC("license") = "GPL";
"""

KSYMS_B = PRELUDE + r"""
extern unsigned int LINUX_KERNEL_VERSION __kconfig;  /* the same kconfig externs again */
extern int CONFIG_HZ __kconfig __weak;

__noinline int ksyms_b(void)
{
    return LINUX_KERNEL_VERSION >> 16;               /* major */
}
char LICENSE[] SEC("license") = "GPL";
"""

# The same kfuncs and typeless ksym declared in a second object: libbpf 1.1 cannot size their
# types ("failed to resolve size of underlying type"); libbpf fixed it for kfuncs later
# ("libbpf: Do not resolve size on duplicate FUNCs"), still fails for the typeless ksym. bpf-link
# keeps one .ksyms entry each.
KSYMS_TWICE = PRELUDE + r"""
extern const void bpf_prog_put __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

SEC("socket") int prog_ksyms_twice(struct __sk_buff *skb)
{
    bpf_rcu_read_lock();
    bpf_rcu_read_unlock();
    return (unsigned long)&bpf_prog_put >> 8 & 0xffff;
}
char LICENSE[] SEC("license") = "GPL";
"""

# ----------------------------------------------------------------------------------------------
# Many objects at once: a chain of subprograms, one per object, each with its own data.

def chain_sources(n: int) -> List[Tuple[str, str]]:
    """n objects; the first one's program calls a subprogram in every other one (calls are not
    chained: the verifier allows only 8 frames)."""
    units = []
    for i in range(n):
        body = ""
        if i == 0:
            externs = "".join(f"extern int step{j}(int x);\n" for j in range(1, n))
            calls = " + ".join(f"step{j}(0)" for j in range(1, n))
            body = (externs + 'SEC("socket") int prog_chain(struct __sk_buff *skb) '
                    f'{{ return step0(0) + {calls}; }}\n')
        units.append((f"chain{i}", PRELUDE + f"""
int value{i} = {i + 1};
static int table{i}[{i % 3 + 1}] = {{ {i} }};
__noinline int step{i}(int x) {{ table{i}[0] += 1; return x + value{i}; }}
{body}char LICENSE[] SEC("license") = "GPL";
"""))
    return units


@dataclass
class Case:
    name: str
    units: List[Tuple[str, str]]                  # (unit name, C source)
    expect: Dict[str, object] = field(default_factory=dict)   # program -> value or callable()
    run_args: Dict[str, dict] = field(default_factory=dict)  # program -> test_run kwargs
    # How bpftool 7.1 (libbpf 1.1) does on the same inputs: "identical" output, "unloadable"
    # output (a libbpf bug our output does not have), or it "fails" to link.
    vs_bpftool: str = "identical"


def _kernel_version_code() -> int:
    parts = (os.uname().release.split("-")[0].split(".") + ["0", "0"])[:3]
    major, minor = int(parts[0]), int(parts[1])
    return (major << 8) | minor


def _vmlinux_offset(struct: str, member: str) -> int:
    from bpf_build.model import btf as B
    from bpf_build.model.btf import load_vmlinux

    vmlinux = load_vmlinux()
    t = vmlinux.get(vmlinux.find(struct, B.STRUCT))
    return next(m.offset for m in t.members if m.name == member) // 8


def _kallsyms_address(name: str) -> int:
    with open("/proc/kallsyms") as f:
        for line in f:
            addr, kind, sym = line.split()[:3]
            if sym == name and kind in "Tt":
                return int(addr, 16)
    raise LookupError(f"{name} not in /proc/kallsyms")


def _config_hz() -> int:
    from tests import kernel_facts

    return int(kernel_facts.kernel_config().get("CONFIG_HZ", 0))


def rich_kernel_structs(count: int) -> List[str]:
    """Names of the kernel structs with the most members: a global of each makes clang emit
    their BTF and that of everything they embed, thousands of types."""
    from bpf_build.model import btf as B

    vmlinux = B.load_vmlinux()
    ranked = sorted((t for t in vmlinux.types if t.kind == B.STRUCT and t.name
                     and not t.name.startswith("__")), key=lambda t: -len(t.members))
    names: List[str] = []
    for t in ranked:
        if t.name not in names:
            names.append(t.name)
        if len(names) == count:
            break
    return names


CHAIN_N = 24

CASES = [
    Case("funcs", [("funcs_a", FUNCS_A), ("funcs_b", FUNCS_B)],
         {"prog_funcs_a": 1330, "prog_funcs_b": 1010}),
    Case("vars", [("vars_a", VARS_A), ("vars_b", VARS_B)],
         {"prog_vars_a": 260, "prog_vars_b": 1285}),
    Case("maps", [("maps_def", MAPS_DEF), ("maps_more", MAPS_MORE), ("maps_user", MAPS_USER)],
         # programs run in this order: prog_maps_more finds what prog_maps_def stored in the
         # weak map both objects define, so it returns 1
         {"prog_maps_user": 42, "prog_maps_def": 34, "prog_maps_more": 1}),
    # The object that only declares extern maps comes first: its .maps exists only in BTF until
    # a definition arrives; and 'outer' is initialised. libbpf keeps the DATASEC entries it made
    # for the externs (offset 0, the declared type's size), so bpftool's output cannot be
    # loaded; ours takes each definition's offset and size.
    Case("maps_extern_first",
         [("maps_user", MAPS_USER), ("maps_def", MAPS_DEF), ("maps_more_init", MAPS_MORE_INIT)],
         {"prog_maps_user": 1042, "prog_maps_def": 34, "prog_maps_more": 1}, vs_bpftool="unloadable"),
    # Definitions first, externs after, but an initialised map-in-map: libbpf shrinks its entry
    # to the type's size when it meets the extern, and its loader cannot place the relocation.
    Case("maps_initialised",
         [("maps_def", MAPS_DEF), ("maps_more_init", MAPS_MORE_INIT), ("maps_user", MAPS_USER)],
         {"prog_maps_user": 1042, "prog_maps_def": 34, "prog_maps_more": 1}, vs_bpftool="unloadable"),
    Case("core", [("core_a", CORE_A), ("core_b", CORE_B)],
         {"prog_core_a": 11,
          "prog_core_off_a": lambda: _vmlinux_offset("task_struct", "tgid"),
          "prog_core_off_b": lambda: _vmlinux_offset("task_struct", "pid")},
         {"prog_core_a": {"data": b"", "ctx": bytes(8), "repeat": 0}}),
    Case("ksyms", [("ksyms_a", KSYMS_A), ("ksyms_b", KSYMS_B)],
         {"prog_ksyms_a": _kernel_version_code,
          "prog_ksyms_addr": lambda: _kallsyms_address("bpf_prog_put") >> 4 & 0xffff,
          "prog_ksyms_hz": lambda: _config_hz() * 10000 + (_kernel_version_code() >> 8)}),
    Case("ksyms_twice", [("ksyms_a", KSYMS_A), ("ksyms_b", KSYMS_B), ("ksyms_twice", KSYMS_TWICE)],
         {"prog_ksyms_a": _kernel_version_code,
          "prog_ksyms_addr": lambda: _kallsyms_address("bpf_prog_put") >> 4 & 0xffff,
          "prog_ksyms_twice": lambda: _kallsyms_address("bpf_prog_put") >> 8 & 0xffff},
         vs_bpftool="fails"),
    Case("chain", chain_sources(CHAIN_N), {"prog_chain": sum(range(1, CHAIN_N + 1))}),
]
CASES_BY_NAME = {c.name: c for c in CASES}
