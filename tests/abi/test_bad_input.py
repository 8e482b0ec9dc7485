"""Bad input: exactly one line `error: FILE[:LINE]: reason` on stderr, exit 2, no traceback,
nothing on stdout. Run as real processes so nothing can hide behind pytest."""

from __future__ import annotations

import json

import pytest

from bpf_build.abi.versionscript import parse_version_script
from bpf_build.errors import AbiError


GOOD_SRC = "API int bpf_a(void) { return 0; }\n"
GOOD_MAP = "LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_a;\n\tlocal: *;\n};\n"


def assert_one_error(run, prefix: str, reason: str) -> None:
    assert run.code == 2, (run.out, run.err)
    assert run.out == ""
    assert "Traceback" not in run.err
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0] == f"error: {prefix}: {reason}"


MALFORMED_MAPS = [
    # (text, line, reason)
    ("LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_a;\n\tlocal: *;\n", 4,
     "version node LIBBPF_1.0.0 (line 1) is not closed with '}'"),
    ("LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_a\n\t\tbpf_b;\n};\n", 4, "expected ';' after 'bpf_a', found 'bpf_b'"),
    ("LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_a;\n}\nLIBBPF_1.1.0 {\n} LIBBPF_1.0.0;\n", 5,
     "expected ';' after the closing '}' of version node LIBBPF_1.0.0, found '{'"),
    ("/* header\nLIBBPF_1.0.0 {\n};\n", 1, "unterminated /* comment"),
    ("LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_a(;\n};\n", 3, "unexpected character in 'bpf_a('"),
    ("LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_a;\n};\n};\n", 5, "expected a version node name or '{', found '}'"),
    ("LIBBPF_1.0.0 {\n\tglobal:\n\t\t: bpf_a;\n};\n", 3, "unexpected ':' in version node LIBBPF_1.0.0"),
    ('LIBBPF_1.0.0 {\n\textern "C++ {\n};\n', 2, "unterminated string"),
    ("LIBBPF_1.0.0\n\tglobal:\n", 2, "expected '{' after version node name 'LIBBPF_1.0.0', found 'global'"),
]


@pytest.mark.parametrize("text,line,reason", MALFORMED_MAPS)
def test_malformed_version_script(build_lib, tmp_path, text, line, reason, bpf_abi_process):
    b = build_lib(GOOD_SRC, GOOD_MAP)
    mp = tmp_path / "bad.map"
    mp.write_text(text)
    assert_one_error(bpf_abi_process("check", "--map", mp, b.lib), f"{mp}:{line}", reason)


def test_parser_error_is_an_abi_error_with_line():
    with pytest.raises(AbiError) as e:
        parse_version_script("A {\n global: x;\n", "m.map")
    assert e.value.one_line() == "m.map:2: version node A (line 1) is not closed with '}'"
    with pytest.raises(AbiError) as e:
        parse_version_script("A {\n global: x;\n}\n\n\n", "m.map")
    assert e.value.one_line() == "m.map:3: expected ';' after the closing '}' of version node A, found end of file"


def test_map_with_no_nodes_and_binary_map(build_lib, tmp_path, bpf_abi_process):
    b = build_lib(GOOD_SRC, GOOD_MAP)
    empty = tmp_path / "empty.map"
    empty.write_text("/* nothing */\n# really nothing\n")
    assert_one_error(bpf_abi_process("check", "--map", empty, b.lib), str(empty), "no version nodes")
    binary = tmp_path / "binary.map"
    binary.write_bytes(b"LIBBPF_1.0.0 {\n\xff\xfe};\n")
    assert_one_error(bpf_abi_process("check", "--map", binary, b.lib), f"{binary}:2", "not a text file (invalid UTF-8)")


def test_not_an_elf_file(build_lib, tmp_path, bpf_abi_process):
    b = build_lib(GOOD_SRC, GOOD_MAP)
    text = tmp_path / "libfake.so"
    text.write_text("INPUT(-lbpf)\n")  # a linker script named like a library
    assert_one_error(bpf_abi_process("check", "--map", b.map, text), str(text), "not an ELF file")
    assert_one_error(bpf_abi_process("dump", text), str(text), "not an ELF file")
    empty = tmp_path / "empty.so"
    empty.write_bytes(b"")
    assert_one_error(bpf_abi_process("check", "--map", b.map, empty), str(empty), "not an ELF file")


def test_truncated_and_wrong_kind_of_elf(build_lib, tmp_path, bpf_abi_process):
    b = build_lib(GOOD_SRC, GOOD_MAP)
    truncated = tmp_path / "trunc.so"
    truncated.write_bytes(open(b.lib, "rb").read()[:10])
    assert_one_error(bpf_abi_process("dump", truncated), str(truncated),
                     "malformed ELF file (bad identification or truncated header)")
    headless = tmp_path / "headless.so"
    headless.write_bytes(open(b.lib, "rb").read()[:200])
    assert_one_error(bpf_abi_process("dump", headless), str(headless),
                     "malformed ELF file (program headers past the end of the file: truncated?)")
    half = tmp_path / "half.so"
    data = open(b.lib, "rb").read()
    half.write_bytes(data[: len(data) // 2])
    assert_one_error(bpf_abi_process("dump", half), str(half),
                     "malformed ELF file (section headers past the end of the file: truncated?)")
    assert_one_error(bpf_abi_process("check", "--map", b.map, b.obj), b.obj,
                     "not a shared library (ELF type REL (relocatable object))")
    assert_one_error(bpf_abi_process("check", "--map", b.map, b.lib, "--objects", b.lib), b.lib,
                     "not a relocatable object (ELF type DYN)")


def test_missing_files(build_lib, tmp_path, bpf_abi_process):
    b = build_lib(GOOD_SRC, GOOD_MAP)
    missing = tmp_path / "nope.so"
    assert_one_error(bpf_abi_process("check", "--map", b.map, missing), str(missing),
                     "cannot read: No such file or directory")
    assert_one_error(bpf_abi_process("check", "--map", tmp_path / "nope.map", b.lib), str(tmp_path / "nope.map"),
                     "cannot read: No such file or directory")
    assert_one_error(bpf_abi_process("diff", b.lib, missing), str(missing), "cannot read: No such file or directory")


def test_bad_release_and_header(build_lib, tmp_path, bpf_abi_process):
    b = build_lib(GOOD_SRC, GOOD_MAP)
    r = bpf_abi_process("check", "--map", b.map, b.lib, "--release", "one.two")
    assert r.code == 2 and r.err == "error: --release: expected X.Y or X.Y.Z, got 'one.two'\n"
    header = tmp_path / "version.h"
    header.write_text("#define SOMETHING 1\n")
    assert_one_error(bpf_abi_process("check", "--map", b.map, b.lib, "--version-header", header), str(header),
                     "no LIBBPF_MAJOR_VERSION and LIBBPF_MINOR_VERSION definitions")
    r = bpf_abi_process("check", "--map", b.map, b.lib, "--version-header", header, "--release", "1.0")
    assert r.code == 2 and "not allowed with argument" in r.err and "Traceback" not in r.err


def test_bad_baselines(build_lib, tmp_path, bpf_abi_process):
    b = build_lib(GOOD_SRC, GOOD_MAP)
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "bpf_abi_baseline": 1,\n  "symbols": {\n}\n')
    assert_one_error(bpf_abi_process("diff", broken, b.lib), f"{broken}:5",
                     "invalid JSON: Expecting ',' delimiter")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"name": "not a baseline"}))
    assert_one_error(bpf_abi_process("diff", other, b.lib), str(other),
                     'not a bpf-abi baseline: expected an object with "bpf_abi_baseline": 1 (written by bpf-abi dump)')
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"bpf_abi_baseline": 1, "soname": None, "versions": [], "symbols": {"x": 3},
                                 "types": None}))
    assert_one_error(bpf_abi_process("diff", wrong, b.lib), str(wrong),
                     "not a bpf-abi baseline: ValueError: symbol 'x' needs a \"kind\"")
    neither = tmp_path / "neither.bin"
    neither.write_bytes(b"\x00\x01binary")
    assert_one_error(bpf_abi_process("diff", neither, b.lib), str(neither),
                     "neither an ELF shared library nor a bpf-abi JSON baseline")


def test_unwritable_output(build_lib, tmp_path, bpf_abi_process):
    b = build_lib(GOOD_SRC, GOOD_MAP)
    target = tmp_path / "no-such-dir" / "baseline.json"
    assert_one_error(bpf_abi_process("dump", b.lib, "-o", target), str(target),
                     "cannot write: No such file or directory")


def test_usage_errors_exit_2(bpf_abi_process):
    r = bpf_abi_process("check", "lib.so")
    assert r.code == 2 and "the following arguments are required: --map" in r.err and "Traceback" not in r.err
    r = bpf_abi_process("frobnicate")
    assert r.code == 2 and "invalid choice" in r.err
    r = bpf_abi_process()
    assert r.code == 2 and "Traceback" not in r.err


def _baseline(tmp_path, bpf_abi_process, lib) -> dict:
    path = tmp_path / "good.json"
    assert bpf_abi_process("dump", lib, "-o", path).code == 0
    return json.loads(path.read_text())


@pytest.mark.parametrize("name,mutate,reason", [
    ("newer", lambda d: json.dumps({**d, "bpf_abi_baseline": 2}),
     "baseline format 2 is newer than this bpf-abi reads (1); upgrade bpf-abi"),
    ("bom", lambda d: "\ufeff" + json.dumps(d),
     "not a bpf-abi baseline: starts with a byte order mark (bpf-abi dump writes plain UTF-8)"),
    ("list", lambda d: "[]",
     'not a bpf-abi baseline: expected an object with "bpf_abi_baseline": 1 (written by bpf-abi dump)'),
    ("no-types", lambda d: json.dumps({k: v for k, v in d.items() if k != "types"}),
     'not a bpf-abi baseline: missing "types" (write baselines with bpf-abi dump)'),
    ("offset", lambda d: json.dumps({**d, "types": {**d["types"], "records": {
        "struct bpf_s": {"size": 8, "fields": [["x", "four", "int"]]}}}}),
     "not a bpf-abi baseline: ValueError: types.records entry 'struct bpf_s' is malformed"),
    ("true-version", lambda d: json.dumps({**d, "bpf_abi_baseline": True}),
     'not a bpf-abi baseline: expected an object with "bpf_abi_baseline": 1 (written by bpf-abi dump)'),
])
def test_baseline_format_errors(build_lib, tmp_path, bpf_abi_process, name, mutate, reason):
    """Each is one error line with exit 2, never a finding or a note."""
    b = build_lib(GOOD_SRC, GOOD_MAP)
    bad = tmp_path / f"{name}.json"
    bad.write_text(mutate(_baseline(tmp_path, bpf_abi_process, b.lib)), encoding="utf-8")
    assert_one_error(bpf_abi_process("diff", bad, b.lib), str(bad), reason)


def test_inputs_that_are_not_regular_files(build_lib, tmp_path, bpf_abi_process):
    """A FIFO used to block forever and /dev/zero to be read until the OOM killer struck."""
    import os

    b = build_lib(GOOD_SRC, GOOD_MAP)
    fifo = tmp_path / "map.fifo"
    os.mkfifo(fifo)
    assert_one_error(bpf_abi_process("check", "--map", fifo, b.lib), str(fifo), "not a regular file (a FIFO)")
    assert_one_error(bpf_abi_process("check", "--map", "/dev/zero", b.lib), "/dev/zero",
                     "not a regular file (a character device)")
    assert_one_error(bpf_abi_process("diff", tmp_path, b.lib), str(tmp_path), "not a regular file (a directory)")
    assert_one_error(bpf_abi_process("diff", b.lib, "/dev/zero"), "/dev/zero", "not a regular file (a character device)")


def test_oversized_text_input(build_lib, tmp_path):
    from bpf_build.abi.inputs import read_input

    big = tmp_path / "big.map"
    big.write_bytes(b"#" * 2048)
    with pytest.raises(AbiError) as e:
        read_input(big, limit=1024)
    assert e.value.one_line() == f"{big}: too large (2048 bytes; the limit is 1024 bytes)"


def test_position_independent_executable_is_not_a_library(tmp_path, bpf_abi_process):
    import shutil
    import subprocess

    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    src = tmp_path / "main.c"
    src.write_text("int main(void) { return 0; }\n")
    exe = tmp_path / "main"
    subprocess.run(["gcc", "-fPIE", "-pie", "-o", str(exe), str(src)], check=True)
    assert_one_error(bpf_abi_process("diff", exe, exe, "--no-types"), str(exe),
                     "not a shared library (a position-independent executable)")


def test_pointers_and_qualifiers_in_a_loop(build_lib, tmp_path, bpf_abi_process):
    """A const type whose DW_AT_type is itself (a corrupt file): one error, not a hang."""
    from bpf_build.abi.dwarf_load import read_dwarf
    from bpf_build.abi.elfread import ElfImage
    from bpf_build.abi.inputs import map_input

    b = build_lib("API int bpf_a(const int *p) { return *p; }\n", GOOD_MAP)
    raw = bytearray(open(b.lib, "rb").read())
    dwarf = read_dwarf(b.lib, map_input(b.lib))
    const = next(die for unit in dwarf.units() for die in unit.top().children()
                 if die.tag == "DW_TAG_const_type")
    distance, unpack = const.shape.type_at
    elf = ElfImage(b.lib, bytes(raw))
    info = elf.sections_by_name(elf.sections())[".debug_info"][1]
    where = info.offset + const.start + distance
    raw[where:where + 4] = (const.offset - const.cu.offset).to_bytes(4, "little")  # ref4: unit-relative
    looped = tmp_path / "looped.so"
    looped.write_bytes(bytes(raw))
    assert_one_error(bpf_abi_process("dump", looped), str(looped),
                     "malformed DWARF debug info (DwarfError: the pointers and qualifiers at offset "
                     f"{const.offset} refer to each other)")
