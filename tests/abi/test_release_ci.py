"""What a release CI needs from `bpf-abi diff`: no false alarms on libbpf's kinds of changes,
severities and exit codes, suppressions, annotations on header lines, and fast light paths.

Each false-alarm class found on libbpf's real history (issue 15) has a small library of our own
here, built with gcc: the change must be classified as libbpf's maintainers treat it, and the
real break next to it must still fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from .conftest import REPO

MAP = "LIBBPF_1.0.0 {{\n\tglobal:\n{names}\tlocal: *;\n}};\n"


def map_of(*names: str) -> str:
    return MAP.format(names="".join(f"\t\t{n};\n" for n in names))


def findings(run):
    """(severity, code) pairs, sorted; the exit status must follow them (1 iff incompatible)."""
    got = sorted((f["severity"], f["code"]) for f in run.json()["findings"])
    assert run.code == (1 if any(s == "incompatible" for s, _ in got) else 0), run.out
    return got


# -- private structs: the public headers filter ------------------------------------------------

PUBLIC_H = """
    #include <stddef.h>
    struct bpf_ext;                      /* opaque: defined in internal.h */
    struct bpf_ext_opts {
        size_t sz;
        int flags;
    };
    struct bpf_ext *bpf_ext__new(const struct bpf_ext_opts *opts);
    int bpf_ext__count(const struct bpf_ext *ext);
"""
INTERNAL_H = """
    struct bpf_ext_info { int rec_size; int count; };
    struct bpf_ext { struct bpf_ext_info func_info; int data_size; };
"""
EXT_SRC = """
    API struct bpf_ext *bpf_ext__new(const struct bpf_ext_opts *opts) {
        static struct bpf_ext e; (void)opts; return &e;
    }
    API int bpf_ext__count(const struct bpf_ext *ext) { return ext->func_info.count + ext->data_size; }
"""
EXT_MAP = map_of("bpf_ext__new", "bpf_ext__count")


@pytest.fixture
def ext_pair(build_lib):
    old = build_lib(EXT_SRC, EXT_MAP, header=PUBLIC_H, private_header=INTERNAL_H)
    reshaped = INTERNAL_H.replace("int rec_size;", "int rec_size; long pad;").replace(
        "{ struct bpf_ext_info", "{ void *raw; struct bpf_ext_info")
    return old, build_lib(EXT_SRC, EXT_MAP, header=PUBLIC_H, private_header=reshaped)


def test_struct_private_to_the_library_is_not_abi_with_public_headers(ext_pair, build_lib, bpf_abi, tmp_path):
    """libbpf's struct btf_ext/btf_ext_info: forward-declared in btf.h, defined in
    libbpf_internal.h. Without headers bpf-abi cannot know; with them nothing is reported."""
    old, new = ext_pair
    without = findings(bpf_abi("diff", old.lib, new.lib, "--json"))
    assert ("incompatible", "field-moved") in without
    r = bpf_abi("diff", old.lib, new.lib, "--json", "--headers", new.dir / "lib.h")
    assert findings(r) == []
    baseline = bpf_abi("dump", old.lib, "--headers", old.dir / "lib.h").json()
    records = baseline["types"]["records"]
    assert "struct bpf_ext_opts" in records
    assert "struct bpf_ext" not in records and "struct bpf_ext_info" not in records  # nor what only it reaches
    # The same filter applied to a baseline dumped without it.
    full = tmp_path / "full.json"
    assert bpf_abi("dump", old.lib, "-o", full).code == 0
    assert findings(bpf_abi("diff", full, new.lib, "--json", "--headers", new.dir / "lib.h")) == []
    # A public struct still breaks through the filter.
    moved = PUBLIC_H.replace("int flags;", "long level; int flags;")
    changed = bpf_abi("diff", old.lib, "--json", "--headers", old.dir / "lib.h",
                      build_lib(EXT_SRC, EXT_MAP, header=moved, private_header=INTERNAL_H).lib)
    assert findings(changed) == [("incompatible", "field-moved")]


def test_headers_from_pyproject_settings(ext_pair, bpf_abi, tmp_path):
    old, new = ext_pair
    (tmp_path / "include").mkdir()
    (tmp_path / "include" / "lib.h").write_text((new.dir / "lib.h").read_text())
    (tmp_path / "pyproject.toml").write_text('[tool.bpf-abi]\nheaders = ["include"]\n')
    assert findings(bpf_abi("diff", old.lib, new.lib, "--json", "--root", tmp_path)) == []
    (tmp_path / "pyproject.toml").write_text('[tool.bpf-abi]\nheader = ["include"]\n')
    r = bpf_abi("diff", old.lib, new.lib, "--root", tmp_path)
    assert r.code == 2 and r.err.startswith(f"error: {tmp_path}/pyproject.toml: [tool.bpf-abi]: unknown key 'header'")


# -- qualifiers, sentinels, void returns ---------------------------------------------------------

def signature_lib(build_lib, buf="void *", returns="int", mode_enum="BPF_MODE_A = 0, BPF_MODE_B = 1, MAX_BPF_MODE"):
    header = f"""
        #include <stddef.h>
        enum bpf_mode {{ {mode_enum} }};
        int bpf_buf__fill({buf}buf, size_t n);
        {returns} bpf_buf__set_mode(enum bpf_mode mode);
    """
    ret = "" if returns == "void" else "return 0;"
    src = f"""
        API int bpf_buf__fill({buf}buf, size_t n) {{ (void)buf; return (int)n; }}
        API {returns} bpf_buf__set_mode(enum bpf_mode mode) {{ (void)mode; {ret} }}
    """
    return build_lib(src, map_of("bpf_buf__fill", "bpf_buf__set_mode"), header=header)


def test_qualifier_only_change_is_compatible(build_lib, bpf_abi):
    """libbpf 0.7: bpf_map_update_batch's keys went from void * to const void *."""
    old, new = signature_lib(build_lib), signature_lib(build_lib, buf="const void *")
    r = bpf_abi("diff", old.lib, new.lib, "--json")
    assert findings(r) == [("compatible", "qualifier-changed")]
    assert r.json()["findings"][0]["message"] == ("bpf_buf__fill@@LIBBPF_1.0.0 parameter 1 was void *, now const "
                                                  "void * (qualifiers only: layout and calling convention are "
                                                  "unchanged)")
    assert bpf_abi("diff", old.lib, new.lib, "--strict").code == 1
    assert findings(bpf_abi("diff", new.lib, old.lib, "--json")) == [("compatible", "qualifier-changed")]
    # A real type change next to it is still incompatible.
    other = signature_lib(build_lib, buf="const char *")
    assert findings(bpf_abi("diff", old.lib, other.lib, "--json")) == [("incompatible", "function-param-changed")]


def test_signedness_only_change_is_compatible(build_lib, bpf_abi):
    """libbpf 0.7: struct bpf_map_create_opts's int map_flags & co. became __u32."""
    old, new = signature_lib(build_lib, buf="int *"), signature_lib(build_lib, buf="unsigned int *")
    r = bpf_abi("diff", old.lib, new.lib, "--json")
    assert findings(r) == [("compatible", "signedness-changed")]
    assert r.json()["findings"][0]["message"].startswith("bpf_buf__fill@@LIBBPF_1.0.0 parameter 1 was int *, now "
                                                         "unsigned int * (same size")
    wider = signature_lib(build_lib, buf="long *")
    assert findings(bpf_abi("diff", old.lib, wider.lib, "--json")) == [("incompatible", "function-param-changed")]


def test_void_return_becoming_a_value_is_compatible(build_lib, bpf_abi):
    """libbpf 0.8: bpf_program__set_type returned void, then int; old callers never read it."""
    old, new = signature_lib(build_lib, returns="void"), signature_lib(build_lib, returns="int")
    assert findings(bpf_abi("diff", old.lib, new.lib, "--json")) == [("compatible", "function-return-added")]
    assert findings(bpf_abi("diff", new.lib, old.lib, "--json")) == [("incompatible", "function-return-changed")]


def test_uapi_style_sentinels(build_lib, bpf_abi):
    """MAX_BPF_LINK_TYPE grows with every kernel, and became a #define in libbpf 1.4's UAPI copy."""
    old = signature_lib(build_lib)
    grown = signature_lib(build_lib, mode_enum="BPF_MODE_A = 0, BPF_MODE_B = 1, BPF_MODE_C, MAX_BPF_MODE")
    r = bpf_abi("diff", old.lib, grown.lib, "--json")
    assert findings(r) == [("compatible", "sentinel-changed")]
    assert r.json()["findings"][0]["field"] == "MAX_BPF_MODE"
    defined = signature_lib(build_lib, mode_enum="BPF_MODE_A = 0, BPF_MODE_B = 1, __MAX_BPF_MODE };\n"
                            "#define MAX_BPF_MODE __MAX_BPF_MODE\nenum bpf_unused { BPF_UNUSED")
    assert findings(bpf_abi("diff", old.lib, defined.lib, "--json")) == [("note", "sentinel-removed")]
    # Only the last, largest enumerator is a sentinel: removing a real one still breaks.
    removed = signature_lib(build_lib, mode_enum="BPF_MODE_A = 0, MAX_BPF_MODE = 2")
    assert findings(bpf_abi("diff", old.lib, removed.lib, "--json")) == [("incompatible", "enumerator-removed")]


# -- size-versioned arrays -------------------------------------------------------------------

SKEL_H = """
    #include <stddef.h>
    struct bpf_map_skel { const char *name; void **map; };
    struct bpf_obj_skel { size_t sz; int map_cnt; int map_skel_sz; struct bpf_map_skel *maps; };
    int bpf_obj__open_skel(struct bpf_obj_skel *s);
"""
SKEL_SRC = "API int bpf_obj__open_skel(struct bpf_obj_skel *s) { return s->map_cnt; }\n"
SKEL_MAP = map_of("bpf_obj__open_skel")


def skel_lib(build_lib, sized=True, grown=False):
    header = SKEL_H if sized else SKEL_H.replace("int map_skel_sz;", "int map_flags;")
    if grown:
        header = header.replace("void **map; }", "void **map; void **link; }")
    return build_lib(SKEL_SRC, SKEL_MAP, header=header)


def test_size_versioned_array_element_may_grow(build_lib, bpf_abi, tmp_path):
    """libbpf 1.5: struct bpf_map_skeleton grew 24 -> 32 bytes; callers pass map_skel_sz."""
    old, new = skel_lib(build_lib), skel_lib(build_lib, grown=True)
    assert findings(bpf_abi("diff", old.lib, new.lib, "--json")) == []
    # Without the sibling size field it is a plain struct that may not grow ...
    old, new = skel_lib(build_lib, sized=False), skel_lib(build_lib, sized=False, grown=True)
    assert findings(bpf_abi("diff", old.lib, new.lib, "--json")) == [("incompatible", "record-size-changed")]
    # ... unless the project says its callers pass the size.
    assert findings(bpf_abi("diff", old.lib, new.lib, "--json", "--size-versioned", "struct bpf_map_skel")) == []
    (tmp_path / "pyproject.toml").write_text('[tool.bpf-abi]\nsize-versioned = ["struct bpf_map_skel"]\n')
    assert findings(bpf_abi("diff", old.lib, new.lib, "--json", "--root", tmp_path)) == []


# -- suppressions --------------------------------------------------------------------------------

SUPPRESSIONS = """\
# reviewed ABI changes
[[suppress]]
code = "record-size-changed"
type = "struct bpf_map_skel"
reason = "callers pass the element size"

[[suppress]]
symbol = "bpf_gone_*"
reason = "removed in 1.0"
"""


def test_suppressions_accept_reviewed_findings_and_report_stale_ones(build_lib, bpf_abi, tmp_path):
    old, new = skel_lib(build_lib, sized=False), skel_lib(build_lib, sized=False, grown=True)
    path = tmp_path / "suppressions.toml"
    path.write_text(SUPPRESSIONS)
    r = bpf_abi("diff", old.lib, new.lib, "--json", "--suppressions", path)
    assert findings(r) == [("compatible", "unused-suppression"), ("note", "record-size-changed")]
    by_code = {f["code"]: f for f in r.json()["findings"]}
    assert by_code["record-size-changed"]["message"].endswith(
        f"(suppressed by {path}:2: callers pass the element size)")
    assert (by_code["unused-suppression"]["file"], by_code["unused-suppression"]["line"]) == (str(path), 7)
    assert by_code["unused-suppression"]["message"] == ("suppression (symbol = 'bpf_gone_*') matched no finding; "
                                                        "remove it")
    assert bpf_abi("diff", old.lib, new.lib, "--suppressions", path, "--strict").code == 1
    # A suppression matches only what all its keys say.
    path.write_text(SUPPRESSIONS.replace("struct bpf_map_skel", "struct bpf_obj_skel"))
    r = bpf_abi("diff", old.lib, new.lib, "--json", "--suppressions", path)
    assert ("incompatible", "record-size-changed") in findings(r)


def test_strict_and_suppressions_from_pyproject(build_lib, bpf_abi, tmp_path):
    old, new = skel_lib(build_lib, sized=False), skel_lib(build_lib, sized=False, grown=True)
    (tmp_path / "abi").mkdir()
    (tmp_path / "abi" / "suppressions.toml").write_text(SUPPRESSIONS)
    (tmp_path / "pyproject.toml").write_text('[tool.bpf-abi]\nsuppressions = "abi/suppressions.toml"\n')
    r = bpf_abi("diff", old.lib, new.lib, "--json", "--root", tmp_path)
    assert findings(r) == [("compatible", "unused-suppression"), ("note", "record-size-changed")]
    assert r.json()["findings"][0]["file"] == "abi/suppressions.toml"  # relative to --root
    (tmp_path / "pyproject.toml").write_text('[tool.bpf-abi]\nsuppressions = "abi/suppressions.toml"\n'
                                             "strict = true\n")
    assert bpf_abi("diff", old.lib, new.lib, "--root", tmp_path).code == 1


@pytest.mark.parametrize("text,line,reason", [
    ('[[suppress]]\ncode = "field-moved"\n', 1, "a suppression needs a reason"),
    ('[[suppress]]\nreason = "everything"\n', 1, "a suppression needs at least one of code, symbol, type, field"),
    ('\n[[suppress]]\ncode = "x"\nreason = "r"\nseverity = "note"\n', 2,
     "unknown key 'severity' (expected code, symbol, type, field, reason)"),
    ('[[suppress]]\ncode = 1\nreason = "r"\n', 1, "every value must be a string"),
])
def test_bad_suppression_files(build_lib, bpf_abi_process, tmp_path, text, line, reason):
    lib = skel_lib(build_lib)
    path = tmp_path / "s.toml"
    path.write_text(text)
    r = bpf_abi_process("diff", lib.lib, lib.lib, "--suppressions", path)
    assert (r.code, r.out, r.err) == (2, "", f"error: {path}:{line}: {reason}\n")
    path.write_text("[[suppress]\n")
    r = bpf_abi_process("diff", lib.lib, lib.lib, "--suppressions", path)
    assert r.code == 2 and r.err.startswith(f"error: {path}: not valid TOML") and len(r.err.splitlines()) == 1


# -- annotations ------------------------------------------------------------------------------------

def test_github_annotations_point_at_header_lines_relative_to_the_root(build_lib, bpf_abi):
    """::error only for incompatible changes, ::warning for compatible ones, on the line of the
    declaration in the public header, with the path relative to --root."""
    old = signature_lib(build_lib)
    new = signature_lib(build_lib, buf="const void *",
                        mode_enum="BPF_MODE_A = 0, BPF_MODE_B = 2, BPF_MODE_C, MAX_BPF_MODE")
    header_lines = (new.dir / "lib.h").read_text().splitlines()
    enum_line = next(i for i, text in enumerate(header_lines, 1) if "enum bpf_mode {" in text)
    fill_line = next(i for i, text in enumerate(header_lines, 1) if "bpf_buf__fill(" in text)
    r = bpf_abi("diff", old.lib, new.lib, "--format", "github", "--root", new.dir, "--headers", new.dir / "lib.h",
                "--old-headers", old.dir / "lib.h")
    assert r.code == 1
    assert r.lines == [
        f"::error file=lib.h,line={enum_line},title=bpf-abi enumerator-value-changed::enum bpf_mode: BPF_MODE_B was "
        "1, now 2",
        f"::warning file=lib.h,line={enum_line},title=bpf-abi sentinel-changed::enum bpf_mode: sentinel "
        "MAX_BPF_MODE was 2, now 4 (it counts the enumerators)",
        f"::warning file=lib.h,line={fill_line},title=bpf-abi qualifier-changed::bpf_buf__fill@@LIBBPF_1.0.0 "
        "parameter 1 was void *, now const void * (qualifiers only: layout and calling convention are unchanged)",
    ]
    # Without --headers, types still point at their DWARF declaration (the header), functions at the library.
    r = bpf_abi("diff", old.lib, new.lib, "--json", "--root", new.dir)
    files = {f["code"]: (f["file"], f.get("line")) for f in r.json()["findings"]}
    assert files["enumerator-value-changed"] == ("lib.h", enum_line)
    assert files["qualifier-changed"] == ("libt.so.1", None)
    text = bpf_abi("diff", old.lib, new.lib, "--root", new.dir).lines
    assert text[0].startswith(f"lib.h:{enum_line}: error: ") and text[1].startswith(f"lib.h:{enum_line}: warning: ")
    assert text[-1] == "bpf-abi diff: 1 incompatible change, 2 compatible changes"


# -- functions DWARF does not describe at their address -----------------------------------------------

ASM_SRC = """
    int bpf_asm_typed(int x, const char *why);
    __asm__(".text\\n.globl bpf_asm_typed\\n.type bpf_asm_typed,@function\\nbpf_asm_typed:\\n\\tret\\n"
            ".globl bpf_asm_bare\\n.type bpf_asm_bare,@function\\nbpf_asm_bare:\\n\\tret\\n");
    API int bpf_calls(int x) { return bpf_asm_typed(x, "x"); }
    __attribute__((noinline, cold)) void bpf_report(const char *m) { __asm__ volatile("" : : "r"(m) : "memory"); }
    API int bpf_split(int x, const char *m) {
        int s = 0;
        for (int i = 0; i < x; i++) s += i * x;
        if (__builtin_expect(x > 1000, 0)) { bpf_report(m); bpf_report(m); s = -1; }
        return s;
    }
"""
ASM_MAP = map_of("bpf_asm_typed", "bpf_asm_bare", "bpf_calls", "bpf_split")


def test_functions_found_by_range_or_name_or_listed_as_untyped(build_lib, bpf_abi):
    """gcc splits bpf_split into hot and cold parts (DW_AT_ranges, like libbpf's
    bpf_linker__add_file); bpf_asm_typed has only a declaration DIE, found by name;
    bpf_asm_bare has nothing and is listed, never silently dropped."""
    from elftools.elf.elffile import ELFFile

    old = build_lib(ASM_SRC, ASM_MAP, cflags=["-O2"])
    with open(old.lib, "rb") as f:
        dies = [d for cu in ELFFile(f).get_dwarf_info().iter_CUs() for d in cu.get_top_DIE().iter_children()
                if d.tag == "DW_TAG_subprogram" and d.attributes.get("DW_AT_name")
                and d.attributes["DW_AT_name"].value == b"bpf_split"]
        assert dies and "DW_AT_ranges" in dies[0].attributes, "gcc no longer splits bpf_split: the test needs it"
    functions = bpf_abi("dump", old.lib).json()["types"]["functions"]
    assert functions["bpf_split@@LIBBPF_1.0.0"] == {"params": ["int", "const char *"], "returns": "int"}
    assert functions["bpf_asm_typed@@LIBBPF_1.0.0"] == {"params": ["int", "const char *"], "returns": "int"}
    assert "bpf_asm_bare@@LIBBPF_1.0.0" not in functions
    new = build_lib(ASM_SRC.replace("int bpf_split(int x, const char *m)", "int bpf_split(long x, const char *m)"),
                    ASM_MAP, cflags=["-O2"])
    r = bpf_abi("diff", old.lib, new.lib, "--json")
    assert findings(r) == [("incompatible", "function-param-changed")]
    assert r.json()["notes"] == ["no type information for 1 exported function (not compared): "
                                 "bpf_asm_bare@@LIBBPF_1.0.0"]


# -- the baseline is never re-dumped over a break ----------------------------------------------------

def test_dump_does_not_silently_accept_a_break(build_lib, bpf_abi, tmp_path):
    old = signature_lib(build_lib)
    baseline = tmp_path / "abi.json"
    assert bpf_abi("dump", old.lib, "-o", baseline).code == 0
    before = baseline.read_bytes()
    broken = signature_lib(build_lib, buf="const char *")
    r = bpf_abi("dump", broken.lib, "-o", baseline)
    assert r.code == 1 and "function-param-changed" in r.out
    assert f"note: {baseline} not replaced: the library breaks it" in r.out
    assert baseline.read_bytes() == before
    compatible = signature_lib(build_lib, buf="const void *")
    assert bpf_abi("dump", compatible.lib, "-o", baseline).code == 0 and baseline.read_bytes() != before
    assert bpf_abi("dump", broken.lib, "-o", baseline, "--accept-incompatible").code == 0
    assert bpf_abi("diff", baseline, broken.lib).code == 0


# -- speed: linear checks and light paths -------------------------------------------------------------

def test_check_stays_linear_on_huge_maps_and_names(build_lib, bpf_abi, tmp_path):
    """10k unexported map entries against 2000 defined names took 10-17 s ("did you mean" over
    every pair); a 5 MB name 50-65 s (a character loop). CPU time, so a loaded machine does not
    make it flaky (about 1 s each when idle)."""
    hidden = "".join(f"int bpf_hidden_{i}(void) {{ return {i}; }}\n" for i in range(2000))
    lib = build_lib(hidden + "API int bpf_a(void) { return 0; }\n", map_of("bpf_a"))
    entries = "".join(f"\t\tbpf_hiden_{i};\n" for i in range(10000))
    big = tmp_path / "big.map"
    big.write_text(f"LIBBPF_1.0.0 {{\n\tglobal:\n\t\tbpf_a;\n{entries}\tlocal: *;\n}};\n")
    start = time.process_time()
    r = bpf_abi("check", "--map", big, lib.lib, "--json")
    elapsed = time.process_time() - start
    assert r.code == 1 and len(r.json()["findings"]) == 10000
    assert r.json()["findings"][0]["message"].endswith("did you mean bpf_hidden_0?")
    assert elapsed < 5, f"check took {elapsed:.1f} s"
    huge = tmp_path / "huge.map"
    huge.write_text("LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_a;\n\t\tbpf_" + "x" * 5_000_000 + ";\n\tlocal: *;\n};\n")
    start = time.process_time()
    r = bpf_abi("check", "--map", huge, lib.lib, "--json")
    elapsed = time.process_time() - start
    assert r.code == 1 and r.json()["findings"][0]["code"] == "map-entry-not-exported"
    assert elapsed < 5, f"check took {elapsed:.1f} s"


def imported_modules(*args) -> set:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "bpf_build.cli.abi", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}


def test_help_and_baselines_do_not_import_heavy_readers(build_lib, bpf_abi, tmp_path):
    """lief alone costs ~0.3 s to import, more than abidiff's whole run on libbpf; pyelftools is
    slower than our own DWARF reader. Neither is imported; the DWARF reader only when a library's
    types are read."""
    lib = signature_lib(build_lib)
    baseline = tmp_path / "abi.json"
    assert bpf_abi("dump", lib.lib, "-o", baseline).code == 0
    for args in (["--help"], ["diff", "--help"], ["diff", baseline, baseline], ["diff", "--no-types", lib.lib, lib.lib],
                 ["diff", baseline, lib.lib]):
        modules = imported_modules(*args)
        heavy = {m for m in modules if m.split(".")[0] in ("lief", "elftools")}
        assert not heavy, f"bpf-abi {' '.join(map(str, args))} imported {sorted(heavy)}"
        reads_dwarf = args[-1] == lib.lib and "--no-types" not in args
        assert ("bpf_build.abi.dwarf" in modules) == reads_dwarf, args


@pytest.mark.skipif(not os.path.isdir("/usr/lib/x86_64-linux-gnu"), reason="needs a multiarch library directory")
def test_reads_system_libraries_like_readelf(bpf_abi):
    """The struct-based reader against readelf on real distribution libraries (versioned,
    compat symbols, GNU_UNIQUE, IFUNC): every exported name@@VERSION matches."""
    import re
    import shutil

    from bpf_build.abi.elfread import read_shared_library

    if shutil.which("readelf") is None:
        pytest.skip("readelf not installed")
    for path in ("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libbpf.so.1"):
        if not os.path.exists(path):
            continue
        out = subprocess.run(["readelf", "-W", "--dyn-syms", path], capture_output=True, text=True).stdout
        expected = set()
        for line in out.splitlines():
            cols = line.split()
            if len(cols) < 8 or not cols[0].rstrip(":").isdigit() or cols[6] == "UND":
                continue
            if cols[4] not in ("GLOBAL", "WEAK", "UNIQUE") or cols[5] not in ("DEFAULT", "PROTECTED"):
                continue
            name = re.sub(r" \(\d+\)$", "", " ".join(cols[7:]))
            if cols[6] == "ABS" and "@" not in name:
                continue
            expected.add(name)
        lib = read_shared_library(path)
        got = {s.key for s in lib.exports}
        assert got == {e for e in expected if e.split("@")[0] not in {v.name for v in lib.versions}}, path
