"""The linker keeps BTF as words (link/words_btf.py): each input's .BTF read as words and checked
as the parser checks it, records made only for the types a phase singles out, the merged words
handed to the dedup. These tests hold the words to what records would say."""

from __future__ import annotations

import pytest

from bpf_build.errors import BtfError, LinkError
from bpf_build.link import link
from bpf_build.link.words_btf import read_input_btf, words_btf_of
from bpf_build.model import btf as B
from bpf_build.model.elf import Object

SHARED_BSS = r"""
int %(tag)s_counter SEC(".bss");
SEC("raw_tp/sys_enter") int %(tag)s_prog(void *ctx) { return %(tag)s_counter; }
"""


BOXED = r"""
struct %(tag)s_box { int %(tag)s_value; };
struct %(tag)s_box %(tag)s_counter SEC(".bss");
SEC("raw_tp/sys_enter") int %(tag)s_prog(void *ctx) { return %(tag)s_counter.%(tag)s_value; }
"""


def _btf_bytes(path: str) -> bytes:
    obj = Object.read(path)
    section = obj.section(".BTF")
    assert section is not None
    return bytes(section.data)


def test_an_input_read_as_words_has_the_parsers_records(build_case):
    """Every record made from an input's words (read_input_btf) is the one Btf.parse makes, as
    is every record of a caller's Btf encoded as words; an id past the end is none."""
    for path in build_case("core").inputs:
        data = _btf_bytes(path)
        parsed = B.Btf.parse(data, path)
        as_words = read_input_btf(data, path)
        assert len(as_words) == len(parsed)
        assert [t for _, t in as_words.items()] == parsed.types
        assert bytes(as_words.kinds) == bytes(t.kind for t in parsed.types)
        assert as_words.get(len(parsed)) is None and as_words.get(0) is None
        encoded = words_btf_of(parsed)
        assert encoded.words == as_words.words
        assert [t for _, t in encoded.items()] == parsed.types


def test_an_input_read_as_words_fails_as_the_parser_does(build_case):
    """A broken rule (a pointer to a missing type) and a cut type section: the parser's errors."""
    path = build_case("core").inputs[0]
    btf = B.Btf.parse(_btf_bytes(path), path)
    pointer = next(t for t in btf.types if t.kind == B.PTR)
    pointer.type = len(btf) + 7
    for data in (btf.encode(), _btf_bytes(path)[:-len(btf.strings.data()) - 6]):
        with pytest.raises(BtfError) as parser:
            B.Btf.parse(data, path)
        with pytest.raises(BtfError) as words:
            read_input_btf(data, path)
        assert str(words.value) == str(parser.value)


def test_a_name_inside_another_string_is_linked_by_its_text(link_pair):
    """BTF may name a type (or a member) by an offset into the middle of a string (legal, and
    not a start the name table knows): the output names it by that text."""
    path, = link_pair(BOXED % {"tag": "word"})
    obj = Object.read(path)
    assert obj.btf is not None
    box = next(t for t in obj.btf.types if t.kind == B.STRUCT and t.name == "word_box")
    box.name_off += len("word_")  # "box", the tail of "word_box"
    box.name = "box"
    member = box.members[0]
    member.name_off += len("word_")
    member.name = "value"
    data = obj.to_bytes()
    table = obj.btf.strings.data()
    assert b"\0box\0" not in table and b"\0value\0" not in table  # only inside longer names
    out = link([data])
    assert out.btf is not None
    linked = next(t for t in out.btf.types if t.kind == B.STRUCT)
    assert linked.name == "box" and [m.name for m in linked.members] == ["value"]


def test_a_merged_section_too_large_for_btf_is_encodings_error(link_pair):
    """Two 3 GiB .bss sections merge into one whose size does not fit a DATASEC's 32 bits: the
    error encoding the merged BTF would give, as a LinkError naming the first input."""
    paths = link_pair(SHARED_BSS % {"tag": "a"}, SHARED_BSS % {"tag": "b"})
    objects = [Object.read(p) for p in paths]
    for obj in objects:
        bss = obj.section(".bss")
        assert bss is not None
        bss.nobits_size = 3 << 30
    with pytest.raises(LinkError) as e:
        link(objects)
    assert str(e.value).startswith(f"{paths[0]}: BTF deduplication failed: cannot encode BTF: a value "
                                   "does not fit its field ('I' format requires")
