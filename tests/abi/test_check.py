"""`bpf-abi check`: one test library per class of mistake, each reported with the right code,
message, map line and exit status; the clean library passes clean."""

from __future__ import annotations

import textwrap

import pytest

CLEAN_SRC = """
    API int bpf_thing__open(void) { return 0; }
    API int bpf_thing__close(void) { return 1; }
    API int libbpf_helper(int x) { return x; }
    int internal_helper(void) { return 2; }
"""
CLEAN_MAP = """\
    LIBBPF_1.0.0 {
        global:
            bpf_thing__close;
            bpf_thing__open;
        local: *;
    };

    LIBBPF_1.1.0 {
        global:
            libbpf_helper;
    } LIBBPF_1.0.0;
"""


def line_of(map_path: str, needle: str) -> int:
    """1-based line of the first map line containing needle (tests name lines, not numbers)."""
    with open(map_path) as f:
        for i, line in enumerate(f, 1):
            if needle in line:
                return i
    raise AssertionError(f"{needle!r} not in {map_path}")


def finding(run, code):
    matches = [f for f in run.json()["findings"] if f["code"] == code]
    assert matches, f"no {code} in {run.out}"
    return matches[0]


def test_clean_library_passes(build_lib, bpf_abi):
    b = build_lib(CLEAN_SRC, CLEAN_MAP)
    r = bpf_abi("check", "--map", b.map, b.lib, "--objects", b.obj, "--release", "1.1")
    assert r.code == 0, r.out
    assert r.lines == ["bpf-abi check: clean (3 exported symbols, 2 version nodes, release 1.1)"]
    r = bpf_abi("check", "--map", b.map, b.lib, "--json")
    assert r.code == 0 and r.json()["clean"] is True and r.json()["findings"] == []


def test_export_without_allowed_prefix(build_lib, bpf_abi):
    b = build_lib(CLEAN_SRC + "API int thing_open(void) { return 3; }\n",
                  CLEAN_MAP.replace("libbpf_helper;", "libbpf_helper;\n\t\tthing_open;"))
    r = bpf_abi("check", "--map", b.map, b.lib, "--json")
    assert r.code == 1
    assert r.codes() == ["bad-prefix"]
    f = finding(r, "bad-prefix")
    assert f["symbol"] == "thing_open"
    assert f["file"] == b.map and f["line"] == line_of(b.map, "thing_open;")
    assert "none of the allowed prefixes" in f["message"] and "bpf_*" in f["message"]
    # Configured prefixes replace the defaults.
    assert bpf_abi("check", "--map", b.map, b.lib, "--prefix", "thing_", "--prefix", "bpf_",
                   "--prefix", "libbpf_").code == 0


def test_object_style_names(build_lib, bpf_abi):
    src = """
    API int ring__consume(void) { return 0; }
    API int ringx__consume(void) { return 0; }
    API int ringy_consume(void) { return 0; }
    """
    b = build_lib(src, "LIBBPF_1.0.0 {\n global: ring__consume; ringx__consume; ringy_consume;\n local: *;\n};\n")

    def flagged(*options):
        r = bpf_abi("check", "--map", b.map, b.lib, "--json", *options)
        assert r.code == (1 if r.json()["findings"] else 0)
        return [f["symbol"] for f in r.json()["findings"]]

    assert flagged() == ["ringx__consume", "ringy_consume"]  # ring is a default object name
    assert flagged("--object", "ring", "--object", "ringx") == ["ringy_consume"]
    assert flagged("--object", "ringx") == ["ring__consume", "ringy_consume"]  # options replace defaults
    assert flagged("--object", "ring", "--object", "ringx", "--prefix", "ringy_") == []
    # --prefix replaces the default prefixes only: ring__ stays allowed as a default object name.
    assert flagged("--prefix", "ringy_") == ["ringx__consume"]


def test_map_entry_never_exported_hidden(build_lib, bpf_abi):
    """libbpf 1.1 shipped libbpf_set_memlock_rlim in the map but declared without LIBBPF_API."""
    src = CLEAN_SRC + "int libbpf_set_memlock_rlim(unsigned long bytes) { return (int)bytes; }\n"
    b = build_lib(src, CLEAN_MAP.replace("libbpf_helper;", "libbpf_helper;\n\t\tlibbpf_set_memlock_rlim;"))
    r = bpf_abi("check", "--map", b.map, b.lib)
    assert r.code == 1
    line = line_of(b.map, "libbpf_set_memlock_rlim;")
    assert r.lines[0].startswith(f"{b.map}:{line}: error: libbpf_set_memlock_rlim is listed in LIBBPF_1.1.0 "
                                 f"but {b.lib} does not export it: it is defined but not exported")
    assert r.lines[0].endswith("[map-entry-not-exported]")
    # With the objects, the reason is precise.
    r = bpf_abi("check", "--map", b.map, b.lib, "--objects", b.obj, "--json")
    assert r.codes() == ["map-entry-not-exported"]
    assert f"defined in {b.obj} with hidden visibility (missing the export macro?)" in r.json()["findings"][0]["message"]


def test_map_entry_misspelled_suggests_the_real_name(build_lib, bpf_abi):
    """libbpf 0.7 listed libbpf_set_memlock_rlim_max for the function libbpf_set_memlock_rlim."""
    src = CLEAN_SRC + "API int libbpf_set_memlock_rlim(unsigned long b) { return (int)b; }\n"
    b = build_lib(src, CLEAN_MAP.replace("libbpf_helper;", "libbpf_helper;\n\t\tlibbpf_set_memlock_rlim_max;"))
    r = bpf_abi("check", "--map", b.map, b.lib, "--objects", b.obj, "--json")
    assert r.code == 1
    assert sorted(r.codes()) == ["leaked-global", "map-entry-not-exported"]
    f = finding(r, "map-entry-not-exported")
    assert f["line"] == line_of(b.map, "rlim_max;")
    assert f["message"].endswith("it is not defined anywhere; did you mean libbpf_set_memlock_rlim?")
    leak = finding(r, "leaked-global")
    assert leak["symbol"] == "libbpf_set_memlock_rlim" and leak["file"] == str(b.dir / "lib.c")


def test_map_entry_declared_but_never_defined(build_lib, bpf_abi):
    """libbpf 1.1's map lists btf__new_split and btf_ext__raw_data, which no .c file defines."""
    b = build_lib(CLEAN_SRC, CLEAN_MAP.replace("libbpf_helper;", "libbpf_helper;\n\t\tbtf__new_split;"))
    r = bpf_abi("check", "--map", b.map, b.lib, "--json")
    assert r.codes() == ["map-entry-not-exported"]
    assert r.json()["findings"][0]["message"].endswith("does not export it: it is not defined anywhere")


def test_node_without_parent(build_lib, bpf_abi):
    """libbpf 1.0.0 shipped 'LIBBPF_1.0.0 { ... };' without inheriting LIBBPF_0.8.0."""
    b = build_lib(CLEAN_SRC, CLEAN_MAP.replace("} LIBBPF_1.0.0;", "};"))
    r = bpf_abi("check", "--map", b.map, b.lib)
    assert r.code == 1
    last_line = len(open(b.map).read().splitlines())
    assert r.lines[0] == (f"{b.map}:{last_line}: error: LIBBPF_1.1.0 does not inherit the node before it; "
                          "close it with '} LIBBPF_1.0.0;' [node-without-parent]")
    # The library itself records the missing parent too: the built library matches its map.
    assert len(r.lines) == 2


def test_node_inherits_the_wrong_node(build_lib, bpf_abi):
    m = CLEAN_MAP + "\nLIBBPF_1.2.0 {\n\tglobal:\n\t\tbpf_new;\n} LIBBPF_1.0.0;\n"
    b = build_lib(CLEAN_SRC + "API int bpf_new(void) { return 0; }\n", m)
    r = bpf_abi("check", "--map", b.map, b.lib, "--json")
    assert r.codes() == ["node-parent"]
    assert r.json()["findings"][0]["message"] == ("LIBBPF_1.2.0 inherits LIBBPF_1.0.0; it must inherit exactly "
                                                  "the node before it, LIBBPF_1.1.0")


@pytest.mark.parametrize("name", ["LIBBPF_1.1", "LIBFOO_1.1.0", "LIBBPF_1.1.0-rc1"])
def test_bad_node_name(build_lib, bpf_abi, tmp_path, name):
    b = build_lib(CLEAN_SRC, CLEAN_MAP)
    mp = tmp_path / "libbpf.map"  # ld rejects some of these names, so check the map on its own
    mp.write_text(textwrap.dedent(CLEAN_MAP).replace("LIBBPF_1.1.0", name))
    r = bpf_abi("check", "--map", mp, b.lib, "--json")
    assert r.code == 1
    f = finding(r, "bad-node-name")
    assert f["message"] == f"version node {name} is not named LIBBPF_x.y.z"
    assert f["line"] == line_of(mp, name + " {")
    # The library was built with LIBBPF_1.1.0, so the map and library disagree as well.
    assert "node-not-in-library" in r.codes() and "node-not-in-map" in r.codes()
    if name == "LIBFOO_1.1.0":  # another node prefix is an option, not a finding
        r = bpf_abi("check", "--map", mp, b.lib, "--node-prefix", "LIBFOO", "--json")
        assert "LIBBPF_1.0.0 is not named LIBFOO_x.y.z" in r.out and "LIBFOO_1.1.0 is not named" not in r.out


def test_nodes_out_of_order(build_lib, bpf_abi):
    m = CLEAN_MAP.replace("LIBBPF_1.1.0", "LIBBPF_0.9.0")
    b = build_lib(CLEAN_SRC, m)
    r = bpf_abi("check", "--map", b.map, b.lib, "--json")
    assert r.codes() == ["node-order"]
    assert r.json()["findings"][0]["message"].startswith("LIBBPF_0.9.0 is not newer than the node before it, "
                                                         "LIBBPF_1.0.0 (line 1)")


def test_local_star_only_in_first_node(build_lib, bpf_abi):
    m = CLEAN_MAP.replace("        local: *;\n", "").replace("} LIBBPF_1.0.0;", "    local: *;\n    } LIBBPF_1.0.0;")
    b = build_lib(CLEAN_SRC, m)
    r = bpf_abi("check", "--map", b.map, b.lib, "--json")
    assert sorted(r.codes()) == ["local-scope", "missing-local-star"]
    assert finding(r, "local-scope")["line"] == line_of(b.map, "local: *;")
    assert "first version node LIBBPF_1.0.0 has no 'local: *;'" in finding(r, "missing-local-star")["message"]


def test_name_in_two_nodes(build_lib, bpf_abi):
    m = CLEAN_MAP.replace("libbpf_helper;", "libbpf_helper;\n\t\tbpf_thing__open;")
    b = build_lib(CLEAN_SRC, m)
    r = bpf_abi("check", "--map", b.map, b.lib, "--json")
    assert r.code == 1
    f = finding(r, "duplicate-entry")
    assert f["message"].startswith("bpf_thing__open is listed in both LIBBPF_1.0.0 (line 4) and LIBBPF_1.1.0")
    assert f["line"] == len(m.splitlines()) - 1


def test_name_in_two_nodes_with_symbol_versioning_is_fine(build_lib, bpf_abi):
    """libbpf's COMPAT_VERSION/DEFAULT_VERSION: btf__dedup@LIBBPF_0.0.2 and btf__dedup@@LIBBPF_0.6.0."""
    src = CLEAN_SRC + """
    API int btf__dedup_v1(void) { return 1; }
    API int btf__dedup_v2(int x) { return x; }
    __asm__(".symver btf__dedup_v1, btf__dedup@LIBBPF_1.0.0");
    __asm__(".symver btf__dedup_v2, btf__dedup@@LIBBPF_1.1.0");
    """
    m = CLEAN_MAP.replace("libbpf_helper;", "btf__dedup;\n\t\tlibbpf_helper;").replace(
        "bpf_thing__close;", "bpf_thing__close;\n\t\tbtf__dedup;")
    b = build_lib(src, m)
    r = bpf_abi("check", "--map", b.map, b.lib)
    assert r.code == 0, r.out
    # The implementations behind .symver keep default visibility on purpose: not leaked globals.
    r = bpf_abi("check", "--map", b.map, b.lib, "--objects", b.obj)
    assert r.code == 0, r.out


def test_duplicate_node_and_glob(build_lib, bpf_abi, tmp_path):
    b = build_lib(CLEAN_SRC, CLEAN_MAP)
    mp = tmp_path / "libbpf.map"  # ld refuses a duplicate node, so check the map on its own
    mp.write_text(textwrap.dedent(CLEAN_MAP).replace("bpf_thing__close;\n        bpf_thing__open;", "bpf_thing__*;")
                  + "\nLIBBPF_1.1.0 {\n\tglobal:\n\t\tlibbpf_other;\n} LIBBPF_1.1.0;\n")
    r = bpf_abi("check", "--map", mp, b.lib, "--json")
    assert sorted(set(r.codes())) == ["duplicate-node", "map-entry-not-exported", "map-glob"]
    assert finding(r, "map-glob")["message"].startswith("LIBBPF_1.0.0 exports the glob 'bpf_thing__*'")
    assert finding(r, "map-glob")["line"] == 3
    assert finding(r, "duplicate-node")["message"] == "version node LIBBPF_1.1.0 is defined twice (first at line 7)"
    # Exports matched by the glob are versioned by it: no export-not-in-map for them.
    assert "export-not-in-map" not in r.codes()


def test_release_from_option_and_header(build_lib, bpf_abi, tmp_path):
    b = build_lib(CLEAN_SRC, CLEAN_MAP)
    assert bpf_abi("check", "--map", b.map, b.lib, "--release", "1.1.3").code == 0
    r = bpf_abi("check", "--map", b.map, b.lib, "--release", "1.2", "--json")
    assert r.codes() == ["release-mismatch"]
    assert r.json()["findings"][0]["message"] == (
        "the newest version node is LIBBPF_1.1.0 but the release is 1.2 (from --release); the newest node must "
        "be LIBBPF_1.2.0")
    header = tmp_path / "libbpf_version.h"
    header.write_text("#ifndef V\n#define V\n#define LIBBPF_MAJOR_VERSION 2\n#define LIBBPF_MINOR_VERSION 0\n#endif\n")
    r = bpf_abi("check", "--map", b.map, b.lib, "--version-header", header, "--json")
    assert sorted(r.codes()) == ["release-mismatch", "soname-mismatch"]
    assert finding(r, "soname-mismatch")["message"] == (
        f"SONAME libt.so.1 does not match major version 2 of release 2.0 (from {header})")
    header.write_text("#define LIBBPF_MAJOR_VERSION 1\n#define LIBBPF_MINOR_VERSION 1 /* current */\n")
    assert bpf_abi("check", "--map", b.map, b.lib, "--version-header", header).code == 0


def test_library_built_from_another_map(build_lib, bpf_abi, tmp_path):
    """The map moved on (symbol moved, node added) but the library was not rebuilt."""
    b = build_lib(CLEAN_SRC, CLEAN_MAP)
    newer = tmp_path / "libbpf.map"
    newer.write_text(textwrap.dedent(CLEAN_MAP).replace("        bpf_thing__open;\n", "").replace(
        "libbpf_helper;", "bpf_thing__open;\n\t\tlibbpf_helper;")
        + "\nLIBBPF_1.2.0 {\n\tglobal:\n\t\tbpf_thing__close;\n} LIBBPF_1.1.0;\n")
    r = bpf_abi("check", "--map", newer, b.lib, "--json")
    assert r.code == 1
    codes = sorted(r.codes())
    assert codes == ["duplicate-entry", "node-mismatch", "node-not-in-library"]
    assert finding(r, "node-mismatch")["message"] == (
        f"{b.lib} exports bpf_thing__open@@LIBBPF_1.0.0 but the map lists bpf_thing__open in LIBBPF_1.1.0; "
        "rebuild the library or fix the map")
    older = tmp_path / "old.map"
    older.write_text("LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_thing__close;\n\t\tbpf_thing__open;\n\tlocal: *;\n};\n")
    r = bpf_abi("check", "--map", older, b.lib, "--json")
    assert sorted(r.codes()) == ["export-not-in-map", "node-not-in-map"]
    assert finding(r, "export-not-in-map")["message"] == (
        f"{b.lib} exports libbpf_helper@@LIBBPF_1.1.0 but {older} does not list it; add it to the map or hide it")


def test_library_linked_without_version_script(build_lib, bpf_abi, tmp_path):
    b = build_lib(CLEAN_SRC, None)
    mp = tmp_path / "libbpf.map"
    mp.write_text(textwrap.dedent(CLEAN_MAP))
    r = bpf_abi("check", "--map", mp, b.lib, "--json")
    assert r.codes() == ["unversioned-library"]
    assert r.json()["findings"][0]["message"] == (
        f"{b.lib} exports 3 symbols without any version; link it with -Wl,--version-script={mp}")


def test_objects_leaking_default_visibility_globals(build_lib, bpf_abi):
    src = CLEAN_SRC + "API int forgot_static(void) { return 0; }\nint stays_hidden(void) { return 0; }\n"
    b = build_lib(src, CLEAN_MAP)
    r = bpf_abi("check", "--map", b.map, b.lib, "--objects", b.obj, "--json")
    assert r.code == 1
    source = b.dir / "lib.c"  # the finding points at the definition, from the object's DWARF
    line = source.read_text().splitlines().index("API int forgot_static(void) { return 0; }") + 1
    assert [(f["code"], f["symbol"], f["file"], f["line"]) for f in r.json()["findings"]] == [
        ("leaked-global", "forgot_static", str(source), line)]
    assert r.json()["findings"][0]["message"] == (
        f"forgot_static is a global with default visibility that the map does not list; make it static or hidden "
        f"(defined in {b.obj})")
    r = bpf_abi("check", "--map", b.map, b.lib, "--objects", b.obj, "--format", "github")
    assert r.lines == [f"::error file={source},line={line},title=bpf-abi leaked-global::forgot_static is a global "
                       f"with default visibility that the map does not list; make it static or hidden (defined in "
                       f"{b.obj})"]
    # Without debug info the finding names the object.
    nodebug = build_lib(src, CLEAN_MAP, cflags=["-g0"])
    r = bpf_abi("check", "--map", nodebug.map, nodebug.lib, "--objects", nodebug.obj, "--json")
    assert [(f["file"], f.get("line")) for f in r.json()["findings"]] == [(nodebug.obj, None)]
    # Without --objects, 'local: *;' hides it from the library, so nothing is reported.
    assert bpf_abi("check", "--map", b.map, b.lib).code == 0


def test_github_annotations_point_at_map_lines(build_lib, bpf_abi):
    b = build_lib(CLEAN_SRC, CLEAN_MAP.replace("} LIBBPF_1.0.0;", "};"))
    r = bpf_abi("check", "--map", b.map, b.lib, "--format", "github")
    assert r.code == 1
    line = len(open(b.map).read().splitlines())
    assert r.lines == [f"::error file={b.map},line={line},title=bpf-abi node-without-parent::LIBBPF_1.1.0 does "
                       "not inherit the node before it; close it with '} LIBBPF_1.0.0;'"]
