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
    wrong.write_text(json.dumps({"bpf_abi_baseline": 1, "soname": None, "versions": [], "symbols": {"x": 3}}))
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
