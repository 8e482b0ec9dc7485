"""BPF C written for the object-model tests: maps, global data, subprograms, CO-RE, externs."""

import pytest

MODEL_CORPUS = {
    "maps_and_data": r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16);
                 __type(key, __u32); __type(value, __u64); } counts SEC(".maps");
        struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
        int bss_counter;
        int data_value = 7;
        const volatile int ro_limit = 3;
        char custom_data[8] SEC(".data.custom") = "abc";
        static __noinline int twice(int x) { return x * 2 + ro_limit; }
        SEC("xdp") int count_packets(struct xdp_md *ctx) {
            __u32 k = 1; __u64 one = 1, *v = bpf_map_lookup_elem(&counts, &k);
            if (v) __sync_fetch_and_add(v, 1); else bpf_map_update_elem(&counts, &k, &one, BPF_ANY);
            bss_counter = twice(data_value) + custom_data[0];
            return XDP_PASS;
        }
        SEC("socket") int sock_prog(struct __sk_buff *skb) { return skb->len + bss_counter; }
        char LICENSE[] SEC("license") = "GPL";
    """,
    "core_and_externs": r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_core_read.h>
        struct task_struct { int pid; int tgid; } __attribute__((preserve_access_index));
        extern int LINUX_KERNEL_VERSION __kconfig;
        extern unsigned int CONFIG_HZ __kconfig __weak;
        extern const void bpf_prog_active __ksym;
        int seen_pid;
        SEC("raw_tp/sys_enter") int on_enter(void *ctx) {
            struct task_struct *t = (void *)bpf_get_current_task();
            seen_pid = BPF_CORE_READ(t, tgid) + LINUX_KERNEL_VERSION + CONFIG_HZ;
            if (bpf_core_field_exists(t->pid)) seen_pid += 1;
            return 0;
        }
        char LICENSE[] SEC("license") = "GPL";
    """,
    "atomics_and_bitfields": r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        struct flags { unsigned int a:3, b:5; unsigned long long c:40; union { int x; char y; }; };
        struct flags f;
        __u64 counter;
        enum color { RED = -1, GREEN = 2 } col;
        enum big { HUGE = 0x100000000ULL } big;
        SEC("tc") int atomics(struct __sk_buff *skb) {
            __sync_fetch_and_add(&counter, 1);
            __u64 old = __sync_fetch_and_or(&counter, 2);
            __sync_val_compare_and_swap(&counter, old, 5);
            __atomic_exchange_n(&counter, 9, __ATOMIC_SEQ_CST);
            f.a = skb->len; f.c = 77;
            return f.b + col + (int)big;
        }
        char LICENSE[] SEC("license") = "GPL";
    """,
}


@pytest.fixture(scope="session", params=sorted(MODEL_CORPUS))
def corpus_name(request):
    return request.param


@pytest.fixture(scope="session", params=["bpfel", "bpfeb"])
def target(request):
    return request.param


@pytest.fixture(scope="session")
def corpus_object(compile_c, corpus_name, target):
    return compile_c(MODEL_CORPUS[corpus_name], name=corpus_name, target=target)
