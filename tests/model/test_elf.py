"""ELF read/write: what clang wrote comes back equal, loads in the kernel, and bad files are refused."""

import os
import shutil
import subprocess
import uuid

import pytest

from bpf_build.model import elf as E
from bpf_build.model.btf_ext import BtfExt
from bpf_build.errors import ElfError

DERIVED = (E.SHT_SYMTAB, E.SHT_STRTAB)  # rebuilt by the writer, compared through what they hold


def _section_view(obj):
    return [(s.name, s.type, s.flags, s.addralign, s.entsize,
             (None, None) if s.type in DERIVED else (s.size, s.data), [r.key() for r in s.relocs])
            for s in obj.sections]


def test_read_write_read_is_equal(corpus_object):
    first = E.Object.read(corpus_object)
    second = E.Object.read(first.to_bytes())
    assert _section_view(first) == _section_view(second)
    assert first.symbols == second.symbols
    assert second.byteorder == first.byteorder
    assert second.section(".BTF").data == first.section(".BTF").data
    assert second.section(".BTF.ext").data == first.section(".BTF.ext").data


def test_writing_is_deterministic(corpus_object):
    data = E.Object.read(corpus_object).to_bytes()
    assert E.Object.read(data).to_bytes() == data


def test_model_sees_what_readelf_sees(corpus_object):
    obj = E.Object.read(corpus_object)
    out = subprocess.run(["llvm-readelf-19", "-sW", corpus_object], capture_output=True, text=True,
                         check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit() and len(line.split()) >= 8]
    names = {row[-1] for row in rows if row[3] != "SECTION"}
    ours = {s.name for s in obj.symbols[1:] if s.name and s.type != E.STT_SECTION}
    assert ours == names
    rels = subprocess.run(["llvm-readelf-19", "-rW", corpus_object], capture_output=True, text=True,
                          check=True).stdout
    count = sum(1 for line in rels.splitlines() if "R_BPF_" in line)
    assert count == sum(len(s.relocs) for s in obj.sections)


def test_strip_debug_keeps_everything_else(corpus_object):
    obj = E.Object.read(corpus_object)
    before = {s.name for s in obj.sections if not s.name.startswith((".debug_", ".rel.debug_"))}
    named = {s.name for s in obj.symbols if s.type != E.STT_SECTION}
    obj.strip_debug()
    assert {s.name for s in obj.sections} == before
    assert {s.name for s in obj.symbols if s.type != E.STT_SECTION} == named
    again = E.Object.read(obj.to_bytes())
    for s in again.sections:
        if s.type == E.SHT_REL:
            target = again.sections[s.info]
            assert s.name.endswith(target.name)
            for r in s.relocs:
                assert r.symbol < len(again.symbols)


@pytest.mark.kernel
def test_rewritten_object_loads_with_bpftool(compile_c, corpus_name, tmp_path):
    from tests.model.conftest import MODEL_CORPUS
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool not installed")
    src = compile_c(MODEL_CORPUS[corpus_name], name=corpus_name)
    obj = E.Object.read(src)
    obj.strip_debug()
    out = tmp_path / "rewritten.o"
    obj.write(out)
    pin = f"/sys/fs/bpf/bpfbuild_test_{uuid.uuid4().hex[:8]}"
    try:
        r = subprocess.run([bpftool, "prog", "loadall", str(out), pin], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        assert os.listdir(pin), "no program was pinned"
    finally:
        shutil.rmtree(pin, ignore_errors=True)


def test_btf_ext_round_trip(corpus_object):
    obj = E.Object.read(corpus_object)
    raw = obj.section(".BTF.ext").data
    ext = BtfExt.parse(raw, obj.btf.strings)
    assert ext.encode(obj.btf.strings) == raw
    assert len(ext.func_info) >= 1 and len(ext.line_info) >= 1
    code = {s.name for s in obj.sections if s.is_code}
    assert {s.name for s in ext.func_info.sections} <= code
    for sec in ext.line_info.sections:
        size = obj.section(sec.name).size
        assert all(0 <= r.insn_off < size and r.insn_off % 8 == 0 for r in sec.records)


def test_core_relocations_are_found(compile_c):
    from tests.model.conftest import MODEL_CORPUS
    obj = E.Object.read(compile_c(MODEL_CORPUS["core_and_externs"], name="core_and_externs"))
    relos = [r for s in obj.btf_ext.core_relo.sections for r in s.records]
    assert relos, "BPF_CORE_READ must produce CO-RE relocations"
    access = {obj.btf.strings.get(r.access_str_off) for r in relos}
    assert "0:1" in access  # task_struct->tgid is member 1
    assert {r.kind for r in relos} >= {0, 2}  # field_byte_offset and field_exists


def _good_bytes(compile_c):
    from tests.model.conftest import MODEL_CORPUS
    with open(compile_c(MODEL_CORPUS["maps_and_data"], name="maps_and_data"), "rb") as f:
        return f.read()


@pytest.mark.parametrize("mutate, message", [
    (lambda d: b"\x7fELX" + d[4:], "not an ELF file"),
    (lambda d: d[:4] + b"\x01" + d[5:], "not a 64-bit"),
    (lambda d: d[:18] + b"\x3e\x00" + d[20:], "not a BPF object"),
    (lambda d: d[:16] + b"\x02\x00" + d[18:], "not a relocatable"),
    (lambda d: d[:200], "past the end|extends past"),
    (lambda d: d[:40] + b"\xff" * 8 + d[48:], "past the end|extends past|malformed"),
])
def test_corrupt_elf_is_a_clear_error(compile_c, mutate, message, tmp_path):
    data = mutate(_good_bytes(compile_c))
    with pytest.raises(ElfError, match=message) as e:
        E.Object.read(data, path="bad.o")
    assert e.value.path == "bad.o"
    assert "\n" not in str(e.value)


def test_interleaved_locals_as_libbpf_links_them_round_trip(corpus_object):
    obj = E.Object.read(corpus_object)
    # Move a local symbol after the globals, as libbpf's linker output has them, with sh_info 0.
    locals_ = [i for i, s in enumerate(obj.symbols) if i and s.bind == E.STB_LOCAL and s.type == E.STT_SECTION]
    moved = locals_[-1]
    order = [i for i in range(len(obj.symbols)) if i != moved] + [moved]
    remap = {old: new for new, old in enumerate(order)}
    obj.symbols = [obj.symbols[i] for i in order]
    for s in obj.sections:
        for r in s.relocs:
            r.symbol = remap[r.symbol]
    obj.symtab_info = 0
    data = obj.to_bytes()
    again = E.Object.read(data)
    assert again.symtab_info == 0
    assert again.symbols == obj.symbols
    assert again.to_bytes() == data
