"""BPF C written for the skeleton tests, the user programs written against the skeleton API, and
fixtures that build both (clang for BPF, `bpf-build skel`, gcc with -lbpf)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

# name -> BPF C. Together they cover: BTF maps, .bss/.data/.rodata, custom .data.foo and
# .rodata.bar sections, kconfig externs, several programs of several types, a program not
# autoloaded, static (hidden) variables, anonymous struct globals, arrays and padding.
SKEL_CORPUS = {
    "globals": r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        struct {
            __uint(type, BPF_MAP_TYPE_HASH);
            __uint(max_entries, 16);
            __type(key, __u32);
            __type(value, __u64);
        } counts SEC(".maps");

        __u64 counter;
        char flag;
        long after_flag;                 /* padding after a char */
        struct { int x; long y; } points[2];
        int data_value = 7;
        const volatile int ro_limit = 3;
        char custom[8] SEC(".data.foo") = "abc";
        const volatile long ro_bar SEC(".rodata.bar") = 5;
        extern int LINUX_KERNEL_VERSION __kconfig;
        extern unsigned int CONFIG_HZ __kconfig __weak;
        static int hidden_total;         /* static: not in the skeleton */

        SEC("tracepoint/syscalls/sys_enter_getpid")
        int count_getpid(void *ctx)
        {
            __u32 key = 1;
            __u64 one = 1, *v = bpf_map_lookup_elem(&counts, &key);

            if (v)
                __sync_fetch_and_add(v, 1);
            else
                bpf_map_update_elem(&counts, &key, &one, BPF_ANY);
            __sync_fetch_and_add(&counter, 1);
            hidden_total += 1;
            flag = 'y';
            after_flag = hidden_total;
            points[1].y = LINUX_KERNEL_VERSION > 0 && CONFIG_HZ > 0;
            custom[1] = 'B';
            return 0;
        }

        SEC("xdp")
        int xdp_sum(struct xdp_md *ctx)
        {
            data_value += ro_limit + ro_bar;
            return XDP_PASS;
        }

        char LICENSE[] SEC("license") = "GPL";
    """,
    "net": r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        struct {
            __uint(type, BPF_MAP_TYPE_ARRAY);
            __uint(max_entries, 4);
            __type(key, __u32);
            __type(value, __u64);
        } lengths SEC(".maps");

        struct {
            __uint(type, BPF_MAP_TYPE_RINGBUF);
            __uint(max_entries, 4096);
        } events SEC(".maps");

        const volatile __u32 drop_len = 1000;
        __u64 packets, bytes;
        __u32 last_len;

        SEC("xdp")
        int xdp_filter(struct xdp_md *ctx)
        {
            __u32 len = ctx->data_end - ctx->data, key = 0;
            __u64 *total = bpf_map_lookup_elem(&lengths, &key);

            if (total)
                *total += len;
            packets++;
            bytes += len;
            last_len = len;
            return len >= drop_len ? XDP_DROP : XDP_PASS;
        }

        SEC("socket")
        int sock_len(struct __sk_buff *skb)
        {
            last_len = skb->len;
            return skb->len;
        }

        char LICENSE[] SEC("license") = "GPL";
    """,
    "multi": r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        int enter_calls;
        int getpid_calls;
        int optional_calls;
        const volatile int target_tgid = 0;
        unsigned char history[5] = {1, 2, 3, 4, 5};
        int (*unused_fn_ptr)(int);

        static __noinline int is_target(void)
        {
            return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
        }

        SEC("raw_tp/sys_enter")
        int on_enter(void *ctx)
        {
            if (is_target())
                __sync_fetch_and_add(&enter_calls, 1);
            return 0;
        }

        SEC("tracepoint/syscalls/sys_enter_getpid")
        int on_getpid(void *ctx)
        {
            if (is_target()) {
                __sync_fetch_and_add(&getpid_calls, 1);
                history[0] = 42;
            }
            return 0;
        }

        SEC("?tracepoint/syscalls/sys_enter_getpid")
        int not_autoloaded(void *ctx)
        {
            __sync_fetch_and_add(&optional_calls, 1);
            return 0;
        }

        char LICENSE[] SEC("license") = "GPL";
    """,
    "strings": r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        /* A plain string literal lands in .rodata.str1.1: a global-data map with no variables.
           The skeleton has an empty member for it, as bpftool 7.1's; libbpf does not mmap it. */
        const volatile char greeting[6] = "hello";
        int printed;

        SEC("xdp")
        int xdp_print(struct xdp_md *ctx)
        {
            bpf_printk("packet of %d bytes", (int)(ctx->data_end - ctx->data));
            bpf_trace_printk("a literal\n", sizeof("a literal\n"));
            printed++;
            return greeting[0] == 'H' ? XDP_DROP : XDP_PASS;
        }

        char LICENSE[] SEC("license") = "GPL";
    """,
    "sections": r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        /* A custom section longer than a kernel map name (15 characters), and a .rodata that
           holds only bpf_printk's format (a static variable): bpftool still has both members. */
        int read_mostly_var SEC(".data.read_mostly") = 1;
        int other_mostly SEC(".data.read_mostly") = 2;
        int calls;

        SEC("xdp")
        int xdp_mostly(struct xdp_md *ctx)
        {
            bpf_printk("calls %d", calls);
            calls++;
            read_mostly_var += other_mostly;
            return XDP_PASS;
        }

        char LICENSE[] SEC("license") = "GPL";
    """,
    "no_globals": r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        SEC("socket")
        int pass_all(struct __sk_buff *skb)
        {
            return skb->len;
        }

        char LICENSE[] SEC("license") = "GPL";
    """,
}

# name -> user program written against the skeleton API (bpftool's API: it compiles against
# bpftool's header too). The skeleton header is included as "SKEL_HEADER"; each prints key=value.
USER_PROGRAMS = {
    "globals": r"""
        #include <stdio.h>
        #include <string.h>
        #include <sys/syscall.h>
        #include <unistd.h>
        #include <bpf/bpf.h>
        #include SKEL_HEADER

        int main(void)
        {
            struct globals_bpf *skel = globals_bpf__open();
            char pkt[64] = {0};
            LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = 1);
            size_t elf_size = 0;
            const char *elf = globals_bpf__elf_bytes(&elf_size);
            unsigned int key = 1;
            unsigned long long count = 0;
            int err, has_link;

            if (!skel)
                return 10;
            skel->rodata->ro_limit = 11;           /* rodata is writable until load */
            skel->rodata_bar->ro_bar = 100;
            skel->data->data_value = 8;
            if (globals_bpf__load(skel))
                return 11;
            if (globals_bpf__attach(skel))
                return 12;
            has_link = skel->links.count_getpid != NULL;
            for (int i = 0; i < 3; i++)
                syscall(SYS_getpid);
            globals_bpf__detach(skel);
            syscall(SYS_getpid);                   /* not counted: detached */
            err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_sum), &run);
            bpf_map__lookup_elem(skel->maps.counts, &key, sizeof(key), &count, sizeof(count), 0);
            printf("counter=%llu flag=%c after_flag=%ld point_y=%ld custom=%s data=%d "
                   "kver_set=%d test_run=%d retval=%u map_count=%llu elf_magic=%d elf_size=%zu "
                   "has_link=%d\n",
                   skel->bss->counter, skel->bss->flag, skel->bss->after_flag,
                   skel->bss->points[1].y, skel->data_foo->custom, skel->data->data_value,
                   skel->kconfig->LINUX_KERNEL_VERSION > 0, err, run.retval, count,
                   elf_size > 4 && !memcmp(elf, "\177ELF", 4), elf_size, has_link);
            globals_bpf__destroy(skel);
            return 0;
        }
    """,
    "net": r"""
        #include <stdio.h>
        #include <bpf/bpf.h>
        #include SKEL_HEADER

        int main(void)
        {
            struct net_bpf *skel = net_bpf__open();
            char small[100] = {0}, big[1500] = {0};
            LIBBPF_OPTS(bpf_test_run_opts, run_small, .data_in = small, .data_size_in = sizeof(small));
            LIBBPF_OPTS(bpf_test_run_opts, run_big, .data_in = big, .data_size_in = sizeof(big));
            LIBBPF_OPTS(bpf_test_run_opts, run_sock, .data_in = small, .data_size_in = sizeof(small));
            unsigned int key = 0;
            unsigned long long total = 0;

            if (!skel)
                return 10;
            skel->rodata->drop_len = 1200;
            if (net_bpf__load(skel))
                return 11;
            bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_filter), &run_small);
            bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_filter), &run_big);
            bpf_prog_test_run_opts(bpf_program__fd(skel->progs.sock_len), &run_sock);
            bpf_map__lookup_elem(skel->maps.lengths, &key, sizeof(key), &total, sizeof(total), 0);
            printf("small=%u big=%u sock=%u packets=%llu bytes=%llu last_len=%u total=%llu "
                   "ringbuf_fd_ok=%d\n",
                   run_small.retval, run_big.retval, run_sock.retval, skel->bss->packets,
                   skel->bss->bytes, skel->bss->last_len, total,
                   bpf_map__fd(skel->maps.events) >= 0);
            net_bpf__destroy(skel);
            return 0;
        }
    """,
    "multi": r"""
        #include <stdio.h>
        #include <sys/syscall.h>
        #include <unistd.h>
        #include SKEL_HEADER

        int main(void)
        {
            struct multi_bpf *skel = multi_bpf__open();

            if (!skel)
                return 10;
            skel->rodata->target_tgid = getpid();
            if (multi_bpf__load(skel))
                return 11;
            if (multi_bpf__attach(skel))
                return 12;
            for (int i = 0; i < 4; i++)
                syscall(SYS_getpid);
            printf("getpid_calls=%d enter_at_least=%d optional_calls=%d optional_loaded=%d "
                   "history0=%d history4=%d\n",
                   skel->bss->getpid_calls, skel->bss->enter_calls >= 4, skel->bss->optional_calls,
                   bpf_program__fd(skel->progs.not_autoloaded) >= 0,
                   skel->data->history[0], skel->data->history[4]);
            multi_bpf__destroy(skel);
            return 0;
        }
    """,
    "strings": r"""
        #include <stdio.h>
        #include <bpf/bpf.h>
        #include SKEL_HEADER

        int main(void)
        {
            struct strings_bpf *skel = strings_bpf__open();
            char pkt[60] = {0};
            LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pkt, .data_size_in = sizeof(pkt));

            if (!skel)
                return 10;
            skel->rodata->greeting[0] = 'H';
            if (strings_bpf__load(skel))
                return 11;
            bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_print), &run);
            printf("retval=%u printed=%d strings_map_fd_ok=%d\n", run.retval, skel->bss->printed,
                   bpf_map__fd(skel->maps.rodata_str1_1) >= 0);
            strings_bpf__destroy(skel);
            return 0;
        }
    """,
    "sections": r"""
        #include <stdio.h>
        #include <bpf/bpf.h>
        #include SKEL_HEADER

        int main(void)
        {
            struct sections_bpf *skel = sections_bpf__open();
            char pkt[60] = {0};
            LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pkt, .data_size_in = sizeof(pkt));

            if (!skel)
                return 10;
            skel->data_read_mostly->read_mostly_var = 123;
            (void)skel->rodata;                    /* names the member of a variable-less .rodata */
            if (sections_bpf__load(skel))
                return 11;
            bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdp_mostly), &run);
            printf("retval=%u read_mostly=%d other=%d calls=%d map_fd_ok=%d\n", run.retval,
                   skel->data_read_mostly->read_mostly_var, skel->data_read_mostly->other_mostly,
                   skel->bss->calls, bpf_map__fd(skel->maps.data_read_mostly) >= 0);
            sections_bpf__destroy(skel);
            return 0;
        }
    """,
    "no_globals": r"""
        #include <stdio.h>
        #include <bpf/bpf.h>
        #include SKEL_HEADER

        int main(void)
        {
            struct no_globals_bpf *skel = no_globals_bpf__open_and_load();
            char pkt[60] = {0};
            LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pkt, .data_size_in = sizeof(pkt));

            if (!skel)
                return 11;
            bpf_prog_test_run_opts(bpf_program__fd(skel->progs.pass_all), &run);
            printf("retval=%u\n", run.retval);
            no_globals_bpf__destroy(skel);
            return 0;
        }
    """,
}

# What each user program must print when run in the kernel.
EXPECTED_OUTPUT = {
    "globals": {"counter": 3, "flag": "y", "after_flag": 3, "point_y": 1, "custom": "aBc",
                "data": 8 + 11 + 100, "kver_set": 1, "test_run": 0, "retval": 2, "map_count": 3,
                "elf_magic": 1, "has_link": 1},
    # (a socket filter sees the packet after the 14-byte Ethernet header is pulled)
    "net": {"small": 2, "big": 1, "sock": 86, "packets": 2, "bytes": 1600, "last_len": 86,
            "total": 1600, "ringbuf_fd_ok": 1},
    "multi": {"getpid_calls": 4, "enter_at_least": 1, "optional_calls": 0, "optional_loaded": 0,
              "history0": 42, "history4": 5},
    "strings": {"retval": 1, "printed": 1, "strings_map_fd_ok": 1},
    "sections": {"retval": 2, "read_mostly": 125, "other": 2, "calls": 1, "map_fd_ok": 1},
    "no_globals": {"retval": 60 - 14},
}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "bpf_build.cli.main", *args],
                          capture_output=True, text=True)


@pytest.fixture(scope="session")
def corpus_object(compile_c):
    """corpus_object(name) -> path of <name>.bpf.o (compiled once per session)."""
    return lambda name: compile_c(SKEL_CORPUS[name], name=name)


@pytest.fixture(scope="session")
def skeleton_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("skeletons")


@pytest.fixture(scope="session")
def our_skeleton(corpus_object, skeleton_dir):
    """our_skeleton(name) -> path of <name>.skel.h written by `bpf-build skel`."""
    made = {}

    def make(name: str) -> str:
        if name not in made:
            out = os.path.join(skeleton_dir, f"{name}.skel.h")
            proc = run_cli("skel", corpus_object(name), "-o", out)
            assert proc.returncode == 0, proc.stderr
            made[name] = out
        return made[name]

    return make


@pytest.fixture(scope="session")
def bpftool_skeleton(corpus_object, skeleton_dir):
    """bpftool_skeleton(name) -> path of <name>.bpftool.skel.h (the oracle), or a skip."""
    bpftool = shutil.which("bpftool")

    def make(name: str) -> str:
        if bpftool is None:
            pytest.skip("bpftool not installed (oracle)")
        out = os.path.join(skeleton_dir, f"{name}.bpftool.skel.h")
        if not os.path.exists(out):
            proc = subprocess.run([bpftool, "gen", "skeleton", corpus_object(name)],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
            with open(out, "w") as f:
                f.write(proc.stdout)
        return out

    return make
