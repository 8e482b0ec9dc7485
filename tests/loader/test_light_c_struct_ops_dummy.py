"""The kernel's bpf_dummy_ops from a C light skeleton (tests/runtime/progs/struct_ops_dummy.bpf.c):
X__load creates the map and loads the programs without writing the value, as libbpf's load does,
so the programs run with BPF_PROG_TEST_RUN (their context: the u64 argument array; test_1's state
pointer copied in and back out by the kernel); X__attach writes the value, which this type refuses:
one error code, and after X__destroy no fd left. Where the kernel lacks the type (5.10) or struct_ops
links (6.1, for SEC(".struct_ops.link")) the load fails with one line saying so.

skel->struct_ops_autocreate.<map>, libbpf's autocreate: off by default for SEC("?.struct_ops") and
SEC("?.struct_ops.link"), when the map is absent after the load, its programs too unless a created
map points at them; switched on, the map loads as the plain section's does."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest

from bpf_build.headers import include_dir
from bpf_build.model.elf import Object
from bpf_build.skel.light_c import generate
from tests.runtime.test_struct_ops import _kernel_has_struct_ops_links
from tests.runtime.test_struct_ops_dummy import SOURCE, kernel_has_dummy_ops

FDS_H = Path(__file__).resolve().parent / "c" / "fds.h"  # open_fds()

# Prints one line per step: the load's outcome, each program's return value and the state it left,
# the attach's return value, and the open fds before the load and after X__destroy.
HEAD = r"""
#include "dummy.lskel.h"
#include "fds.h"

static int run(int prog_fd, __u64 *args, __u32 nr_args, int *retval)
{
	struct bpf_build_attr_test_run tr;

	memset(&tr, 0, sizeof(tr));
	tr.prog_fd = (__u32)prog_fd;
	tr.ctx_in = (__u64)(unsigned long)args;
	tr.ctx_size_in = nr_args * sizeof(__u64);
	if (bpf_build_sys_bpf(BPF_BUILD_CMD_PROG_TEST_RUN, &tr, sizeof(tr)) < 0)
		return -errno;
	*retval = (int)tr.retval;
	return 0;
}

/* X__load; on failure X__destroy and the errno and the fds (before the load, now) printed. */
static int load(struct dummy *skel, int fds)
{
	int err;

	if (!dummy__load(skel))
		return 0;
	err = errno;
	dummy__destroy(skel);
	printf("load failed %d fds %d %d\n", err, fds, open_fds());
	return -1;
}

/* X__attach's result, then X__destroy and the fds (before the load, now) printed. */
static void attach_and_destroy(struct dummy *skel, int fds)
{
	printf("attach %d\n", dummy__attach(skel));
	dummy__destroy(skel);
	printf("destroyed fds %d %d\n", fds, open_fds());
}
"""

DRIVER = HEAD + r"""
int main(void)
{
	int fds = open_fds(), err, ret = 0;
	struct dummy *skel = dummy__open();
	struct { int val; } state = { 7 };
	__u64 args[5];

	if (!skel)
		return 2;
	if (load(skel, fds))
		return 0;
	args[0] = (__u64)(unsigned long)&state;
	err = run(skel->progs.dummy_test_1.prog_fd, args, 1, &ret);
	printf("test_1 %d %d %d\n", err, ret, state.val);
	args[1] = (__u64)(__s64)-5;
	args[2] = 65535;
	args[3] = 3;
	args[4] = 1ULL << 40;
	err = run(skel->progs.dummy_test_2.prog_fd, args, 5, &ret);
	printf("test_2 %d %d %llu %u\n", err, ret, (unsigned long long)skel->bss->test_2_sum, skel->bss->test_2_calls);
	attach_and_destroy(skel, fds);
	return 0;
}
"""


@pytest.mark.kernel
@pytest.mark.parametrize("section", [".struct_ops.link", ".struct_ops"])
def test_dummy_ops_programs_run_and_attach_is_refused(compile_c, build_native, gcc, kernel, tmp_path, section):
    header = generate(Object.read(compile_c(SOURCE, "dummy", cflags=("-mcpu=v3", f'-DSECTION="{section}"'))),
                      "dummy")
    (tmp_path / "dummy.lskel.h").write_text(header)
    (tmp_path / "driver.c").write_text(DRIVER)
    exe = build_native("dummy_driver", ["gcc", "-Wall", "-Wextra", "-Werror", "-O1", "-I", include_dir(),
                                        "-I", tmp_path, "-I", FDS_H.parent, tmp_path / "driver.c"],
                       [tmp_path / "dummy.lskel.h", tmp_path / "driver.c", FDS_H])
    ran = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    lines = [line.split() for line in ran.stdout.splitlines()]
    fds_before, fds_after = lines[-1][-2:]
    assert fds_before == fds_after, ran.stdout
    if not kernel_has_dummy_ops():  # 5.10: before bpf_dummy_ops (5.16)
        assert lines[0][:3] == ["load", "failed", str(errno.EOPNOTSUPP)], ran.stdout
        assert "it registers no struct_ops type 'struct bpf_dummy_ops'" in ran.stderr and \
            ran.stderr.count("\n") == 1, ran.stderr
        return
    if section == ".struct_ops.link" and not _kernel_has_struct_ops_links():  # 6.1
        assert lines[0][:3] == ["load", "failed", str(errno.EOPNOTSUPP)], ran.stdout
        assert "no BPF links for struct_ops (Linux 6.4+)" in ran.stderr and ran.stderr.count("\n") == 1, ran.stderr
        return
    assert lines[0] == ["test_1", "0", "21", "1007"], ran.stdout  # 7 * 3, the state left at 7 + 1000
    assert lines[1] == ["test_2", "0", "4", str((1 << 40) + 65535 + 3 - 5), "1"], ran.stdout
    # the kernel never registers dummy ops: the value's write is refused, no link is made
    assert lines[2] == ["attach", str(-errno.EOPNOTSUPP)], ran.stdout
    assert ran.stderr == "", ran.stderr


# argv[1]: "default" leaves dummy_ops's autocreate as the skeleton starts it, "on"/"off" set it; test_2 is
# asked to load (overruled when no created map points at it). Prints the autocreate X__open set, the
# load's outcome, which maps and programs have fds, test_1's run, the attach, and the fds.
AUTOCREATE_DRIVER = HEAD + r"""
int main(int argc, char **argv)
{
	int fds = open_fds(), err, ret = 0;
	struct dummy *skel = dummy__open();
	struct { int val; } state = { 7 };
	__u64 args[1];

	if (!skel || argc != 2)
		return 2;
	printf("autocreate %d\n", skel->struct_ops_autocreate.dummy_ops);
	if (strcmp(argv[1], "default"))
		skel->struct_ops_autocreate.dummy_ops = strcmp(argv[1], "on") == 0;
	skel->progs.dummy_test_2.load = BPF_BUILD_LOAD_YES;
	if (load(skel, fds))
		return 0;
	printf("maps %d", skel->maps.dummy_ops.map_fd > 0);
#ifdef SECOND_MAP
	printf(" %d", skel->maps.dummy_ops_2.map_fd > 0);
#endif
	printf(" progs %d %d\n", skel->progs.dummy_test_1.prog_fd > 0, skel->progs.dummy_test_2.prog_fd > 0);
	if (skel->progs.dummy_test_1.prog_fd > 0) {
		args[0] = (__u64)(unsigned long)&state;
		err = run(skel->progs.dummy_test_1.prog_fd, args, 1, &ret);
		printf("test_1 %d %d %d\n", err, ret, state.val);
	}
	attach_and_destroy(skel, fds);
	return 0;
}
"""


def run_autocreate_driver(compile_c, build_native, tmp_path, section, setting, second_map=False):
    """The driver's output lines (split), after checking it exited well and left no fd open."""
    defines = ("-DSECOND_MAP",) if second_map else ()
    obj = Object.read(compile_c(SOURCE, f"dummy_opt{len(section)}{len(defines)}",
                                cflags=("-mcpu=v3", f'-DSECTION="{section}"', *defines)))
    (tmp_path / "dummy.lskel.h").write_text(generate(obj, "dummy"))
    (tmp_path / "driver.c").write_text(AUTOCREATE_DRIVER)
    exe = build_native("dummy_autocreate_driver", ["gcc", "-Wall", "-Wextra", "-Werror", "-O1", *defines,
                                                   "-I", include_dir(), "-I", tmp_path, "-I", FDS_H.parent,
                                                   tmp_path / "driver.c"],
                       [tmp_path / "dummy.lskel.h", tmp_path / "driver.c", FDS_H])
    ran = subprocess.run([str(exe), setting], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    lines = [line.split() for line in ran.stdout.splitlines()]
    fds_before, fds_after = lines[-1][-2:]
    assert fds_before == fds_after, ran.stdout
    return lines, ran.stderr


@pytest.mark.kernel
@pytest.mark.parametrize("section", ["?.struct_ops.link", "?.struct_ops"])
def test_optional_map_is_created_only_when_asked(compile_c, build_native, kernel, tmp_path, section):
    """Off by default: the map, and its programs though test_2 asked to load, are absent on every
    kernel (the kernel's BTF is not read), attach has nothing to do; on: it loads and runs as the
    plain section does, or fails with the plain section's clear error."""
    lines, stderr = run_autocreate_driver(compile_c, build_native, tmp_path, section, "default")
    assert lines[:3] == [["autocreate", "0"], ["maps", "0", "progs", "0", "0"], ["attach", "0"]], lines
    assert stderr == "", stderr
    lines, stderr = run_autocreate_driver(compile_c, build_native, tmp_path, section, "on")
    if not kernel_has_dummy_ops():  # 5.10
        assert lines[1][:3] == ["load", "failed", str(errno.EOPNOTSUPP)], lines
        assert "it registers no struct_ops type 'struct bpf_dummy_ops'" in stderr and stderr.count("\n") == 1, stderr
        return
    if section == "?.struct_ops.link" and not _kernel_has_struct_ops_links():  # 6.1
        assert lines[1][:3] == ["load", "failed", str(errno.EOPNOTSUPP)], lines
        assert "no BPF links for struct_ops (Linux 6.4+)" in stderr and stderr.count("\n") == 1, stderr
        return
    assert lines[1:4] == [["maps", "1", "progs", "1", "1"], ["test_1", "0", "21", "1007"],
                          ["attach", str(-errno.EOPNOTSUPP)]], lines
    assert stderr == "", stderr


@pytest.mark.kernel
def test_a_program_another_created_map_uses_still_loads(compile_c, build_native, kernel, tmp_path):
    """libbpf's rule: with dummy_ops off, test_1 (dummy_ops_2 points at it too) loads and runs,
    test_2 (only dummy_ops's) does not, though asked to."""
    lines, stderr = run_autocreate_driver(compile_c, build_native, tmp_path, ".struct_ops", "off", second_map=True)
    assert lines[0] == ["autocreate", "1"], lines
    if not kernel_has_dummy_ops():  # 5.10: dummy_ops_2 is still laid out
        assert lines[1][:3] == ["load", "failed", str(errno.EOPNOTSUPP)], lines
        assert "struct_ops map 'dummy_ops_2'" in stderr and "'struct bpf_dummy_ops'" in stderr, stderr
        return
    assert lines[1:4] == [["maps", "0", "1", "progs", "1", "0"], ["test_1", "0", "21", "1007"],
                          ["attach", str(-errno.EOPNOTSUPP)]], lines
    assert stderr == "", stderr
