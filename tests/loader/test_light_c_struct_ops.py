"""struct_ops maps from C light skeletons: the TCP congestion control of
tests/runtime/progs/struct_ops_reno.bpf.c built into a light skeleton, loaded by a C program on this
kernel, selected with TCP_CONGESTION in a fresh network namespace and shown to be called, for
SEC(".struct_ops.link") (registered by X__attach's link, gone after X__detach) and SEC(".struct_ops")
(registered by X__attach's write of the value, gone after X__detach): the load writes no value, as
libbpf's; loader.h's layout checked byte for byte against the Python runtime's on a stand-in kernel
BTF; a kernel BTF without the type, truncated or corrupt gives one clear line and closes every fd."""

from __future__ import annotations

import errno
import os
import re
import struct
import subprocess
from pathlib import Path
from typing import List

import pytest

from bpf_build.headers import include_dir
from bpf_build.loader.gen import generate_loader
from bpf_build.loader.open import open_object
from bpf_build.model.elf import Object
from bpf_build.runtime import btf_types
from bpf_build.runtime.struct_ops import resolve_struct_ops
from bpf_build.skel.c import embedded_bytes_literal
from bpf_build.skel.light_c import generate
from bpf_build.skel.light_struct_ops import struct_ops_tables
from tests.runtime.test_struct_ops import (FAKE_KERNEL, SOURCE, _available, _check_with_bpftool, _flags,
                                           _kernel_has_struct_ops_links, _spec, _traffic, _wait_gone,
                                           needs_tcp_struct_ops)

LOADER_H = Path(include_dir(), "bpf_build", "loader.h")

# Paced by the test through stdin: each line it prints waits for one line back. STAND_IN_BTF, when
# set, replaces the kernel's BTF (the error tests). Prints the open fds before the load and after
# destroy: the skeleton closes what it made, whether the load worked or not.
FDS_H = Path(__file__).resolve().parent / "c" / "fds.h"  # open_fds()
DRIVER = r"""
#include <stdlib.h>
#define BPF_BUILD_KERNEL_BTF_PATH \
	(getenv("STAND_IN_BTF") ? getenv("STAND_IN_BTF") : "/sys/kernel/btf/vmlinux")
#include "reno.lskel.h"
#include "fds.h"

static void step(const char *what)
{
	char line[64];

	printf("%s\n", what);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		exit(4);
}

int main(void)
{
	int fds = open_fds(), err;
	struct reno *skel = reno__open();
	char text[96];

	if (!skel)
		return 2;
	if (getenv("RENAME"))	/* a data member set between open and load */
		snprintf(skel->struct_ops.ca_ops->name, sizeof(skel->struct_ops.ca_ops->name), "%s", getenv("RENAME"));
	if (reno__load(skel)) {
		err = errno;
		reno__destroy(skel);
		printf("load failed %d fds %d %d\n", err, fds, open_fds());
		return 3;
	}
	step("loaded");
	err = reno__attach(skel);
	if (err) {
		reno__destroy(skel);
		printf("attach failed %d fds %d %d\n", -err, fds, open_fds());
		return 5;
	}
#ifdef LINKED	/* a .struct_ops.link map: its link fd */
	snprintf(text, sizeof(text), "attached %d", skel->links.ca_ops_fd > 0);
#else
	snprintf(text, sizeof(text), "attached");
#endif
	step(text);
	snprintf(text, sizeof(text), "counters %llu %llu", (unsigned long long)skel->bss->init_calls,
		 (unsigned long long)skel->bss->cong_avoid_calls);
	step(text);
	reno__detach(skel);
	step("detached");
	reno__destroy(skel);
	printf("destroyed fds %d %d\n", fds, open_fds());
	return 0;
}
"""

# loader.h's layout alone, against STAND_IN_BTF: "layout" writes the blob as prepared, then the
# value laid out and its (program index, offset) pairs as u32 (or fails like a skeleton); "fuzz" lays out every truncation and many corruptions of that BTF, which must
# each succeed or fail cleanly (built with AddressSanitizer where gcc has it).
LAYOUT = r"""
#include <stdlib.h>
#define BPF_BUILD_KERNEL_BTF_PATH getenv("STAND_IN_BTF")
#include <bpf_build/loader.h>

static const char blob_data[] __attribute__((__aligned__(8))) = "\
BLOB";

static int lay_out(const unsigned char *btf_bytes, size_t size, const struct bpf_build_struct_ops_map *maps)
{
	struct bpf_build_btf btf;
	struct bpf_build_struct_ops_value value;
	unsigned char *blob = (unsigned char *)malloc(sizeof(blob_data));
	char msg[512];
	int err = -EINVAL;

	memset(&value, 0, sizeof(value));
	memset(&btf, 0, sizeof(btf));
	btf.data = (unsigned char *)malloc(size ? size : 1);
	memcpy(btf.data, btf_bytes, size);
	btf.size = size;
	memcpy(blob, blob_data, sizeof(blob_data));
	if (!bpf_build_btf_parse(&btf))
		err = bpf_build_struct_ops_fill(&btf, blob, sizeof(blob_data) - 1, &maps[0], &value, msg, sizeof(msg));
	bpf_build_struct_ops_values_free(&value, 1);
	bpf_build_btf_free(&btf);
	free(blob);
	return err;
}

int main(int argc, char **argv)
{
TABLES
	struct bpf_build_struct_ops_value values[1];
	void *blob;
	size_t size, pos;
	unsigned char *btf;
	int outcomes[2] = { 0, 0 };
	unsigned v;

	if (argc > 1 && strcmp(argv[1], "fuzz") == 0) {
		btf = (unsigned char *)bpf_build_read_file(getenv("STAND_IN_BTF"), &size);
		for (pos = 0; pos <= size; pos++)
			outcomes[lay_out(btf, pos, struct_ops) == 0]++;
		for (pos = 0; pos < size; pos++) {
			for (v = 0; v < 4; v++) {
				unsigned char saved = btf[pos];

				btf[pos] = (unsigned char[]){ 0xff, 0x00, 0x7f, (unsigned char)(saved + 1) }[v];
				outcomes[lay_out(btf, size, struct_ops) == 0]++;
				btf[pos] = saved;
			}
		}
		free(btf);
		printf("failed %d laid out %d\n", outcomes[0], outcomes[1]);
		return 0;
	}
	memset(values, 0, sizeof(values));
	if (bpf_build_struct_ops_prepare(blob_data, sizeof(blob_data) - 1, struct_ops, 1, "layout", 0, &blob, values))
		return 3;
	fwrite(blob, 1, sizeof(blob_data) - 1, stdout);
	fwrite(values[0].value, 1, values[0].size, stdout);
	fwrite(values[0].progs, 4, 2 * values[0].nr_progs, stdout);
	free(blob);
	bpf_build_struct_ops_values_free(values, 1);
	return 0;
}
"""


def _gcc(*args: str) -> None:
    built = subprocess.run(["gcc", "-Wall", "-Wextra", "-Werror", "-O1", "-I", include_dir(), *args],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr


def _driver(compile_c, cached_output, section: str, name: str, source: str = SOURCE) -> Path:
    """The C driver built against the light skeleton of ``source`` compiled for ``section``."""
    header = generate(Object.read(compile_c(source, "reno", cflags=_flags(section, name))), "reno")

    def build(exe: Path) -> None:
        (exe.parent / "reno.lskel.h").write_text(header)
        (exe.parent / "driver.c").write_text(DRIVER)
        _gcc("-I", str(exe.parent), "-I", str(FDS_H.parent), *(["-DLINKED"] if section == ".struct_ops.link" else []),
             str(exe.parent / "driver.c"), "-o", str(exe))
    return cached_output("reno_driver", header + DRIVER + LOADER_H.read_text() + FDS_H.read_text(), build)


class _Run:
    """The driver, paced one step at a time."""

    def __init__(self, exe: Path, env=None):
        self.proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env)

    def next(self) -> List[str]:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().split()

    def go(self) -> List[str]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return self.next()

    def finish(self) -> str:
        out, err = self.proc.communicate(timeout=60)
        return out + err


def _assert_all_closed(words: List[str]) -> None:
    """``... fds BEFORE AFTER``: as many fds open after as before."""
    before, after = words[-2:]
    assert before == after, f"fds open before the load {before}, after {after}"


@pytest.mark.kernel
@needs_tcp_struct_ops
def test_link_struct_ops_registers_with_its_link(compile_c, cached_output, gcc, kernel):
    name = "bbt_lc_link"
    run = _Run(_driver(compile_c, cached_output, ".struct_ops.link", name))
    if not _kernel_has_struct_ops_links():  # 6.1: refused before anything is created, saying why
        words = run.next()
        stderr = run.finish()
        assert words[:3] == ["load", "failed", str(errno.EOPNOTSUPP)], stderr
        assert "no BPF links for struct_ops (Linux 6.4+)" in stderr and stderr.count("\n") == 1, stderr
        _assert_all_closed(words)
        assert name not in _available()
        return
    assert run.next() == ["loaded"]
    assert name not in _available()  # a .struct_ops.link map registers with its link
    assert run.go() == ["attached", "1"]
    assert name in _available()
    _check_with_bpftool("ca_ops", name)
    assert _traffic(name) == (name, 64 << 16)
    words = run.go()
    assert words[0] == "counters" and int(words[1]) >= 1 and int(words[2]) > 0, words
    assert run.go() == ["detached"]
    assert _wait_gone(name), f"{name} still registered after reno__detach()"
    words = run.go()
    assert words[:2] == ["destroyed", "fds"], run.finish()
    _assert_all_closed(words)
    assert run.proc.wait(10) == 0, run.finish()


@pytest.mark.kernel
@needs_tcp_struct_ops
def test_legacy_struct_ops_registers_on_attach_until_detach(compile_c, cached_output, gcc, kernel):
    name = "bbt_lc_renamed"  # set through skel->struct_ops.ca_ops->name before load
    run = _Run(_driver(compile_c, cached_output, ".struct_ops", "bbt_lc_legacy"), env={**os.environ, "RENAME": name})
    assert run.next() == ["loaded"], run.finish()
    assert name not in _available()  # the load writes no value (libbpf's order)
    assert run.go() == ["attached"]  # the value's write registered it: no link
    assert name in _available()
    assert _traffic(name)[0] == name
    words = run.go()
    assert words[0] == "counters" and int(words[2]) > 0, words
    assert run.go() == ["detached"]
    assert _wait_gone(name), f"{name} still registered after reno__detach()"
    words = run.go()
    assert words[:2] == ["destroyed", "fds"], run.finish()
    _assert_all_closed(words)


@pytest.mark.kernel
@needs_tcp_struct_ops
def test_a_failed_attach_then_destroy_unregisters_and_closes_everything(compile_c, cached_output, gcc, kernel):
    """The second map's write fails (its name is reno's, registered already) after the first
    registered itself: X__attach returns the kernel's error, and X__destroy unregisters the first
    and closes every fd."""
    name = "bbt_lc_first"
    ops = SOURCE[SOURCE.index("SEC(SECTION)"):SOURCE.index("char LICENSE")]
    duplicate = SOURCE + ops.replace("ca_ops", "ca_dup").replace(".name = NAME", '.name = "reno"')
    run = _Run(_driver(compile_c, cached_output, ".struct_ops", name, duplicate))
    assert run.next() == ["loaded"], run.finish()
    words = run.go()
    stderr = run.finish()
    assert words[:3] == ["attach", "failed", str(errno.EEXIST)], (words, stderr)
    _assert_all_closed(words)
    assert _wait_gone(name), f"{name} stayed registered after the failed attach and X__destroy"


def _stand_in_btf(compile_c, tmp_path: Path, cflags=()) -> Path:
    """FAKE_KERNEL's BTF as a raw file: the kernel's struct_ops types without the kernel."""
    path = tmp_path / "stand_in.btf"
    path.write_bytes(Object.read(compile_c(FAKE_KERNEL, "fake_kernel", cflags=cflags)).btf.encode())
    return path


def _error_case(tmp_path: Path, compile_c, case: str) -> Path:
    if case == "no struct_ops":  # a BTF without bpf_struct_ops_* types: the object's own
        path = tmp_path / "object.btf"
        path.write_bytes(Object.read(compile_c(SOURCE, "reno", cflags=_flags(".struct_ops.link", "bbt_err"))).btf.encode())
        return path
    if case == "no links":
        return _stand_in_btf(compile_c, tmp_path)
    if case == "no type":  # struct_ops, but not this type: its value type renamed to the common one
        path = tmp_path / "no_type.btf"
        data = _stand_in_btf(compile_c, tmp_path, ("-DLINKS",)).read_bytes()
        path.write_bytes(data.replace(b"bpf_struct_ops_tcp_congestion_ops\0", b"bpf_struct_ops_value\0".ljust(33, b"x")
                                      + b"\0"))
        return path
    if case == "missing":
        return tmp_path / "no_such.btf"
    data = _stand_in_btf(compile_c, tmp_path, ("-DLINKS",)).read_bytes()
    if case == "truncated":
        data = data[:len(data) // 2]
    else:  # a member count running past the type section (the anonymous list struct's: 2)
        assert b"\x02\x00\x00\x04" in data
        data = data.replace(b"\x02\x00\x00\x04", b"\xff\xff\x00\x04", 1)
    path = tmp_path / f"{case}.btf"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case, message", [
    ("no struct_ops", r"reno: struct_ops map 'ca_ops': struct_ops cannot load on this kernel \(.*\): it has no "
                      r"struct_ops support \(Linux 5\.6\+ with CONFIG_BPF_JIT\)"),
    ("no type", r"reno: struct_ops map 'ca_ops': struct_ops cannot load on this kernel \(.*\): it registers no "
                r"struct_ops type 'struct tcp_congestion_ops' \('struct bpf_struct_ops_tcp_congestion_ops' is not in "
                r"its BTF\)"),
    ("no links", r"reno: struct_ops map 'ca_ops': SEC\(\"\.struct_ops\.link\"\) cannot load on this kernel \(.*\): "
                 r"it has no BPF links for struct_ops \(Linux 6\.4\+\); SEC\(\"\.struct_ops\"\) registers without one"),
    ("missing", r"reno: struct_ops needs the kernel's BTF: .*no_such\.btf: No such file or directory"),
    ("truncated", r"reno: struct_ops needs the kernel's BTF: .*truncated\.btf: a section runs past the end of the file"),
    ("corrupt", r"reno: struct_ops needs the kernel's BTF: .*corrupt\.btf: the type section ends inside a type"),
])
def test_an_unusable_kernel_btf_is_one_clear_line(compile_c, cached_output, gcc, tmp_path, case, message):
    """Refused before the loader runs (no bpf() call: no privilege needed), nothing left open."""
    run = _Run(_driver(compile_c, cached_output, ".struct_ops.link", "bbt_err"),
               env={**os.environ, "STAND_IN_BTF": str(_error_case(tmp_path, compile_c, case))})
    words = run.next()
    stderr = run.finish()
    expected = errno.ENOENT if case == "missing" else errno.EINVAL if case in ("truncated", "corrupt") \
        else errno.EOPNOTSUPP
    assert words[:3] == ["load", "failed", str(expected)], stderr
    assert re.fullmatch(message + "\n", stderr), stderr
    _assert_all_closed(words)


def _layout_program(compile_c, cached_output, source: str = SOURCE, sanitize: bool = False):
    obj = Object.read(compile_c(source, "st_layout", cflags=_flags(".struct_ops.link", "bbt_fake")))
    loader = generate_loader(open_object(obj, "st_layout"))
    text = LAYOUT.replace("BLOB", embedded_bytes_literal(loader.blob)) \
        .replace("TABLES", "".join(f"\tstatic const char data_{i}[] = \"\\\n{embedded_bytes_literal(ops.data)}\";\n"
                                   for i, ops in enumerate(loader.struct_ops))
                 + struct_ops_tables(loader, [m.name for m in loader.maps],
                                     [(f"data_{i}", f"sizeof(data_{i}) - 1") for i in range(len(loader.struct_ops))]))
    flags = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"] if sanitize else []

    def build(exe: Path) -> None:
        (exe.parent / "layout.c").write_text(text)
        _gcc(*flags, str(exe.parent / "layout.c"), "-o", str(exe))
    exe = cached_output("layout", text + LOADER_H.read_text() + " ".join(flags), build)
    return exe, loader


def test_the_layout_is_the_python_runtimes(compile_c, cached_output, gcc, tmp_path):
    """On a stand-in kernel BTF (members in another order, other offsets), loader.h writes the
    very blob and lays out the very value runtime/struct_ops.py does."""
    btf = _stand_in_btf(compile_c, tmp_path, ("-DLINKS",))
    exe, loader = _layout_program(compile_c, cached_output)
    ran = subprocess.run([str(exe)], capture_output=True, env={**os.environ, "STAND_IN_BTF": str(btf)})
    assert ran.returncode == 0, ran.stderr.decode()
    blob, (value,) = resolve_struct_ops(loader.blob, [_spec(s) for s in loader.struct_ops], loader.map_attr_offsets,
                                        loader.prog_attr_offsets, [m.name for m in loader.maps],
                                        btf=btf_types.BtfTypes(btf.read_bytes(), "stand-in kernel BTF"))
    pairs = b"".join(struct.pack("=2I", prog, offset) for prog, offset in value.programs)
    assert ran.stdout == blob + value.value + pairs and blob != loader.blob and len(value.programs) == 4


@pytest.mark.parametrize("change, replacement, message", [
    ("char name[16];", "char name[8];", "member 'name' is 8 bytes in the object, 16 in this kernel"),
    (".name = NAME,", ".name = NAME, .flags = 1, .no_such_member = 1,", "this kernel .* has no member 'no_such_member'"),
])
def test_members_are_matched_by_name_and_size(compile_c, cached_output, gcc, tmp_path, change, replacement,
                                              message):
    source = SOURCE.replace(change, replacement)
    if "no_such" in replacement:
        source = source.replace("unsigned int flags;", "unsigned int flags;\n\tint no_such_member;")
    exe, _ = _layout_program(compile_c, cached_output, source)
    ran = subprocess.run([str(exe)], capture_output=True, text=True,
                         env={**os.environ, "STAND_IN_BTF": str(_stand_in_btf(compile_c, tmp_path, ("-DLINKS",)))})
    assert ran.returncode == 3
    assert re.fullmatch(f"layout: struct_ops map 'ca_ops' \\(struct tcp_congestion_ops\\): {message}\n", ran.stderr)


def test_no_truncation_or_corruption_of_the_btf_reads_out_of_bounds(compile_c, cached_output, gcc, tmp_path):
    """Every truncation and four corruptions of every byte of a kernel-like BTF: each is laid out
    or refused, under AddressSanitizer and UBSan (any stray read aborts the run)."""
    btf = _stand_in_btf(compile_c, tmp_path, ("-DLINKS",))
    exe, _ = _layout_program(compile_c, cached_output, sanitize=True)
    ran = subprocess.run([str(exe), "fuzz"], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "STAND_IN_BTF": str(btf), "ASAN_OPTIONS": "detect_leaks=1"})
    assert ran.returncode == 0, ran.stderr[-4000:]
    failed, laid_out = int(ran.stdout.split()[1]), int(ran.stdout.split()[4])
    size = btf.stat().st_size
    assert failed + laid_out == size + 1 + 4 * size
    assert failed > size and laid_out > size  # truncations fail; many corruptions (names, sizes) do not



def test_the_skeleton_compiles_as_cplusplus(compile_c, gcc, tmp_path):
    """The shadow struct, the tables and their layout checks compile in C++ too (gcc's g++)."""
    header = generate(Object.read(compile_c(SOURCE, "reno", cflags=_flags(".struct_ops.link", "bbt_cxx"))), "reno")
    (tmp_path / "reno.lskel.h").write_text(header)
    (tmp_path / "driver.cc").write_text(DRIVER)
    built = subprocess.run(["g++", "-Wall", "-Wextra", "-Werror", "-DLINKED", "-I", include_dir(), "-I",
                            str(tmp_path), "-I", str(FDS_H.parent), "-c", str(tmp_path / "driver.cc"), "-o", str(tmp_path / "driver.o")],
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
