"""Type-level diff from DWARF: signatures and public structs under libbpf's opts convention."""

from __future__ import annotations

import pytest

from bpf_build.abi.dwarftypes import normalise_base_name

MAP = "LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_obj__open;\n\t\tbpf_obj__mode;\n\tlocal: *;\n};\n"

HEADER = """
    #include <stddef.h>
    struct bpf_obj;
    struct bpf_obj_opts {
        size_t sz;
        const char *name;
        int flags;
    };
    struct bpf_point {
        int x;
        int y;
    };
    enum bpf_mode {
        BPF_MODE_A = 0,
        BPF_MODE_B = 1,
        __MAX_BPF_MODE,
    };
"""
SOURCE = """
    struct bpf_obj { int private_state; };
    API struct bpf_obj *bpf_obj__open(const struct bpf_obj_opts *opts, struct bpf_point *where) {
        (void)opts; (void)where; return 0;
    }
    API enum bpf_mode bpf_obj__mode(const struct bpf_obj *obj) { (void)obj; return BPF_MODE_A; }
"""


@pytest.fixture
def base(build_lib):
    return build_lib(SOURCE, MAP, header=HEADER)


def type_findings(bpf_abi, old, new, *options):
    """(code, message) of every finding, sorted by code; the exit status must follow severities."""
    r = bpf_abi("diff", old.lib, new.lib, "--json", *options)
    findings = r.json()["findings"]
    assert r.code == (1 if any(f["severity"] == "incompatible" for f in findings) else 0)
    return sorted((f["code"], f["message"]) for f in findings)


def test_surface_in_baseline(bpf_abi, base):
    data = bpf_abi("dump", base.lib).out
    assert ('"bpf_obj__open@@LIBBPF_1.0.0": {"params": ["const struct bpf_obj_opts *", "struct bpf_point *"], '
            '"returns": "struct bpf_obj *"}') in data
    assert ('"struct bpf_obj_opts": {"extensible": "opts", "fields": [["sz", 0, "unsigned long"], '
            '["name", 8, "const char *"], ["flags", 16, "int"]], "size": 24}') in data
    assert '"enum bpf_mode": {"BPF_MODE_A": 0, "BPF_MODE_B": 1, "__MAX_BPF_MODE": 2}' in data
    assert '"struct bpf_obj"' not in data  # defined in the .c file: opaque to callers


def test_opts_struct_may_grow_at_its_end(build_lib, bpf_abi, base):
    grown = build_lib(SOURCE, MAP, header=HEADER.replace("int flags;", "int flags;\n        int extra;"))
    assert type_findings(bpf_abi, base, grown) == []


def test_opts_struct_fields_never_move(build_lib, bpf_abi, base):
    moved = build_lib(SOURCE, MAP, header=HEADER.replace("const char *name;", "int level;\n        const char *name;"))
    assert type_findings(bpf_abi, base, moved) == [
        ("field-moved", "struct bpf_obj_opts: field flags moved from offset 16 to 24"),
        ("field-moved", "struct bpf_obj_opts: field name moved from offset 8 to 16"),
    ]


def test_plain_struct_may_not_grow(build_lib, bpf_abi, base):
    grown = build_lib(SOURCE, MAP, header=HEADER.replace("int y;", "int y;\n        int z;"))
    assert type_findings(bpf_abi, base, grown) == [
        ("record-size-changed", "struct bpf_point: size changed from 8 to 12 bytes; only opts structs (first "
                                "member size_t sz) and size-versioned array elements may grow"),
    ]


def test_field_removed_retyped_or_renamed(build_lib, bpf_abi, base):
    changed = build_lib(SOURCE, MAP, header=HEADER.replace("int flags;", "long flags;").replace("int y;", "int yy;"))
    assert type_findings(bpf_abi, base, changed) == [  # findings come sorted by code
        ("field-renamed", "struct bpf_point: field y was renamed to yy (same offset and type: binaries still work, "
                          "sources using the old name no longer build)"),
        ("field-type-changed", "struct bpf_obj_opts: field flags was int, now long"),
    ]
    removed = build_lib(SOURCE, MAP, header=HEADER.replace("const char *name;", "").replace(
        "int y;", "short y;\n        short y2;"))
    assert type_findings(bpf_abi, base, removed) == [
        ("field-inserted", "struct bpf_point: new field y2 at offset 6 lies inside the old 8 bytes of a struct "
                           "that may not grow; callers built against the old header leave it uninitialised"),
        ("field-moved", "struct bpf_obj_opts: field flags moved from offset 16 to 8"),
        ("field-removed", "struct bpf_obj_opts: field name (const char * at offset 8) was removed"),
        ("field-type-changed", "struct bpf_point: field y was int, now short"),
        ("record-shrank", "struct bpf_obj_opts: size shrank from 24 to 16 bytes"),
    ]


def test_enum_values_never_change(build_lib, bpf_abi, base):
    changed = build_lib(SOURCE, MAP, header=HEADER.replace("BPF_MODE_A = 0,", "BPF_MODE_NEW = 0,\n        BPF_MODE_A,"))
    assert type_findings(bpf_abi, base, changed) == [
        ("enumerator-value-changed", "enum bpf_mode: BPF_MODE_A was 0, now 1"),
    ]  # BPF_MODE_B keeps its explicit 1, so __MAX_BPF_MODE stays 2
    appended = build_lib(SOURCE, MAP, header=HEADER.replace("BPF_MODE_B = 1,", "BPF_MODE_B = 1,\n        BPF_MODE_C,"))
    assert type_findings(bpf_abi, base, appended) == [
        ("sentinel-changed", "enum bpf_mode: sentinel __MAX_BPF_MODE was 2, now 3 (it counts the enumerators)")]
    removed = build_lib(SOURCE.replace("BPF_MODE_A", "0"), MAP, header=HEADER.replace("BPF_MODE_A = 0,", ""))
    assert type_findings(bpf_abi, base, removed) == [
        ("enumerator-removed", "enum bpf_mode: BPF_MODE_A (= 0) was removed")]


def test_signature_changes(build_lib, bpf_abi, base):
    retyped = build_lib(SOURCE.replace("struct bpf_point *where", "long where").replace("(void)where;", ""),
                        MAP, header=HEADER)
    assert type_findings(bpf_abi, base, retyped) == [
        ("function-param-changed", "bpf_obj__open@@LIBBPF_1.0.0 parameter 2 was struct bpf_point *, now long")]
    fewer = build_lib(SOURCE.replace(", struct bpf_point *where", "").replace("(void)where;", ""),
                      MAP, header=HEADER)
    assert type_findings(bpf_abi, base, fewer) == [
        ("function-params-changed", "bpf_obj__open@@LIBBPF_1.0.0 took 2 parameters (const struct bpf_obj_opts *, "
                                    "struct bpf_point *), now 1 (const struct bpf_obj_opts *)")]
    returns = build_lib(SOURCE.replace("API enum bpf_mode bpf_obj__mode", "API long bpf_obj__mode"), MAP, header=HEADER)
    assert type_findings(bpf_abi, base, returns) == [
        ("function-return-changed", "bpf_obj__mode@@LIBBPF_1.0.0 return type was enum bpf_mode, now long")]


def test_what_is_not_a_finding(build_lib, bpf_abi, base):
    """Opaque struct internals, typedef spellings, compiler flags: callers cannot tell."""
    src = SOURCE.replace("struct bpf_obj { int private_state; };",
                         "struct bpf_obj { long more; int private_state; };")
    header = "typedef int coord_t;\n" + HEADER.replace("int x;", "coord_t x;")
    same = build_lib(src, MAP, header=header, cflags=["-O0"])
    assert type_findings(bpf_abi, base, same) == []


def test_no_debug_info_is_an_error_unless_no_types(build_lib, bpf_abi, base, tmp_path):
    """Types silently not compared would pass every break: it is bad input (exit 2) unless the
    caller asked for a symbols-only comparison."""
    stripped = build_lib(SOURCE, MAP, header=HEADER, cflags=["-g0"])
    r = bpf_abi("diff", base.lib, stripped.lib)
    assert (r.code, r.out) == (2, "")
    assert r.err == (f"error: {stripped.lib}: no DWARF debug info (build with -g, or pass --no-types to compare "
                     "symbols only)\n")
    r = bpf_abi("diff", base.lib, stripped.lib, "--no-types")
    assert (r.code, r.lines) == (0, ["bpf-abi diff: clean (2 symbols, 1 version node)"])
    assert bpf_abi("dump", stripped.lib).code == 2
    symbols_only = tmp_path / "symbols-only.json"
    assert bpf_abi("dump", stripped.lib, "--no-types", "-o", symbols_only).code == 0
    r = bpf_abi("diff", symbols_only, base.lib)
    assert r.code == 2 and "the baseline has no types (dumped with --no-types)" in r.err


@pytest.mark.parametrize("gcc,clang", [("long unsigned int", "unsigned long"), ("long long int", "long long"),
                                       ("short unsigned int", "unsigned short"), ("char", "char"),
                                       ("unsigned char", "unsigned char"), ("_Bool", "_Bool"),
                                       ("long int", "long"), ("unsigned int", "unsigned int")])
def test_base_type_spellings_are_normalised(gcc, clang):
    assert normalise_base_name(gcc) == clang


@pytest.mark.parametrize("enabled", [True, False])
def test_reading_types_leaves_the_cyclic_collector_as_it_was(base, tmp_path, enabled):
    # the DWARF walk pauses gc; a caller's setting must survive it, also when the DWARF is corrupt
    import gc

    from bpf_build.abi.snapshot import load_snapshot
    from bpf_build.errors import AbiError

    corrupt = tmp_path / "corrupt.so"
    raw = bytearray(open(base.lib, "rb").read())
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        assert load_snapshot(base.lib).types["functions"]
        assert gc.isenabled() is enabled
        data = _section_bytes(raw, ".debug_info")
        raw[data:data + 64] = b"\xff" * 64  # the first unit's header and DIEs: garbage
        corrupt.write_bytes(bytes(raw))
        with pytest.raises(AbiError):
            load_snapshot(str(corrupt))
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def _section_bytes(raw: bytearray, name: str) -> int:
    """Where a section's contents start in an ELF file."""
    from bpf_build.abi.elfread import ElfImage

    elf = ElfImage("lib", bytes(raw))
    sections = elf.sections()
    return elf.sections_by_name(sections)[name][1].offset


def test_reading_types_leaves_no_reference_cycles(base):
    # the reader's own cycles (a unit and its top DIE, a unit and its file table) are broken once
    # the surface is built, so everything it read is freed at once, not left to a collector pass
    import gc

    from bpf_build.abi.snapshot import load_snapshot

    was = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        snap = load_snapshot(base.lib)
        assert snap.types["functions"] and snap.locations  # locations: the file tables were read
        del snap
        assert gc.collect() == 0
    finally:
        gc.enable() if was else gc.disable()
