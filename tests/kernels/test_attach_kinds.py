"""Attach kinds the host kernel cannot run (KPROBES off, trampolines refused) through both skeletons
that carry a loader program: the Python skeleton and the light C skeleton. On a kernel that has
the feature (Debian's 6.1 and 6.12, booted by tests/kernels/test_vm_kernels.py) each program must
see exactly the events this test causes; on one that lacks it, the error must name the feature.

The objects are built on the host and loaded unchanged in every kernel (the shared object cache,
$BPF_BUILD_TEST_CACHE): that is the portability claim, tested."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from bpf_build.runtime import BpfRuntimeError
from bpf_build.headers import include_dir
from tests import kernel_facts
from tests.kernels.conftest import cli

pytestmark = pytest.mark.kernel

COUNTER_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_pid = 0;
__u64 hits = 0;

SEC("%(section)s")
int on_event(void *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) == target_pid)
		__sync_fetch_and_add(&hits, 1);
	return %(ret)s;
}

char LICENSE[] SEC("license") = "GPL";
"""

# Modify-return on a syscall's security hook: the syscall itself fails with our errno, an effect
# that only a program which really ran could have.
FMOD_RET_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_pid = 0;
__u64 hits = 0;

SEC("fmod_ret/security_path_notify")
int on_event(void *ctx)
{
	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	__sync_fetch_and_add(&hits, 1);
	return -13; /* -EACCES */
}

char LICENSE[] SEC("license") = "GPL";
"""

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _inotify_add_watch(path: str) -> int:
    """0 when a watch could be added, else the errno (security_path_notify runs on this path)."""
    fd = _libc.inotify_init1(os.O_CLOEXEC)
    assert fd >= 0
    try:
        wd = _libc.inotify_add_watch(fd, path.encode(), 0x100)  # IN_CREATE
        return 0 if wd >= 0 else ctypes.get_errno()
    finally:
        os.close(fd)


def _open_files(n: int) -> None:
    for _ in range(n):
        os.close(os.open("/dev/null", os.O_RDONLY))


# kind -> (section, what the test does to cause exactly n events of ours, the feature it needs)
KINDS = {
    "kprobe": ("kprobe/do_sys_openat2", _open_files, "kprobes"),
    "kretprobe": ("kretprobe/do_sys_openat2", _open_files, "kprobes"),
    "ksyscall": ("ksyscall/getppid", lambda n: [os.getppid() for _ in range(n)], "kprobes"),
    "kretsyscall": ("kretsyscall/getppid", lambda n: [os.getppid() for _ in range(n)], "kprobes"),
    "fentry": ("fentry/do_sys_openat2", _open_files, "trampolines"),
    "fexit": ("fexit/do_sys_openat2", _open_files, "trampolines"),
    "lsm": ("lsm/file_open", _open_files, "bpf lsm"),
    "kprobe.multi": ("kprobe.multi/do_sys_openat2", _open_files, "kprobe_multi"),
    "kretprobe.multi": ("kretprobe.multi/do_sys_openat2", _open_files, "kprobe_multi"),
}


def kernel_has(feature: str) -> bool:
    if feature == "kprobes":
        return kernel_facts.has_kprobes()
    if feature == "kprobe_multi":
        return kernel_facts.kernel_config().get("CONFIG_FPROBE") == "y"
    if feature in ("trampolines", "bpf lsm"):
        # this host runs under a hypervisor that refuses BPF trampolines (EPERM); Debian's
        # kernels booted in our VMs allow them, and list "bpf" among their LSMs.
        return bool(kernel_facts.in_vm()) and (feature != "bpf lsm" or _bpf_lsm_active())
    raise ValueError(feature)


def _bpf_lsm_active() -> bool:
    try:
        return "bpf" in Path("/sys/kernel/security/lsm").read_text().split(",")
    except OSError:
        return "bpf" in kernel_facts.kernel_config().get("CONFIG_LSM", "")


def _expected_error(feature: str) -> str:
    return {"kprobes": r"no kprobe support.*CONFIG_KPROBES",
            "kprobe_multi": r"no kprobe\.multi links.*CONFIG_FPROBE",
            "trampolines": r"(?s)trampoline.*EPERM",
            "bpf lsm": r"(?s)trampoline.*EPERM"}[feature]


def _source(kind: str) -> str:
    section = KINDS[kind][0]
    return COUNTER_C % {"section": section, "ret": "0"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_python_skeleton_attach_kind(python_skeleton, kind):
    section, cause, feature = KINDS[kind]
    cls = python_skeleton(_source(kind), "k_" + kind.replace(".", "_"))
    skel = cls.open()
    skel.rodata.target_pid = os.getpid()
    with skel:
        if not kernel_has(feature):
            with pytest.raises(BpfRuntimeError, match=_expected_error(feature)):
                skel.load()
                skel.attach()
            return
        skel.load()
        skel.attach()
        before = skel.bss.hits
        cause(5)
        assert skel.bss.hits - before == 5, f"{kind}: {skel.bss.hits - before} events of ours, caused 5"
        skel.detach()
        cause(3)
        assert skel.bss.hits - before == 5, f"{kind}: events after detach"


def test_python_skeleton_fmod_ret_changes_the_syscall_result(python_skeleton):
    cls = python_skeleton(FMOD_RET_C, "k_fmod_ret")
    skel = cls.open()
    skel.rodata.target_pid = os.getpid()
    with tempfile.TemporaryDirectory() as watched, skel:
        if not kernel_has("trampolines"):
            with pytest.raises(BpfRuntimeError, match=_expected_error("trampolines")):
                skel.load()
                skel.attach()
            return
        assert _inotify_add_watch(watched) == 0
        skel.load()
        skel.attach()
        assert _inotify_add_watch(watched) == errno.EACCES  # our program's return value
        assert skel.bss.hits == 1
        skel.detach()
        assert _inotify_add_watch(watched) == 0


LIGHT_MAIN_C = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "counter.lskel.h"

static void cause(const char *how, int n)
{
	for (int i = 0; i < n; i++) {
		if (!strcmp(how, "open"))
			close(open("/dev/null", O_RDONLY));
		else
			syscall(SYS_getppid);
	}
}

int main(int argc, char **argv)
{
	struct counter_bpf *skel = counter_bpf__open();
	int err;

	if (!skel)
		return 2;
	skel->rodata->target_pid = getpid();
	err = counter_bpf__load(skel);
	if (!err)
		err = counter_bpf__attach(skel);
	if (err) {
		printf("error %d errno %d\n", err, errno);
		counter_bpf__destroy(skel);
		return 1;
	}
	cause(argv[1], 5);
	printf("hits %llu\n", (unsigned long long)skel->bss->hits);
	counter_bpf__destroy(skel);
	return 0;
}
"""


def _light_c_program(obj: str, tmp_path: Path) -> None:
    """The light skeleton of ``obj`` and LIGHT_MAIN_C, built into ``tmp_path``/main."""
    cli("skel", "--light", obj, "-o", str(tmp_path / "counter.lskel.h"))
    (tmp_path / "main.c").write_text(LIGHT_MAIN_C)
    subprocess.run(["gcc", "-O1", "-I", include_dir(), "-I", str(tmp_path), str(tmp_path / "main.c"),
                    "-o", str(tmp_path / "main")], check=True, capture_output=True)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_light_c_skeleton_attach_kind(compile_c, cached_output, kind):
    section, cause, feature = KINDS[kind]
    obj = compile_c(_source(kind), name="counter")
    runtime_header = Path(include_dir(), "bpf_build", "loader.h").read_bytes()

    def build(exe: Path) -> None:
        _light_c_program(obj, exe.parent)
    exe = cached_output("main", Path(obj).read_bytes() + LIGHT_MAIN_C.encode() + runtime_header, build)
    how = "open" if cause is _open_files else "getppid"
    ran = subprocess.run([str(exe), how], capture_output=True, text=True, timeout=120)
    if not kernel_has(feature):
        assert ran.returncode == 1, ran.stdout + ran.stderr
        expected_errno = {"trampolines": errno.EPERM, "bpf lsm": errno.EPERM,
                          "kprobe_multi": errno.EOPNOTSUPP}.get(feature)
        if expected_errno is not None:
            assert f"errno {expected_errno}" in ran.stdout, ran.stdout + ran.stderr
        return
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.split() == ["hits", "5"], ran.stdout + ran.stderr


CORE_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct { int pid; int tgid; } __attribute__((preserve_access_index));
extern int CONFIG_HZ __kconfig;
extern int LINUX_KERNEL_VERSION __kconfig;

__u64 pid_offset, tgid_offset, hz, version, tgid_read;

SEC("raw_tp/sys_enter")
int layout(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	pid_offset = bpf_core_field_offset(struct task_struct, pid);
	tgid_offset = bpf_core_field_offset(struct task_struct, tgid);
	hz = CONFIG_HZ;
	version = LINUX_KERNEL_VERSION;
	tgid_read = BPF_CORE_READ(t, tgid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
"""


def _member_offset(struct: str, member: str) -> int:
    from bpf_build.model import btf as B
    vmlinux = kernel_facts._vmlinux_btf()
    t = vmlinux.types[vmlinux.find(struct, B.STRUCT) - vmlinux.start_id]
    (m,) = [m for m in t.members if m.name == member]
    return m.offset // 8


def test_one_object_gets_each_kernels_layout_and_config(python_skeleton):
    """CO-RE offsets and kconfig values are the running kernel's, not the build host's."""
    cls = python_skeleton(CORE_C, "k_core")
    with cls.open_and_load() as skel:
        skel.attach()
        os.getppid()
        seen = skel.bss
        assert seen.tgid_read != 0
        assert seen.pid_offset == _member_offset("task_struct", "pid")
        assert seen.tgid_offset == _member_offset("task_struct", "tgid")
        assert seen.hz == int(kernel_facts.kernel_config()["CONFIG_HZ"])
        major, minor = kernel_facts.kernel_version()
        assert seen.version >> 8 == (major << 8) | minor
