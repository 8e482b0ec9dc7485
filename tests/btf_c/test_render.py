"""BTF to C on types written for the test: every tricky layout survives BTF -> C -> clang -> BTF,
single declarations are spelled as C spells them, and bad BTF is one clear error."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bpf_build.model.btf import (
    ARRAY,
    CONST,
    ENUM,
    ENUM64,
    FUNC_PROTO,
    INT,
    INT_SIGNED,
    PTR,
    SIZED_KINDS,
    STRUCT,
    TYPEDEF,
    UNION,
    VAR,
    VOLATILE,
    Btf,
    BtfType,
    EnumValue,
    Member,
    Param,
)
from bpf_build.btf.c import CWriter, datasec_fields, render_header
from bpf_build.model.elf import Object
from bpf_build.errors import BtfError
from bpf_build.loader.open import open_object

from tests.btf_c.btfc_helpers import clang_check, layout_asserts, short_way_spells_as_the_general_walk

TRICKY_TYPES = r"""
    typedef unsigned long long u64;
    struct inner { int a; char b; };
    struct bits { unsigned a: 3, b: 5; int c: 10; u64 d: 40; char e; unsigned f: 1; };
    struct packed_s { char c; int i; long l; } __attribute__((packed));
    struct aligned16 { int x; } __attribute__((aligned(16)));
    struct holder { char c; struct aligned16 al; struct packed_s p; short tail; };
    struct over_aligned_member { char a; long b __attribute__((aligned(32))); char c; };
    struct nested {
        struct { int x, y; } point;
        union { int i; float f; unsigned char raw[4]; };
        struct { struct { char deep; } level2; } level1;
    };
    enum small_e { SMALL_A, SMALL_B = 200 } __attribute__((packed));
    enum signed_e { NEG = -5, POS = 3 };
    enum wide_e { WIDE = 0x100000000ULL, WIDE_NEG = -1LL };
    typedef int (*cb_t)(void *ctx, const char *fmt, ...);
    struct fn_ptrs {
        void (*handlers[4])(int);
        int (*(*getter)(void))[3];
        cb_t cb;
        void (*(*nested)(int, void (*)(long)))(char);
    };
    struct list { struct list *next; struct later *fwd_used; };
    struct later { struct list l; int matrix[3][4]; const volatile int cv; char *const *argv; };
    struct flex { int n; char data[]; };
    union u_pad { char c[3]; int i; };
    struct zero_width { char a; int: 0; char b; };
    struct end_pad { long a; char b; };
    struct empty {};
    typedef struct { int anon_typedef_member; } anon_t;
    struct bool_and_float { _Bool flag; float f; double d; };

    struct all {
        struct inner inner; struct bits bits; struct packed_s packed; struct holder holder;
        struct over_aligned_member over; struct nested nested; enum small_e small;
        enum signed_e sgn; enum wide_e wide; struct fn_ptrs fns; struct later later;
        union u_pad pad; struct zero_width zw; struct end_pad ep; struct empty empty; anon_t at;
        struct bool_and_float bf; struct flex *flex;
    };
    struct all everything;
"""


@pytest.fixture(scope="module")
def tricky_btf(compile_c) -> Btf:
    obj = Object.read(compile_c(TRICKY_TYPES, name="tricky_types"))
    return obj.btf


def struct_layouts(btf: Btf) -> dict:
    """name -> (kind, size, [(member, bit offset, bitfield size)]) for every named struct/union,
    and name -> [(enumerator, value)] for named enums: what a C header must reproduce."""
    layouts = {}
    for _, t in btf.items():
        if t.kind in (STRUCT, UNION) and t.name:
            layouts[t.name] = (t.kind, t.size, [(m.name, m.offset, m.bitfield_size) for m in t.members])
        elif t.kind in (ENUM, ENUM64) and t.name:
            layouts[t.name] = (t.size, [(e.name, e.value) for e in t.enums])
    return layouts


def test_tricky_layouts_round_trip_through_clang(tricky_btf, tmp_path):
    header = render_header(tricky_btf, guard="__TRICKY_H__")
    (tmp_path / "tricky.h").write_text(header)
    obj_path = clang_check('#include "tricky.h"\nstruct all everything;\n', tmp_path,
                           name="round_trip", syntax_only=False)
    again = Object.read(obj_path).btf
    assert struct_layouts(again) == struct_layouts(tricky_btf)
    assert len(struct_layouts(tricky_btf)) >= 18


def test_tricky_layouts_hold_as_static_asserts(tricky_btf, tmp_path):
    writer = CWriter(tricky_btf)
    writer.add_all(range(1, len(tricky_btf)))
    (tmp_path / "types.h").write_text(writer.take())
    clang_check('#include "types.h"\n' + layout_asserts(tricky_btf, writer), tmp_path)


def test_tricky_header_spells_packing_padding_and_function_pointers(tricky_btf):
    text = render_header(tricky_btf)
    assert "struct packed_s {\n\tchar c;\n\tint i;\n\tlong l;\n} __attribute__((packed));" in text
    assert "\tvoid (*handlers[4])(int);" in text
    assert "\tint (* (*getter)(void))[3];" in text  # spaced as libbpf spells it
    assert "\tvoid (* (*nested)(int, void (*)(long)))(char);" in text
    assert "typedef int (*cb_t)(void *, const char *, ...);" in text
    assert "} __attribute__((mode(byte)));" in text  # the packed one-byte enum
    assert "\tWIDE = 4294967296LL," in text and "\tWIDE_NEG = -1LL," in text and "\tNEG = -5," in text
    assert "\tunsigned int a: 3;" in text
    # struct list points to struct later before later is defined: a forward declaration.
    assert text.index("struct later;") < text.index("struct list {") < text.index("struct later {")


def test_usual_declarations_spell_as_the_general_walk(tricky_btf):
    """Arrays (int matrix[3][4], char data[0]), pointers with qualifiers (char *const *argv) and
    function pointers (int (*cb)(void *ctx, const char *fmt, ...)) spelled the short way are what
    the general walk spells."""
    assert short_way_spells_as_the_general_walk(tricky_btf) > 20


def test_records_and_their_words_render_the_same(tricky_btf):
    """One writer for both: a Btf of records renders through its encoding, TypeWords (what
    bpf-build vmlinux reads) directly; the headers, names and layouts must agree."""
    from bpf_build.model.btf import read_words, validate
    words = read_words(tricky_btf.encode(), "tricky.btf")
    validate(words)
    assert render_header(words) == render_header(tricky_btf)
    by_words, by_records = CWriter(words), CWriter(tricky_btf)
    ids = range(1, len(tricky_btf))
    by_words.add_all(ids)
    by_records.add_all(ids)
    assert by_words.take() == by_records.take()
    named = [tid for tid, t in tricky_btf.items() if t.kind in (STRUCT, UNION) and t.name]
    assert [(by_words.size_of(i), by_words.align_of(i), by_words.type_name(i)) for i in named] == \
        [(by_records.size_of(i), by_records.align_of(i), by_records.type_name(i)) for i in named]


def test_the_referenced_types_column_is_the_same_gathered_or_mapped(tricky_btf, monkeypatch):
    """TypeTable.refs (word 2 of each record: a referenced type or a size; an ARRAY's element)
    is gathered in chunks from words in an array, mapped one by one from words in a list: the
    same column either way, whatever the chunk size (a tail of one id included), and a header
    written from either the same."""
    from bpf_build.btf.c import context
    from bpf_build.model.btf import TypeWords, read_words
    words = read_words(tricky_btf.encode(), "tricky.btf")
    listed = TypeWords(list(words.words), words.offsets, words.kinds, words.names, words.base,
                       words.start_id, words.path)
    expected = list(context.TypeTable(listed).refs)
    assert expected[1:] == [t.size if t.kind in SIZED_KINDS else t.type for _, t in tricky_btf.items()]
    for chunk in (1, 2, 3, len(expected) - 1, len(expected) + 5):
        monkeypatch.setattr(context, "_GATHERED", chunk)
        assert list(context.TypeTable(words).refs) == expected, chunk
    assert render_header(listed) == render_header(words)


def test_output_is_deterministic_across_processes(compile_c, tmp_path):
    path = compile_c(TRICKY_TYPES, name="tricky_types")
    code = ("import sys; from bpf_build.model.elf import Object; from bpf_build.btf.c import render_header;"
            "sys.stdout.write(render_header(Object.read(sys.argv[1]).btf))")
    outputs = {subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                              env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout
               for seed in ("1", "2", "3")}
    assert len(outputs) == 1 and next(iter(outputs)).startswith("#ifndef __VMLINUX_H__")


# -- single declarations (what skeletons use) ------------------------------------------------------

def small_btf(*types: BtfType) -> Btf:
    btf = Btf()
    for t in types:
        btf.add(t)
    return btf


def test_declarations_of_modifiers_arrays_and_function_pointers():
    btf = small_btf(
        BtfType(INT, "int", size=4, int_encoding=INT_SIGNED, int_bits=32),  # 1
        BtfType(CONST, type=1),                                              # 2 const int
        BtfType(PTR, type=2),                                                # 3 const int *
        BtfType(CONST, type=3),                                              # 4 const int *const
        BtfType(ARRAY, type=4, index_type=1, nelems=8),                      # 5 [8] of 4
        BtfType(FUNC_PROTO, type=1, params=[Param("x", 1), Param("", 0)]),   # 6 int (int x, ...)
        BtfType(PTR, type=6),                                                # 7
        BtfType(VOLATILE, type=7),                                           # 8
        BtfType(TYPEDEF, "handler_t", type=7),                               # 9
    )
    w = CWriter(btf)
    assert w.declaration(5, "table") == "const int * const table[8]"
    assert w.declaration(5, "table", strip_mods=True) == "int *table[8]"
    assert w.declaration(8, "cb") == "int (* volatile cb)(int x, ...)"
    assert w.declaration(9, "h") == "handler_t h"
    assert w.declaration(0, "") == "void"


def test_anonymous_struct_declaration_is_written_inline_with_indent():
    btf = small_btf(
        BtfType(INT, "char", size=1, int_bits=8),
        BtfType(STRUCT, "", size=2, members=[Member("a", 1, 0), Member("b", 1, 8)]),
    )
    assert CWriter(btf).declaration(2, "pair", indent=2) == "struct {\n\t\t\tchar a;\n\t\t\tchar b;\n\t\t} pair"


def test_duplicate_names_get_numbered_suffixes():
    btf = small_btf(
        BtfType(INT, "int", size=4, int_encoding=INT_SIGNED, int_bits=32),
        BtfType(STRUCT, "dup", size=4, members=[Member("a", 1, 0)]),
        BtfType(STRUCT, "dup", size=8, members=[Member("a", 1, 0), Member("b", 1, 32)]),
        BtfType(TYPEDEF, "dup", type=1),  # typedef names are a separate namespace
    )
    text = render_header(btf)
    assert "struct dup {\n\tint a;\n};" in text
    assert "struct dup___2 {\n\tint a;\n\tint b;\n};" in text
    assert "typedef int dup;" in text


def test_a_type_spelled_again_keeps_each_name_in_place_and_anonymous_bodies_are_written_anew():
    """A writer spells a type's declaration once and reuses the text around the name; a chain that
    writes an anonymous enum inline is written in full each time, its enumerators numbered anew."""
    btf = small_btf(
        BtfType(INT, "int", size=4, int_encoding=INT_SIGNED, int_bits=32),   # 1
        BtfType(FUNC_PROTO, type=1, params=[Param("x", 1)]),                 # 2 int (int x)
        BtfType(PTR, type=2),                                                # 3
        BtfType(ARRAY, type=3, index_type=1, nelems=4),                      # 4 [4] of 3
        BtfType(ENUM, "", size=4, enums=[EnumValue("ONE", 1)]),              # 5
        BtfType(STRUCT, "s", size=8, members=[Member("a", 5, 0), Member("b", 5, 32)]),
    )
    w = CWriter(btf)
    assert w.declaration(4, "first") == "int (*first[4])(int x)"
    assert w.declaration(4, "second") == "int (*second[4])(int x)"
    assert w.declaration(4) == "int (*[4])(int x)"
    assert w.declaration(4, "third") == "int (*third[4])(int x)"
    text = render_header(btf)
    assert "struct s {\n\tenum {\n\t\tONE = 1,\n\t} a;\n\tenum {\n\t\tONE___2 = 1,\n\t} b;\n};" in text


def test_a_prototype_orders_its_parameter_types_where_it_stands():
    """A FUNC_PROTO has no definition, but a struct it takes by value is ordered where the
    prototype stands (as libbpf's btf_dump orders it), ahead of a struct with a lower id."""
    btf = small_btf(
        BtfType(INT, "int", size=4, int_encoding=INT_SIGNED, int_bits=32),   # 1
        BtfType(FUNC_PROTO, type=1, params=[Param("b", 4)]),                 # 2 int (struct b b)
        BtfType(STRUCT, "a", size=4, members=[Member("x", 1, 0)]),           # 3
        BtfType(STRUCT, "b", size=4, members=[Member("y", 1, 0)]),           # 4
        BtfType(PTR, type=3),                                                # 5 behind a pointer:
        BtfType(FUNC_PROTO, type=5, params=[Param("c", 7)]),                 # 6 no need to order
        BtfType(STRUCT, "c", size=4, members=[Member("z", 1, 0)]),           # 7
    )
    text = render_header(btf)
    assert text.index("struct b {") < text.index("struct a {") < text.index("struct c {")


# -- bad BTF -----------------------------------------------------------------------------------

def int_type():
    return BtfType(INT, "int", size=4, int_encoding=INT_SIGNED, int_bits=32)


BAD_BTF = {
    "embedding cycle": (
        [int_type(),
         BtfType(STRUCT, "a", size=8, members=[Member("b", 3, 0)]),
         BtfType(STRUCT, "b", size=8, members=[Member("a", 2, 0)])],
        "type [2] STRUCT 'a': cycle through non-pointer types cannot be written in C "
        "([2] STRUCT 'a' -> [3] STRUCT 'b' -> [2] STRUCT 'a')"),
    "typedef loop": (
        [BtfType(TYPEDEF, "t1", type=2), BtfType(TYPEDEF, "t2", type=1)],
        "type [1] TYPEDEF 't1': type references nest too deep or loop without a struct or union "
        "([1] TYPEDEF 't1' -> [2] TYPEDEF 't2' -> [1] TYPEDEF 't1')"),
    "pointer to itself": (
        [BtfType(PTR, type=1)],
        "type [1] PTR '': type references nest too deep or loop without a struct or union "
        "([1] PTR '' -> [1] PTR '')"),
    "missing member type": (
        [int_type(), BtfType(STRUCT, "s", size=4, members=[Member("x", 77, 0)])],
        "type [2] refers to type id 77; only 2 types exist"),
    "member name with a space": (
        [int_type(), BtfType(STRUCT, "s", size=4, members=[Member("bad name", 1, 0)])],
        "type [2] STRUCT 's': member name 'bad name' is not a valid C identifier"),
    "struct named by a keyword": (
        [int_type(), BtfType(STRUCT, "int", size=4, members=[Member("x", 1, 0)])],
        "type [2] STRUCT 'int': struct name 'int' is not a valid C identifier"),
    "enumerator starting with a digit": (
        [BtfType(ENUM, "e", size=4, enums=[EnumValue("1st", 1)])],
        "type [1] ENUM 'e': enumerator name '1st' is not a valid C identifier"),
    "member without alignment after one that cannot be written": (
        # A struct is laid out before its body is written: what fails is the void member's
        # alignment, not the bad parameter name of the member before it.
        [int_type(), BtfType(FUNC_PROTO, type=1, params=[Param("1bad", 1)]), BtfType(PTR, type=2),
         BtfType(STRUCT, "s", size=16, members=[Member("cb", 3, 0), Member("v", 0, 64)])],
        "type [0]: void has no alignment"),
    "function as a member": (
        [int_type(), BtfType(FUNC_PROTO, type=1), BtfType(12, "f", type=2),
         BtfType(STRUCT, "s", size=4, members=[Member("f", 3, 0)])],
        "type [3] FUNC 'f': a FUNC cannot be part of a type declaration"),
}


@pytest.mark.parametrize("case", sorted(BAD_BTF))
def test_bad_btf_is_one_clear_error(case):
    types, message = BAD_BTF[case]
    with pytest.raises(BtfError) as err:
        render_header(small_btf(*[t.copy() for t in types]), path="bad.btf")
    assert str(err.value) == f"bad.btf: {message}"


# The same BTF through the CLI: the reader's validation refuses it before rendering starts.
READER_MESSAGES = {
    "embedding cycle": "type [2] STRUCT 'a': refers back to itself without a pointer (reference loop)",
    "member name with a space": "type [2] STRUCT 's': member name 'bad name' is not a valid identifier",
}


@pytest.mark.parametrize("case", sorted(READER_MESSAGES))
def test_cli_reports_bad_btf_in_one_line_and_writes_nothing(case, tmp_path):
    types, _ = BAD_BTF[case]
    message = READER_MESSAGES[case]
    raw = tmp_path / "bad.btf"
    raw.write_bytes(small_btf(*[t.copy() for t in types]).encode())
    out = tmp_path / "out.h"
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "vmlinux", "--btf", str(raw),
                           "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == f"error: {raw}: {message}\n"
    assert proc.stdout == "" and not out.exists()


def test_cli_reports_reference_past_the_end_from_the_parser(tmp_path):
    raw = tmp_path / "bad.btf"
    raw.write_bytes(small_btf(int_type(), BtfType(PTR, type=9)).encode())
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "vmlinux", "--btf", str(raw)],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"error: {raw}: type [2] PTR") and "refers to type id 9" in proc.stderr
    assert proc.stderr.count("\n") == 1


# -- global data sections (shared with the skeleton renderers) ---------------------------------

def test_datasec_fields_pad_as_bpftool(compile_c):
    obj = Object.read(compile_c("""
        char flag = 1;
        static int hidden = 2;
        long wide = 3;
        struct { char c; short s; } pair = {4, 5};
        int *used(void) { return &hidden; }
    """, name="datasec_fields"))
    # clang leaves DATASEC offsets at 0; the open phase fills them in from the symbols, as libbpf.
    btf = open_object(obj).btf
    fields = datasec_fields(btf, btf.find(".data"))
    assert [(f.name, f.padding) for f in fields] == [("flag", 0), ("wide", 7), ("pair", 0)]
    assert [f.offset for f in fields] == [0, 8, 16]
    with pytest.raises(BtfError, match=r"type \[1\] .*: is not a DATASEC"):
        datasec_fields(btf, 1)


def test_a_writer_names_the_file_its_btf_was_read_from(tmp_path):
    """Once: skel --lang python said 'error: type [N] VAR has no alignment' without the file:
    a writer made without a path names the one the BTF was parsed from."""
    btf = small_btf(BtfType(INT, "int", size=4, int_encoding=INT_SIGNED, int_bits=32),
                    BtfType(VAR, "v", type=1, linkage=1))
    parsed = Btf.parse(btf.encode(), "prog.bpf.o")
    with pytest.raises(BtfError) as err:
        CWriter(parsed).align_of(2)
    assert str(err.value) == "prog.bpf.o: type [2] VAR 'v': VAR has no alignment"
