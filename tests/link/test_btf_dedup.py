"""btf_dedup against libbpf itself (libbpf.so 1.1 through ctypes) and against bpftool 7.1 (its
linker runs the kernel-6.1 libbpf dedup): byte-identical .BTF and .BTF.ext on clang output,
on several objects' BTF naively concatenated, on split BTF and on vmlinux; plus the behaviours
the algorithm is known for, each on a small hand-built BTF."""

from __future__ import annotations

import pytest

from bpf_build.model import btf as B
from bpf_build.model.btf import Btf, BtfType, EnumValue, Member, Param, dump_raw
from bpf_build.btf.dedup import BPFTOOL_7_1, FLAVOURS, LIBBPF, dedup, dedup_raw, dedup_words, read_btf_words
from bpf_build.model.btf_ext import BtfExt, CoreRelo, ExtInfo, ExtSection, FuncInfo, LineInfo
from bpf_build.model.elf import SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB, Object, Section
from bpf_build.errors import BtfError
from bpf_build.link import link

from link_libbpf import libbpf_dedup, require_libbpf
from link_oracle import bpftool_link

UNIT_CASES = ["funcs", "vars", "maps", "core", "ksyms"]


def _ours(btf_raw: bytes, ext_raw=None, base_raw=None, flavour=LIBBPF):
    """Our dedup through the record API; the words entry point, given the same blob, must give
    the same bytes, mapping and .BTF.ext."""
    base = Btf.parse(base_raw) if base_raw is not None else None
    btf = Btf.parse(btf_raw, base=base)
    ext = BtfExt.parse(ext_raw, btf.strings) if ext_raw is not None else None
    raw_ext = BtfExt.parse(ext_raw, btf.strings) if ext_raw is not None else None
    mapping = dedup(btf, ext, flavour=flavour)
    ours = btf.encode(), (ext.encode(btf.strings) if ext is not None else None), mapping
    base_words = read_btf_words(base_raw) if base_raw is not None else None
    result = dedup_words(read_btf_words(btf_raw, base=base_words), raw_ext, flavour=flavour)
    assert (result.data, result.mapping) == (ours[0], mapping)
    assert (raw_ext.encode(btf.strings) if raw_ext is not None else None) == ours[1]
    return ours


def _sections(path):
    obj = Object.read(path)
    ext = obj.section(".BTF.ext")
    return obj.section(".BTF").data, (ext.data if ext is not None else None)


# -- clang output, one object at a time ------------------------------------------------------

@pytest.mark.oracle
@pytest.mark.parametrize("case", UNIT_CASES)
def test_single_objects_match_libbpf(build_case, case):
    require_libbpf()
    for path in build_case(case).inputs:
        btf_raw, ext_raw = _sections(path)
        ours_btf, ours_ext, _ = _ours(btf_raw, ext_raw)
        theirs_btf, theirs_ext = libbpf_dedup(btf_raw, ext_raw)
        assert ours_btf == theirs_btf, path
        assert ours_ext == theirs_ext, path


# -- several objects' BTF concatenated without dedup: the cross-CU work ------------------------

def concatenate(paths):
    """All types of all objects, ids shifted, strings re-added; .BTF.ext records carried along.
    This is BTF with every cross-object duplicate still in it."""
    out = Btf()
    ext = BtfExt(hdr_len=32, func_info=ExtInfo(FuncInfo, 8), line_info=ExtInfo(LineInfo, 16),
                 core_relo=ExtInfo(CoreRelo, 16))
    for path in paths:
        obj = Object.read(path)
        shift = len(out) - 1

        def renumber(tid, s=shift):
            return tid + s if tid else 0

        for t in obj.btf.types:
            c = t.copy()
            c.remap_ids(renumber)
            c.name_off = None
            for entry in c.members + c.enums + c.params:
                entry.name_off = None
            out.add(c)
        if obj.btf_ext is None:
            continue
        strings = obj.btf.strings
        for mine, theirs in zip(ext.tables(), obj.btf_ext.tables()):
            for sec in theirs.sections:
                records = []
                for r in sec.records:
                    if isinstance(r, FuncInfo):
                        records.append(FuncInfo(r.insn_off, renumber(r.type_id)))
                    elif isinstance(r, LineInfo):
                        records.append(LineInfo(r.insn_off, out.strings.add(strings.get(r.file_name_off)),
                                                out.strings.add(strings.get(r.line_off)), r.line_col))
                    else:
                        records.append(CoreRelo(r.insn_off, renumber(r.type_id),
                                                out.strings.add(strings.get(r.access_str_off)), r.kind))
                mine.sections.append(ExtSection(sec.name, records))
    for table in ext.tables():
        if not table.sections:
            table.rec_size = 0  # libbpf refuses a table that has a record size but no records
    ext_raw = ext.encode(out.strings)  # may add section names: encode .BTF after it
    return out.encode(), ext_raw


@pytest.mark.oracle
@pytest.mark.parametrize("case", ["funcs", "vars", "maps", "core", "chain"])
def test_concatenated_objects_match_libbpf(build_case, case):
    require_libbpf()
    btf_raw, ext_raw = concatenate(build_case(case).inputs)
    ours_btf, ours_ext, mapping = _ours(btf_raw, ext_raw)
    theirs_btf, theirs_ext = libbpf_dedup(btf_raw, ext_raw)
    assert ours_btf == theirs_btf
    assert ours_ext == theirs_ext
    assert len(Btf.parse(ours_btf).types) < len(Btf.parse(btf_raw).types)  # duplicates went
    assert len(mapping) == len(Btf.parse(btf_raw))


@pytest.mark.oracle
def test_split_btf_matches_libbpf(build_case):
    """Types of one object as split BTF on top of another's: split types equal to base types
    map to the base ids, the rest is deduplicated among themselves."""
    require_libbpf()
    a, b = build_case("vars").inputs
    base_raw, _ = _sections(a)
    base = Btf.parse(base_raw)
    split = Btf(base=base)
    other = Object.read(b).btf
    shift = len(base) - 1
    for t in other.types:
        c = t.copy()
        c.remap_ids(lambda tid: tid + shift if tid else 0)
        c.name_off = None
        for entry in c.members + c.enums + c.params:
            entry.name_off = None
        split.add(c)
    split_raw = split.encode()
    ours_btf, _, mapping = _ours(split_raw, base_raw=base_raw)
    theirs_btf, _ = libbpf_dedup(split_raw, base_raw=base_raw)
    assert ours_btf == theirs_btf
    int_id = base.find("int", B.INT)
    assert mapping[split.find("int", B.INT)] == int_id  # the split 'int' is the base's


@pytest.mark.oracle
def test_split_btf_every_type_kept_base_fwd_resolved():
    """Every split type is kept, but a struct walk maps the base's FWD S to the split's struct
    S: that base id's new id is the struct's (compaction cannot take the shortcut of a kept
    BTF whose ids all stay), and the bytes are libbpf's."""
    require_libbpf()
    base = Btf()
    int_id = _int(base)
    fwd = base.add(BtfType(B.FWD, "S"))
    fwd_ptr = _ptr(base, fwd)
    base.type(base.add(BtfType(B.STRUCT, "T", size=8))).members = [Member("s", fwd_ptr, 0)]
    base_raw = base.encode()
    split = Btf(base=Btf.parse(base_raw))
    struct_s = split.add(BtfType(B.STRUCT, "S", size=4))
    split.type(struct_s).members = [Member("x", int_id, 0)]
    split.type(split.add(BtfType(B.STRUCT, "T", size=8))).members = [Member("s", _ptr(split, struct_s), 0)]
    split.type(split.add(BtfType(B.STRUCT, "U", size=8))).members = [Member("f", fwd_ptr, 0)]
    split_raw = split.encode()
    ours_btf, _, mapping = _ours(split_raw, base_raw=base_raw)
    theirs_btf, _ = libbpf_dedup(split_raw, base_raw=base_raw)
    assert ours_btf == theirs_btf
    assert mapping[fwd] == struct_s
    assert [mapping[tid] for tid in range(len(mapping)) if tid != fwd] == [tid for tid in range(len(mapping))
                                                                           if tid != fwd]


@pytest.mark.oracle
def test_vmlinux_matches_libbpf():
    """126k already-deduplicated kernel types: nothing merges, strings are rebuilt in first-use
    order, and every byte equals libbpf's."""
    require_libbpf()
    raw = open("/sys/kernel/btf/vmlinux", "rb").read()
    ours_btf, _, mapping = _ours(raw)
    theirs_btf, _ = libbpf_dedup(raw)
    assert ours_btf == theirs_btf
    assert mapping == list(range(len(mapping)))


# -- behaviours, on hand-built BTF --------------------------------------------------------------

def _int(b: Btf, name="int", size=4) -> int:
    return b.add(BtfType(B.INT, name, size=size, int_encoding=B.INT_SIGNED, int_bits=size * 8))


def _ptr(b: Btf, to: int) -> int:
    return b.add(BtfType(B.PTR, type=to))


def cross_cu_forward_declarations() -> Btf:
    """libbpf's own example: each CU knows one of A and B only as a FWD."""
    b = Btf()
    # CU 1: struct S; struct A { int a; A *self; S *parent; }; struct B; struct S { A *a_ptr; B *b_ptr; }
    i1 = _int(b)
    a1 = b.add(BtfType(B.STRUCT, "A", size=24))
    s1 = b.add(BtfType(B.STRUCT, "S", size=16))
    fb1 = b.add(BtfType(B.FWD, "B"))
    pa1, ps1, pb1 = _ptr(b, a1), _ptr(b, s1), _ptr(b, fb1)
    b.type(a1).members = [Member("a", i1, 0), Member("self", pa1, 64), Member("parent", ps1, 128)]
    b.type(s1).members = [Member("a_ptr", pa1, 0), Member("b_ptr", pb1, 64)]
    # CU 2: struct S; struct A; struct B { int b; B *self; S *parent; }; struct S { ... }
    i2 = _int(b)
    fa2 = b.add(BtfType(B.FWD, "A"))
    b2 = b.add(BtfType(B.STRUCT, "B", size=24))
    s2 = b.add(BtfType(B.STRUCT, "S", size=16))
    pa2, pb2, ps2 = _ptr(b, fa2), _ptr(b, b2), _ptr(b, s2)
    b.type(b2).members = [Member("b", i2, 0), Member("self", pb2, 64), Member("parent", ps2, 128)]
    b.type(s2).members = [Member("a_ptr", pa2, 0), Member("b_ptr", pb2, 64)]
    return b


def unambiguous_forward() -> Btf:
    """CU 1 has only `struct foo; struct foo *x`, CU 2 `struct foo { int u; }; ... *y`."""
    b = Btf()
    fwd = b.add(BtfType(B.FWD, "foo"))
    b.add(BtfType(B.VAR, "x", type=_ptr(b, fwd), linkage=B.VAR_GLOBAL_ALLOCATED))
    foo = b.add(BtfType(B.STRUCT, "foo", size=4, members=[Member("u", _int(b), 0)]))
    b.add(BtfType(B.VAR, "y", type=_ptr(b, foo), linkage=B.VAR_GLOBAL_ALLOCATED))
    return b


def enum_forward_and_enum64() -> Btf:
    b = Btf()
    b.add(BtfType(B.ENUM, "e", size=4))
    b.add(BtfType(B.ENUM64, "e", size=8, enums=[EnumValue("BIG", 1 << 40)]))
    return b


def identical_nested_structs() -> Btf:
    """A compiler quirk libbpf tolerates: one CU with two identical copies of struct T (down to
    identical copies of its array member) used for two fields of S."""
    b = Btf()
    i = _int(b)
    arr = b.add(BtfType(B.ARRAY, type=i, index_type=i, nelems=1))
    t = b.add(BtfType(B.STRUCT, "T", size=4, members=[Member("x", arr, 0)]))
    b.add(BtfType(B.STRUCT, "S", size=8, members=[Member("a", t, 0), Member("b", t, 32)]))
    first = len(b)  # the other CU's S comes before its T copies
    b.add(BtfType(B.STRUCT, "S", size=8, members=[Member("a", first + 4, 0), Member("b", first + 5, 32)]))
    i2 = _int(b)
    a1 = b.add(BtfType(B.ARRAY, type=i2, index_type=i2, nelems=1))
    a2 = b.add(BtfType(B.ARRAY, type=i2, index_type=i2, nelems=1))
    b.add(BtfType(B.STRUCT, "T", size=4, members=[Member("x", a1, 0)]))
    b.add(BtfType(B.STRUCT, "T", size=4, members=[Member("x", a2, 0)]))
    return b


def function_prototypes() -> Btf:
    """Equal FUNC_PROTOs (and FUNCs) merge, argument names count, typedef chains collapse."""
    b = Btf()
    for _ in range(2):
        i = _int(b)
        td = b.add(BtfType(B.TYPEDEF, "myint", type=i))
        proto = b.add(BtfType(B.FUNC_PROTO, type=td, params=[Param("a", td), Param("b", i)]))
        b.add(BtfType(B.FUNC, "f", type=proto, linkage=B.FUNC_GLOBAL))
    b.add(BtfType(B.FUNC_PROTO, type=1, params=[Param("other", 1)]))
    return b


def _kinds_and_names(btf: Btf):
    return sorted((t.kind_name, t.name) for t in btf.types)


def _dedup_copy(build, flavour=LIBBPF) -> Btf:
    btf = Btf.parse(build().encode())
    dedup(btf, flavour=flavour)
    return btf


def test_forward_declarations_resolve_across_compilation_units():
    out = _dedup_copy(cross_cu_forward_declarations)
    assert _kinds_and_names(out) == sorted(
        [("INT", "int"), ("STRUCT", "A"), ("STRUCT", "B"), ("STRUCT", "S"),
         ("PTR", ""), ("PTR", ""), ("PTR", "")])


@pytest.mark.parametrize("flavour, kept_fwd", [(LIBBPF, False), (BPFTOOL_7_1, True)])
def test_unambiguous_forward_declaration(flavour, kept_fwd):
    out = _dedup_copy(unambiguous_forward, flavour)
    assert (("FWD", "foo") in _kinds_and_names(out)) == kept_fwd
    assert {out.type(t.type).kind for t in out.types if t.kind == B.VAR} == {B.PTR}
    assert len([t for t in out.types if t.kind == B.PTR]) == (2 if kept_fwd else 1)


def test_ambiguous_forward_declaration_stays():
    b = unambiguous_forward()
    b.add(BtfType(B.STRUCT, "foo", size=8, members=[Member("v", _int(b, "long", 8), 0)]))
    out = Btf.parse(b.encode())
    dedup(out)
    assert ("FWD", "foo") in _kinds_and_names(out)
    assert _kinds_and_names(out).count(("STRUCT", "foo")) == 2


@pytest.mark.parametrize("flavour, expected", [
    (LIBBPF, [("ENUM64", "e")]),
    (BPFTOOL_7_1, [("ENUM", "e"), ("ENUM64", "e")]),
])
def test_enum_forward_declaration_and_enum64(flavour, expected):
    assert _kinds_and_names(_dedup_copy(enum_forward_and_enum64, flavour)) == expected


def test_identical_nested_structs_are_merged():
    out = _dedup_copy(identical_nested_structs)
    assert _kinds_and_names(out) == sorted([("INT", "int"), ("ARRAY", ""), ("STRUCT", "T"), ("STRUCT", "S")])


def test_function_prototypes_merge():
    out = _dedup_copy(function_prototypes)
    assert [t.kind_name for t in out.types].count("FUNC") == 1
    assert [t.kind_name for t in out.types].count("FUNC_PROTO") == 2  # the other names differ


BEHAVIOURS = [cross_cu_forward_declarations, unambiguous_forward, enum_forward_and_enum64,
              identical_nested_structs, function_prototypes]


@pytest.mark.oracle
@pytest.mark.parametrize("build", BEHAVIOURS, ids=lambda f: f.__name__)
def test_behaviours_match_libbpf(build):
    require_libbpf()
    raw = build().encode()
    assert _ours(raw)[0] == libbpf_dedup(raw)[0]


def _wrap_in_object(btf: Btf, path: str) -> None:
    """An ELF object holding nothing but this BTF: what bpftool's linker dedups as is."""
    obj = Object()
    obj.sections += [Section(".strtab", SHT_STRTAB), Section(".symtab", SHT_SYMTAB, addralign=8),
                     Section(".BTF", SHT_PROGBITS, addralign=8)]
    obj.shstrndx = 1
    obj.btf = btf
    obj.write(path)


@pytest.mark.oracle
@pytest.mark.parametrize("build", BEHAVIOURS, ids=lambda f: f.__name__)
def test_behaviours_through_the_linker_match_bpftool(tmp_path, build):
    src = str(tmp_path / "in.o")
    _wrap_in_object(build(), src)
    rc, err, theirs = bpftool_link([src], str(tmp_path / "out.o"))
    assert rc == 0, err
    assert link([src]).to_bytes() == theirs


# -- results and failures ------------------------------------------------------------------------

def test_mapping_and_btf_ext_follow_the_types():
    b = function_prototypes()
    ext = BtfExt(hdr_len=32, func_info=ExtInfo(FuncInfo, 8, [ExtSection(".text", [
        FuncInfo(0, 4), FuncInfo(8, 8)])]), line_info=ExtInfo(LineInfo, 0), core_relo=ExtInfo(CoreRelo, 0))
    raw_ext = ext.encode(b.strings)
    btf = Btf.parse(b.encode())
    ext = BtfExt.parse(raw_ext, btf.strings)
    mapping = dedup(btf, ext)
    assert mapping[4] == mapping[8]  # the two FUNCs 'f'
    assert [r.type_id for r in ext.func_info.sections[0].records] == [mapping[4]] * 2
    assert btf.type(mapping[4]).name == "f"
    assert ext.func_info.sections[0].name_off == btf.strings.find(".text")


def test_reference_loop_is_an_error():
    b = Btf()
    b.add(BtfType(B.PTR, type=2))
    b.add(BtfType(B.CONST, type=1))
    with pytest.raises(BtfError, match="reference loop"):
        dedup(b)


def test_unknown_flavour():
    with pytest.raises(ValueError, match="unknown BTF dedup flavour"):
        dedup(Btf(), flavour="libbpf-0.1")


def test_dedup_keeps_type_order_and_idempotence():
    once = _dedup_copy(cross_cu_forward_declarations)
    twice = Btf.parse(once.encode())
    mapping = dedup(twice)
    assert mapping == list(range(len(mapping)))
    assert twice.encode() == once.encode()
    assert dump_raw(twice) == dump_raw(once)


# -- the words entry point -----------------------------------------------------------------------

def _names_elsewhere(build, repeated: str) -> bytes:
    """The BTF of ``build`` with a string table that is not libbpf's: strings no name uses
    first, then the names. "repeated": every unused string twice and the type named "int" read
    from the middle of "xint"; "names-twice": the names twice, every other name read from the
    second copy (two offsets, one text)."""
    btf = build()
    names = sorted({item.name for t in btf.types for item in [t] + t.members + t.enums + t.params})
    unused = "\0".join(["xint"] + ["zz_" + name for name in names]).encode() + b"\0"
    block = "\0".join(n for n in names if n).encode() + b"\0"
    data = (b"\0" + unused + (unused if repeated == "repeated" else b"") + block
            + (block if repeated == "names-twice" else b""))
    table = B.StringTable(data)
    out = Btf([t.copy() for t in btf.types], table)
    items = [item for t in out.types for item in [t] + t.members + t.enums + t.params]
    for i, item in enumerate(items):
        item.name_off = None  # None: found by text (its first copy)
        if repeated == "repeated" and item.name == "int":
            item.name_off = 2
        elif repeated == "names-twice" and item.name and i % 2:
            item.name_off = table.find(item.name) + len(block)
    return out.encode()


@pytest.mark.parametrize("build", BEHAVIOURS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("repeated", ["unique", "repeated", "names-twice"],
                         ids=["unique-strings", "repeated-strings", "names-twice"])
def test_any_string_table_gives_libbpfs_strings(build, flavour, repeated):
    """Strings no name uses (repeated or not) and names in another order go the by-offset way;
    a name inside another string and two names of one text at two offsets the by-text way; a
    table that is libbpf's already keeps its offsets: each gives the same BTF."""
    plain = dedup_raw(build().encode(), flavour=flavour)
    odd_raw = _names_elsewhere(build, repeated)
    assert odd_raw != build().encode()
    odd = dedup_raw(odd_raw, flavour=flavour)
    assert (odd.data, odd.mapping) == (plain.data, plain.mapping)


def _mutated(raw: bytes, at: int, word: int) -> bytes:
    """``raw`` with the type section's word ``at`` replaced (little-endian BTF)."""
    pos = 24 + 4 * at
    return raw[:pos] + word.to_bytes(4, "little") + raw[pos + 4:]


@pytest.mark.parametrize("bad", [
    lambda raw: raw[:30],  # cut inside the first record
    lambda raw: _mutated(raw, 1, 31 << 24),  # an unknown kind
    lambda raw: _mutated(raw, 5, 0x7FFF),  # the typedef refers to a type that does not exist
    lambda raw: _mutated(raw, 4, 0xFFFFFF),  # the typedef's name is past the string table
    lambda raw: b"\x00" + raw[1:],  # bad magic
], ids=["truncated", "unknown-kind", "bad-reference", "name-past-the-table", "bad-magic"])
def test_bad_input_is_the_parsers_error(bad):
    raw = bad(function_prototypes().encode())
    with pytest.raises(BtfError) as parsed:
        Btf.parse(raw, "in.btf")
    with pytest.raises(BtfError) as deduplicated:
        dedup_raw(raw, "in.btf")
    assert str(deduplicated.value) == str(parsed.value)
