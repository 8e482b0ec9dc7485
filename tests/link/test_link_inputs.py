"""How the linker reads its inputs: DWARF's bytes are left out (libbpf's linker drops DWARF), and
inputs given as Objects (their BTF encoded as words from a copy, never changed) or as paths (their
BTF read as words) link to the same bytes."""

from __future__ import annotations

import struct

import pytest

from bpf_build.errors import ElfError
from bpf_build.link import link
from bpf_build.model.elf import Object


@pytest.fixture(scope="module")
def maps_case(build_case):
    return build_case("maps")


def _is_dwarf(name: str) -> bool:
    return name.startswith((".debug_", ".rel.debug_"))


def test_reading_without_dwarf_keeps_all_else(maps_case):
    for path in maps_case.inputs:
        whole, lean = Object.read(path), Object.read(path, dwarf=False)
        assert any(_is_dwarf(s.name) and s.data for s in whole.sections), "inputs are built with -g"
        assert [(s.name, s.type, s.flags, s.info, s.link) for s in lean.sections] == \
               [(s.name, s.type, s.flags, s.info, s.link) for s in whole.sections]
        for w, s in zip(whole.sections, lean.sections):
            assert s.data == (b"" if _is_dwarf(s.name) else w.data)
            if not _is_dwarf(s.name):
                assert [r.key() for r in s.relocs] == [r.key() for r in w.relocs]
        assert lean.symbols == whole.symbols
        assert lean.btf is not None and whole.btf is not None
        assert lean.btf.encode() == whole.btf.encode()


def _with_section_size(data: bytes, name: str, size: int) -> bytes:
    """``data`` with section ``name``'s sh_size set to ``size`` (little-endian ELF64)."""
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shnum, shstrndx = struct.unpack_from("<HH", data, 0x3C)
    strtab_off, = struct.unpack_from("<Q", data, shoff + shstrndx * 64 + 0x18)
    for i in range(shnum):
        entry = shoff + i * 64
        name_off, = struct.unpack_from("<I", data, entry)
        start = strtab_off + name_off
        if data[start:data.index(b"\0", start)] == name.encode():
            return data[:entry + 0x20] + struct.pack("<Q", size) + data[entry + 0x28:]
    raise AssertionError(f"no section {name}")


def test_dwarf_past_the_end_of_the_file_is_refused_either_way(maps_case):
    with open(maps_case.inputs[0], "rb") as f:
        bad = _with_section_size(f.read(), ".debug_info", 1 << 30)
    messages = set()
    for dwarf in (True, False):
        with pytest.raises(ElfError) as e:
            Object.read(bad, path="bad.o", dwarf=dwarf)
        messages.add(str(e.value))
    assert len(messages) == 1 and "'.debug_info'" in messages.pop()
    with pytest.raises(ElfError, match=r"bad.o: section '\.debug_info' .* extends past the end"):
        with open(maps_case.workdir + "/bad.o", "wb") as f:
            f.write(bad)
        link([maps_case.inputs[1], f.name])


@pytest.mark.parametrize("name", ["maps", "core", "chain"])
def test_objects_and_paths_link_alike(build_case, name):
    """Paths are read by the linker, their BTF as words; Objects are the caller's, their BTF
    encoded as words from a copy, and left as they were."""
    built = build_case(name)
    objects = [Object.read(p) for p in built.inputs]
    before = [o.to_bytes() for o in objects]
    assert link(objects).to_bytes() == built.ours
    assert [o.to_bytes() for o in objects] == before
    with_bytes = []
    for p in built.inputs:
        with open(p, "rb") as f:
            with_bytes.append(f.read())
    assert link(with_bytes).to_bytes() == built.ours


def test_the_dedup_reads_the_words_encoding_writes(maps_case):
    """The merged BTF reaches the dedup as words (model.btf.encode.type_words): the very words of
    the encoded type section, each record where framing them finds it, and a value that does not
    fit is encoding's error."""
    from bpf_build.errors import BtfError
    from bpf_build.model import btf as B
    from bpf_build.model.btf.encode import type_words
    from bpf_build.model.btf.words import read_sections, read_words, section_words

    btf = B.Btf()
    for path in maps_case.inputs:  # every input's types, as one BTF (ids need not be linked)
        for t in Object.read(path).btf.types:
            t.name_off = None  # names appended anew, as the linker's records have them
            btf.add(t)
    record_at: list = []
    words = type_words(btf, record_at)
    data = btf.encode()
    assert words == section_words(data, read_sections(data, None, False)).tolist()
    assert record_at == list(read_words(data, None).offsets)  # where framing finds the records
    struct_type = next(t for t in btf.types if t.kind == B.STRUCT and t.members)
    struct_type.members[0].offset = 1 << 32
    with pytest.raises(BtfError) as encoding:
        btf.encode()
    with pytest.raises(BtfError) as as_words:
        type_words(btf)
    assert str(as_words.value) == str(encoding.value)


def test_the_dedup_output_is_read_back_without_the_rules(maps_case):
    """finalize reads the dedup's bytes with Btf.parse(check_rules=False): the same records as a
    checked read; only the kernel's rules are left out, framing is not."""
    from bpf_build.errors import BtfError
    from bpf_build.model import btf as B

    linked = Object.read(maps_case.ours)
    assert linked.btf is not None
    data = linked.btf.encode()
    assert B.Btf.parse(data, check_rules=False).types == B.Btf.parse(data).types
    broken = B.Btf.parse(data)
    pointer = next(t for t in broken.types if t.kind == B.PTR)
    pointer.type = len(broken) + 5  # a rule: ids exist
    data = broken.encode()
    with pytest.raises(BtfError):
        B.Btf.parse(data)
    assert B.Btf.parse(data, check_rules=False).types == broken.types
    with pytest.raises(BtfError):
        B.Btf.parse(data[:-len(broken.strings.data()) - 2], check_rules=False)  # types cut short
