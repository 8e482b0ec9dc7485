"""What must hold on every kernel we boot (the host, and Debian 11's 5.10 under scripts/vmtest.py):
the Python skeleton of a CO-RE object loads and runs with the default mode. On 5.10 that is the
user-space path, with CO-RE applied by the runtime and the object's BTF sanitized for real (5.10
has no FLOAT, DECL_TAG, TYPE_TAG or ENUM64, nor signed enums); on newer kernels the loader program.
The object is a socket filter: a program type 5.10 can load and test-run without attaching."""

from __future__ import annotations

import pytest

from bpf_build.runtime import features
from bpf_build.runtime.btf_types import KIND_ENUM, KIND_STRUCT, kernel_types
from bpf_build.runtime.errors import LoaderError
from bpf_build.runtime.kernel_btf import find_type_id
from bpf_build.runtime.loader import choose_mode

OLD_KERNEL_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct __sk_buff___old {
	__u32 pkt_type;
	__u64 len;            /* __u32 in the kernel: the load is narrowed */
	__u32 protocol;
} __attribute__((preserve_access_index));

struct task_struct { int pid; } __attribute__((preserve_access_index));
enum bpf_map_type___old { BPF_MAP_TYPE_ARRAY___old = 7 };

/* BTF kinds 5.10 does not know, which its BTF must lose before loading */
enum big { BIG_VALUE = 0x100000000ULL };
enum signed_enum { NEGATIVE = -1 };
struct tagged {
	int a __attribute__((btf_decl_tag("member_tag")));
	float f;
};
int __attribute__((btf_type_tag("user"))) *tagged_ptr;
struct tagged holder = { .a = 5 };
enum big big_seen;
enum signed_enum signed_seen;

__u64 task_size, has_pid, array_type, len_seen;

SEC("socket")
int read_skb(struct __sk_buff *skb)
{
	struct __sk_buff___old *s = (void *)skb;

	task_size = bpf_core_type_size(struct task_struct);
	has_pid = bpf_core_field_exists(((struct task_struct *)0)->pid);
	array_type = bpf_core_enum_value(enum bpf_map_type___old, BPF_MAP_TYPE_ARRAY___old);
	len_seen = s->len;
	return s->len + s->pkt_type + s->protocol + holder.a + (tagged_ptr ? 1 : 0) + big_seen + signed_seen;
}

char LICENSE[] SEC("license") = "GPL";
"""
PACKET = bytes(12) + b"\x08\x00" + bytes(50)


def _modes():
    return ["auto", "user"] + (["kernel"] if choose_mode() == "kernel" else [])


@pytest.mark.parametrize("mode", ["auto", "user", "kernel"])
def test_core_skeleton_loads_and_runs_here(python_skeleton, mode):
    cls = python_skeleton(OLD_KERNEL_C, "old_kernel")
    if mode not in _modes():
        if not features.has_loader_programs():
            with pytest.raises(LoaderError, match=r"bpf_sys_bpf \(Linux 5\.14\+\)"):
                cls.open_and_load(mode=mode)
        else:  # no in-kernel CO-RE (5.14-5.16): the loader's program load is refused
            with pytest.raises(LoaderError):
                cls.open_and_load(mode=mode)
        return
    with cls.open_and_load(mode=mode) as skel:
        ret = skel.progs.read_skb.test_run(PACKET).retval
        bss = skel.bss
        kernel = kernel_types()
        assert bss.task_size == kernel.resolve_size(find_type_id("task_struct", KIND_STRUCT))
        assert bss.has_pid == 1
        map_type = find_type_id("bpf_map_type", KIND_ENUM)
        assert bss.array_type == next(e.value for e in kernel.enumerators(map_type)
                                      if e.name == "BPF_MAP_TYPE_ARRAY")
        assert bss.len_seen == len(PACKET) - 14     # past the Ethernet header
        assert ret == (len(PACKET) - 14) + 0 + 0x0008 + 5


def test_auto_mode_follows_what_the_kernel_has():
    capable = features.has_loader_programs() and features.has_kernel_core()
    assert choose_mode() == ("kernel" if capable else "user")
    if not features.has_loader_programs():       # 5.10: and so it cannot have in-kernel CO-RE
        assert not features.has_kernel_core()


SYSCALL_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
__u64 ran;
SEC("syscall") int run(void *ctx) { ran = 1; return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_user_path_names_a_program_type_the_kernel_lacks(python_skeleton):
    cls = python_skeleton(SYSCALL_C, "u_syscall")
    if features.has_loader_programs():
        with cls.open_and_load(mode="user") as skel:
            skel.progs.run.test_run()
            assert skel.bss.ran == 1
        return
    with pytest.raises(LoaderError, match=r"program 'run'.*no BPF_PROG_TYPE_SYSCALL programs \(Linux 5\.14\+\)"):
        cls.open_and_load(mode="user")
