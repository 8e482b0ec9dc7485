"""C light skeletons: generated headers compiled with gcc and run against the real kernel; the
same C programs compiled against bpftool's light skeletons where bpftool can make one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bpf_build.model.elf import Object
from bpf_build.headers import include_dir
from bpf_build.skel.light_c import generate

from .conftest import LOADABLE_CASES, missing_kfunc

C_DIR = Path(__file__).resolve().parent / "c"
# Where bpftool 7.1 (libbpf 1.1) cannot make a working light skeleton: PROG_ARRAY initial slots
# (-ENOTSUP), SEC("?...") programs (not loaded, yet X__attach tries to attach them and fails),
# SEC("tcx/ingress") (unknown to libbpf 1.1), and a typed ksym of a function (its loader looks it
# up as a VAR and fails).
BPFTOOL_FAILS = {"tailcall", "optional", "tracing", "tc", "externs"}
BPFTOOL_CASES = [c for c in LOADABLE_CASES if c not in BPFTOOL_FAILS] + ["rejected"]


def kallsyms_addr(name: str) -> str:
    with open("/proc/kallsyms") as f:
        for line in f:
            parts = line.split()
            if parts[2] == name:
                return parts[0]
    raise LookupError(name)


def case_args(case: str):
    if case != "externs":
        return []
    from .runner import read_kconfig
    return [read_kconfig()["CONFIG_HZ"], kallsyms_addr("bpf_iter_num_new"), kallsyms_addr("__x64_sys_getpid")]


def build_light_c(build_native, gcc, case: str, header: Path, extra_flags=(), warnings=True) -> Path:
    """The C test of ``case`` built against the light skeleton ``header``."""
    checks = ["-Wall", "-Werror"] if warnings else []
    return build_native(f"{case}.test", [gcc, *checks, "-O1", "-I", include_dir(), "-I", header.parent,
                                         f"-DSKEL_HEADER=\"{header.name}\"", *extra_flags, C_DIR / f"{case}.c"],
                        [header, C_DIR / f"{case}.c", C_DIR / "common.h"])


def build_and_run(build_native, gcc, case: str, header: Path, extra_flags=()):
    exe = build_light_c(build_native, gcc, case, header, extra_flags)
    ran = subprocess.run([str(exe), *case_args(case)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and ran.stdout.strip().endswith("ok"), ran.stdout + ran.stderr
    return ran


@pytest.mark.kernel
@pytest.mark.parametrize("case", LOADABLE_CASES + ["rejected"])
def test_light_skeleton_in_c(corpus_object, build_native, gcc, kernel, tracefs, tmp_path, case):
    header = tmp_path / f"{case}.lskel.h"
    header.write_text(generate(Object.read(corpus_object(case)), f"{case}_bpf"))
    missing = missing_kfunc(case)
    if missing:  # the load fails at the kfunc's look-up, and says so on stderr
        exe = build_light_c(build_native, gcc, case, header, warnings=False)
        ran = subprocess.run([str(exe), "0", "0", "0"], capture_output=True, text=True, timeout=60)
        assert ran.returncode != 0 and f'"{missing}"' in ran.stderr.replace('\\"', '"'), ran.stderr
        return
    ran = build_and_run(build_native, gcc, case, header)
    if case == "rejected":  # the failure names its step and shows the verifier log on stderr
        assert 'load prog \\"out_of_bounds\\"' in ran.stderr or 'load prog "out_of_bounds"' in ran.stderr
        assert "invalid access to map value" in ran.stderr


@pytest.mark.oracle
@pytest.mark.kernel
@pytest.mark.parametrize("case", BPFTOOL_CASES)
def test_same_c_program_builds_against_bpftool_light_skeleton(corpus_object, build_native, gcc, bpftool, kernel,
                                                              tracefs, tmp_path, case):
    """Source compatibility: the C tests use only what bpftool's light skeletons offer (plus
    ours' extras under #ifndef BPFTOOL_SKEL), and behave the same on both."""
    header = tmp_path / f"{case}.bpftool.lskel.h"
    out = subprocess.run([bpftool, "gen", "skeleton", "-L", corpus_object(case), "name", f"{case}_bpf"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    header.write_text(out.stdout)
    build_and_run(build_native, gcc, case, header, ["-DBPFTOOL_SKEL"])


def run_cli(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", *args], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_cli_writes_light_skeleton_with_bpftool_default_name(corpus_object, tmp_path):
    obj = tmp_path / "tracepoint.bpf.o"
    obj.write_bytes(Path(corpus_object("tracepoint")).read_bytes())
    out1, out2 = tmp_path / "a.lskel.h", tmp_path / "b.lskel.h"
    run_cli("skel", "--light", str(obj), "-o", str(out1))
    run_cli("skel", "-L", str(obj), "-o", str(out2))
    text = out1.read_text()
    assert out1.read_bytes() == out2.read_bytes()  # same input, same bytes
    assert "struct tracepoint_bpf {" in text and "tracepoint_bpf__open_and_load(void)" in text
    assert "#include <bpf_build/loader.h>" in text
    named = tmp_path / "c.lskel.h"
    run_cli("skel", "--light", "--name", "probe", str(obj), "-o", str(named))
    assert "struct probe {" in named.read_text()


def test_cli_include_dir_has_the_runtime_header():
    path = run_cli("include-dir").stdout.strip()
    assert os.path.isfile(os.path.join(path, "bpf_build", "loader.h"))


def test_cli_errors_are_one_line(corpus_object, tmp_path):
    bad = tmp_path / "bad.bpf.o"
    bad.write_bytes(b"\x7fELF" + b"\0" * 10)
    out = tmp_path / "out.lskel.h"
    proc = run_cli("skel", "--light", str(bad), "-o", str(out), check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")
    assert str(bad) in proc.stderr and not out.exists()
    proc = run_cli("loader", "explain", str(tmp_path / "missing.o"), check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("case", ["maps", "externs", "globals"])
def test_explain_object_and_header_agree(corpus_object, tmp_path, case):
    obj = tmp_path / f"{case}.bpf.o"
    obj.write_bytes(Path(corpus_object(case)).read_bytes())
    header = tmp_path / f"{case}.lskel.h"
    run_cli("skel", "--light", str(obj), "-o", str(header))
    from_obj = run_cli("loader", "explain", str(obj)).stdout.splitlines()
    from_header = run_cli("loader", "explain", str(header)).stdout.splitlines()
    assert from_obj[1:] == from_header[1:] and len(from_obj) > 5
    if case == "maps":
        assert any(line.endswith('update map "outer_array" [0] = map "inner_a"') for line in from_obj)


EDGE_DRIVER = """
#include <stdio.h>
#include SKEL_HEADER
int main(void)
{
	struct SKEL *skel = SKEL_PREFIX(open_and_load)();

	if (!skel || SKEL_PREFIX(attach)(skel))
		return 1;
	SKEL_PREFIX(destroy)(skel);
	printf("ok\\n");
	return 0;
}
"""


@pytest.mark.kernel
@pytest.mark.parametrize("source", [
    'SEC("xdp") int pass(struct xdp_md *ctx) { return XDP_PASS; }\nchar L[] SEC("license") = "GPL";',
    'struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32);'
    ' __type(value, __u32); } only_map SEC(".maps");\nint counter = 1;',
], ids=["no-maps", "no-programs"])
@pytest.mark.parametrize("compiler", ["gcc", "g++"])
def test_skeleton_without_maps_or_programs(compile_c, build_native, gcc, kernel, tmp_path, source, compiler):
    import shutil
    cc = shutil.which(compiler)
    if cc is None:
        pytest.skip(f"{compiler} not installed")
    obj = compile_c("#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n" + source, "edge")
    (tmp_path / "edge.lskel.h").write_text(generate(Object.read(obj), "edge"))
    (tmp_path / "edge.c").write_text(EDGE_DRIVER)
    lang = ["-x", "c++"] if compiler == "g++" else []
    exe = build_native("edge", [cc, "-Wall", "-Wextra", "-Werror", "-I", include_dir(), "-I", tmp_path,
                                '-DSKEL_HEADER="edge.lskel.h"', "-DSKEL=edge", "-DSKEL_PREFIX(f)=edge__##f",
                                *lang, tmp_path / "edge.c"], [tmp_path / "edge.lskel.h", tmp_path / "edge.c"])
    ran = subprocess.run([str(exe)], capture_output=True, text=True)
    assert ran.returncode == 0 and ran.stdout == "ok\n", ran.stderr
