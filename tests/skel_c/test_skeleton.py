"""`bpf-build skel` C skeletons used by real programs: gcc against the system's libbpf, loaded and
attached in the running kernel, global data read and written through the skeleton."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from bpf_build.model.elf import Object
from bpf_build.skel.c import embedded_bytes_literal, generate

from tests.skel_c import userland
from tests.skel_c.conftest import EXPECTED_OUTPUT, SKEL_CORPUS, USER_PROGRAMS, run_cli


def build_user_program(name: str, header: str, out_dir) -> str:
    source = USER_PROGRAMS[name]
    return userland.gcc_build(source, str(out_dir), f"{name}_user",
                              flags=[f'-DSKEL_HEADER="{header}"'])


def assert_output(name: str, output: str) -> None:
    values = userland.parse_key_values(output)
    for key, expected in EXPECTED_OUTPUT[name].items():
        assert values.get(key) == expected, f"{name}: {key}={values.get(key)!r}, expected {expected!r}\n{output}"


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(SKEL_CORPUS))
def test_user_program_loads_attaches_and_uses_globals(name, our_skeleton, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    userland.ensure_tracefs()
    exe = build_user_program(name, our_skeleton(name), tmp_path)
    assert_output(name, userland.run_program(exe))


def test_struct_layout_and_api_names(our_skeleton):
    text = open(our_skeleton("globals")).read()
    struct = text[text.index("struct globals_bpf {"):text.index("#ifdef __cplusplus")]
    assert struct == (
        "struct globals_bpf {\n"
        "\tstruct bpf_object_skeleton *skeleton;\n"
        "\tstruct bpf_object *obj;\n"
        "\tstruct {\n"
        "\t\tstruct bpf_map *counts;\n"
        "\t\tstruct bpf_map *data;\n"
        "\t\tstruct bpf_map *rodata;\n"
        "\t\tstruct bpf_map *data_foo;\n"
        "\t\tstruct bpf_map *rodata_bar;\n"
        "\t\tstruct bpf_map *bss;\n"
        "\t\tstruct bpf_map *kconfig;\n"
        "\t} maps;\n"
        "\tstruct {\n"
        "\t\tstruct bpf_program *count_getpid;\n"
        "\t\tstruct bpf_program *xdp_sum;\n"
        "\t} progs;\n"
        "\tstruct {\n"
        "\t\tstruct bpf_link *count_getpid;\n"
        "\t\tstruct bpf_link *xdp_sum;\n"
        "\t} links;\n"
        "\tstruct globals_bpf__data {\n"
        "\t\tint data_value;\n"
        "\t} *data;\n"
        "\tstruct globals_bpf__rodata {\n"
        "\t\tint ro_limit;\n"
        "\t} *rodata;\n"
        "\tstruct globals_bpf__data_foo {\n"
        "\t\tchar custom[8];\n"
        "\t} *data_foo;\n"
        "\tstruct globals_bpf__rodata_bar {\n"
        "\t\tlong ro_bar;\n"
        "\t} *rodata_bar;\n"
        "\tstruct globals_bpf__bss {\n"
        "\t\t__u64 counter;\n"
        "\t\tchar __pad0[4];\n"  # the static hidden_total sits here
        "\t\tchar flag;\n"
        "\t\tlong after_flag;\n"
        "\t\tstruct {\n"
        "\t\t\tint x;\n"
        "\t\t\tlong y;\n"
        "\t\t} points[2];\n"
        "\t} *bss;\n"
        "\tstruct globals_bpf__kconfig {\n"
        "\t\tunsigned int CONFIG_HZ;\n"  # libbpf's order: alignment, size, then name
        "\t\tint LINUX_KERNEL_VERSION;\n"
        "\t} *kconfig;\n"
        "\n")
    for api in ("globals_bpf__open(void)", "globals_bpf__open_opts(const struct bpf_object_open_opts *opts)",
                "globals_bpf__load(struct globals_bpf *obj)", "globals_bpf__open_and_load(void)",
                "globals_bpf__attach(struct globals_bpf *obj)", "globals_bpf__detach(struct globals_bpf *obj)",
                "globals_bpf__destroy(struct globals_bpf *obj)", "globals_bpf__elf_bytes(size_t *sz)",
                "globals_bpf__create_skeleton(struct globals_bpf *obj)"):
        assert api in text
    assert 'map->name = "globals_.bss";' in text  # libbpf truncates the prefix and 'map->name = ".data.foo";' in text
    assert "hidden_total" not in text  # static variables stay private


def embedded_object(header_text: str) -> bytes:
    body = re.search(r'static const char data\[\] __attribute__\(\(__aligned__\(8\)\)\) = "\\\n(.*?)";\n',
                     header_text, re.S).group(1)
    data = bytes(int(h, 16) if h else 0 for h in re.findall(r"\\(?:x([0-9a-f]{2})|0)", body))
    assert max(len(line) for line in body.split("\n")) <= 80
    assert body == embedded_bytes_literal(data)  # nothing but byte escapes and line breaks
    return data


def test_embedded_object_is_the_object_file(corpus_object, our_skeleton):
    path = corpus_object("globals")
    assert embedded_object(open(our_skeleton("globals")).read()) == open(path, "rb").read()


def test_object_made_in_memory_is_embedded_as_written(corpus_object):
    obj = Object.read(corpus_object("net"))
    obj.path = None
    assert embedded_object(generate(obj, "net_bpf")) == obj.to_bytes()


def test_same_object_same_header_across_processes(corpus_object, tmp_path):
    path = corpus_object("multi")
    outputs = []
    for seed in ("0", "4242"):
        out = tmp_path / f"multi{seed}.skel.h"
        proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "skel", path, "-o", str(out)],
                              capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_name_option_renames_everything(corpus_object, tmp_path):
    out = tmp_path / "renamed.skel.h"
    proc = run_cli("skel", corpus_object("no_globals"), "--name", "my_probe", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "struct my_probe {" in text and "#ifndef __MY_PROBE_SKEL_H__" in text
    assert "no_globals" not in text.split("static inline const void *my_probe__elf_bytes")[0]
    userland.gcc_build(f'#include "{out}"\nint main(void) {{ struct my_probe *p = my_probe__open(); '
                       "my_probe__destroy(p); return 0; }\n", str(tmp_path), "renamed")


def test_cplusplus_can_use_the_skeleton(our_skeleton, tmp_path):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not installed")
    src = tmp_path / "use.cpp"
    src.write_text(f'#include "{our_skeleton("globals")}"\n'
                   "int main() { globals_bpf *s = globals_bpf::open(); globals_bpf::destroy(s); return 0; }\n")
    proc = subprocess.run([gxx, "-Wall", "-Werror", "-fsyntax-only", str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("content, reason", [
    (b"not an elf at all, just some text that is long enough to have a header" * 2, "not an ELF file"),
    (b"\x7fELF" + bytes(60), "not a 64-bit ELF object (BPF objects are ELFCLASS64)"),
])
def test_bad_object_is_one_line_error_without_output(content, reason, tmp_path):
    bad = tmp_path / "bad.bpf.o"
    bad.write_bytes(content)
    out = tmp_path / "bad.skel.h"
    proc = run_cli("skel", str(bad), "-o", str(out))
    assert proc.returncode == 1
    assert proc.stderr == f"error: {bad}: {reason}\n"
    assert proc.stdout == "" and not out.exists()


def test_invalid_skeleton_name_is_an_error(corpus_object, tmp_path):
    out = tmp_path / "x.skel.h"
    proc = run_cli("skel", corpus_object("no_globals"), "--name", "9lives", "-o", str(out))
    assert proc.returncode == 1
    assert proc.stderr == f"error: {corpus_object('no_globals')}: skeleton name '9lives' is not a valid C identifier\n"
    assert not out.exists()


def test_default_name_follows_bpftool(corpus_object):
    obj = Object.read(corpus_object("no_globals"))
    assert "struct no_globals_bpf {" in generate(obj, "no_globals_bpf")
    proc = run_cli("skel", corpus_object("no_globals"))
    assert proc.returncode == 0 and "struct no_globals_bpf {" in proc.stdout
