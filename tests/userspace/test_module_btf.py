"""CO-RE against a kernel module's BTF in the user-space load path (issue 17): a type only the veth
module defines (``struct veth_priv``) is found in /sys/kernel/btf/veth, as the kernel's own
CO-RE finds it. The oracle is the kernel path (in-kernel CO-RE, 5.17+) on the same kernel. Where
veth is built in (this host) the type comes from vmlinux; where veth is a module without BTF
(before 5.11) it exists nowhere. Debian's 6.1 and 6.12 (test_vm_kernels.py) load veth as a module
with BTF, where this test is the module path's."""

from __future__ import annotations

import ctypes
import os


from bpf_build.runtime import features, module_btf, syscall
from bpf_build.runtime.btf_types import KIND_STRUCT
from bpf_build.runtime.kernel_btf import find_kernel_btf_id, find_type_id
from tests.runtime.conftest import veth  # noqa: F401  (fixture: creating one loads the veth module)

MODULE_TYPE_C = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct veth_priv { unsigned int requested_headroom; } __attribute__((preserve_access_index));

__u64 exists, size, has_headroom, headroom_offset;

SEC("socket")
int probe(struct __sk_buff *skb)
{
	exists = bpf_core_type_exists(struct veth_priv);
	if (exists) {
		size = bpf_core_type_size(struct veth_priv);
		has_headroom = bpf_core_field_exists(struct veth_priv, requested_headroom);
		if (has_headroom)
			headroom_offset = bpf_core_field_offset(struct veth_priv, requested_headroom);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def _seen(cls, mode: str):
    with cls.open_and_load(mode=mode) as skel:
        skel.progs.probe.test_run(bytes(64))
        bss = skel.bss
        return bss.exists, bss.size, bss.has_headroom, bss.headroom_offset


def _where_veth_priv_lives():
    """("vmlinux", id) when veth is built in (this host), ("veth", id) from its module's BTF, or None."""
    in_vmlinux = find_type_id("veth_priv", KIND_STRUCT)
    if in_vmlinux is not None:
        return "vmlinux", in_vmlinux
    return module_btf.find_type("veth_priv", KIND_STRUCT)


def test_user_path_finds_a_type_in_a_modules_btf(python_skeleton, veth):  # noqa: F811
    cls = python_skeleton(MODULE_TYPE_C, "module_type")
    user = _seen(cls, "user")
    where = _where_veth_priv_lives()
    if where is None:
        assert user == (0, 0, 0, 0)
    else:
        types = module_btf.kernel_types() if where[0] == "vmlinux" else module_btf.module_types(where[0])
        assert user[:3] == (1, types.resolve_size(where[1]), 1)
    if features.has_loader_programs() and features.has_kernel_core():
        assert _seen(cls, "kernel") == user


def test_btf_id_lookup_answers_as_the_kernel_helper(veth):  # noqa: F811
    """vmlinux types by id; a module's with an fd of that module's BTF object in the high bits."""
    vmlinux_id = find_type_id("task_struct", KIND_STRUCT)
    assert vmlinux_id is not None and find_kernel_btf_id("task_struct", KIND_STRUCT) == vmlinux_id
    found = find_kernel_btf_id("veth_priv", KIND_STRUCT)
    where = _where_veth_priv_lives()
    if where is None or where[0] == "vmlinux":
        assert found == (where and where[1])
        return
    assert found is not None and found >> 32
    fd, type_id = found >> 32, found & 0xFFFFFFFF
    try:
        assert type_id == where[1] and module_btf.module_types("veth").name(type_id) == "veth_priv"
        name = ctypes.create_string_buffer(64)
        info = syscall.BtfInfo(name=ctypes.addressof(name), name_len=len(name))
        syscall.obj_info(fd, info, "module BTF info")
        assert (info.kernel_btf, name.value) == (1, b"veth")
    finally:
        os.close(fd)
