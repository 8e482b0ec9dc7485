"""`bpf-link` as users run it: ld-like arguments, one `error: <file>: <reason>` line and exit 1
on bad input (no traceback, no output file), exit 2 on usage errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bpf_build.cli.link import main

from link_conflicts import LICENSE
from link_oracle import read


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_links_to_the_named_output(build_case, tmp_path, capsys):
    built = build_case("funcs")
    out = tmp_path / "linked.o"
    code, stdout, stderr = run(["-o", str(out), *built.inputs], capsys)
    assert (code, stdout, stderr) == (0, "", "")
    assert out.read_bytes() == built.ours


def test_output_is_required(build_case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    built = build_case("funcs")
    with pytest.raises(SystemExit) as info:
        main(built.inputs)
    assert info.value.code == 2
    assert "the following arguments are required: -o/--output" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_btf_dedup_option(build_case, tmp_path, capsys):
    built = build_case("vars")
    out = tmp_path / "libbpf.o"
    assert run(["--btf-dedup", "libbpf-1.1", "-o", str(out), *built.inputs], capsys)[0] == 0
    assert read(str(out)).btf is not None


def _assert_one_error_line(err: str, path: str, reason_part: str):
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {path}: "), err
    assert reason_part in lines[0]
    assert "Traceback" not in err


def test_conflict_exits_1_with_one_line_and_no_output(link_pair, tmp_path, capsys):
    first, second = link_pair("int twin = 1;\n" + LICENSE, "int twin = 2;\n" + LICENSE,
                              names=["cli0", "cli1"])
    out = tmp_path / "never.o"
    code, stdout, stderr = run(["-o", str(out), first, second], capsys)
    assert code == 1 and stdout == ""
    _assert_one_error_line(stderr, second, "symbol 'twin' is already defined in")
    assert not out.exists()
    assert os.listdir(tmp_path) == []  # no temporary file left either


def test_missing_input(tmp_path, capsys):
    missing = str(tmp_path / "missing.o")
    code, _, stderr = run(["-o", str(tmp_path / "out.o"), missing], capsys)
    assert code == 1
    _assert_one_error_line(stderr, missing, "cannot read")


@pytest.mark.parametrize("content, reason", [
    (b"not an object at all\n" * 4, "not an ELF file"),
    (b"\x7fELF\x02\x01\x01" + bytes(57), "not a BPF object"),
])
def test_not_a_bpf_object(tmp_path, capsys, content, reason):
    bad = tmp_path / "bad.o"
    bad.write_bytes(content)
    code, _, stderr = run(["-o", str(tmp_path / "out.o"), str(bad)], capsys)
    assert code == 1
    _assert_one_error_line(stderr, str(bad), reason)
    assert not (tmp_path / "out.o").exists()


def test_truncated_object(build_case, tmp_path, capsys):
    data = open(build_case("funcs").inputs[0], "rb").read()
    cut = tmp_path / "cut.o"
    cut.write_bytes(data[: len(data) // 2])
    code, _, stderr = run(["-o", str(tmp_path / "out.o"), str(cut)], capsys)
    assert code == 1
    _assert_one_error_line(stderr, str(cut), "")


def test_unwritable_output(build_case, tmp_path, capsys):
    out = tmp_path / "no" / "such" / "dir.o"
    code, _, stderr = run(["-o", str(out), *build_case("funcs").inputs], capsys)
    assert code == 1
    _assert_one_error_line(stderr, str(out), "cannot write")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["--btf-dedup", "nope", "a.o"])
    assert info.value.code == 2


def test_entry_point_process(build_case, tmp_path):
    """The installed console script, as a process."""
    built = build_case("funcs")
    out = tmp_path / "p.o"
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.link", "-o", str(out), *built.inputs],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == built.ours
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.link", str(tmp_path / "nope.o"), "-o", "x.o"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert not (tmp_path / "x.o").exists()


def test_the_cli_offers_exactly_the_dedup_flavours_the_linker_has():
    # bpf-link spells them out to keep the BTF model out of its start-up; the linker owns them.
    from bpf_build.btf.dedup import BPFTOOL_7_1, FLAVOURS
    from bpf_build.cli.link import DEDUP_FLAVOURS, DEFAULT_DEDUP_FLAVOUR
    from bpf_build.link.linker import link
    import inspect
    assert DEDUP_FLAVOURS == FLAVOURS
    assert DEFAULT_DEDUP_FLAVOUR == BPFTOOL_7_1 == inspect.signature(link).parameters["btf_dedup"].default


def test_a_link_loads_only_what_linking_needs(build_case, tmp_path):
    """bpf-link starts often (once per build step): it reads ELF with struct, not pyelftools, and
    loads neither dataclasses nor tempfile (each several ms of every run's start-up)."""
    built = build_case("funcs")
    out = tmp_path / "linked.o"
    code = ("import sys\nfrom bpf_build.cli.link import main\ncode = main(sys.argv[1:])\n"
            "print(' '.join(sorted(sys.modules)))\nsys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code, "-o", str(out), *built.inputs],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split())
    assert "bpf_build.link.linker" in loaded
    assert not {m for m in loaded if m.split(".")[0] in ("elftools", "dataclasses", "tempfile")}
    assert out.read_bytes() == built.ours
