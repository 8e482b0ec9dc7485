"""`bpf-abi diff OLD NEW`: one pair of libraries per class of release mistake."""

from __future__ import annotations

import json

import pytest

OLD_SRC = """
    API int bpf_a(void) { return 1; }
    API int bpf_b(void) { return 2; }
    API int bpf_c(int x) { return x; }
"""
OLD_MAP = """\
    LIBBPF_1.0.0 {
        global:
            bpf_a;
            bpf_b;
        local: *;
    };

    LIBBPF_1.1.0 {
        global:
            bpf_c;
    } LIBBPF_1.0.0;
"""
NEXT_NODE = "\nLIBBPF_1.2.0 {{\n\tglobal:\n{names}}} LIBBPF_1.1.0;\n"


def next_node(*names: str) -> str:
    return NEXT_NODE.format(names="".join(f"\t\t{n};\n" for n in names))


def diff(bpf_abi, old, new, *options):
    r = bpf_abi("diff", old.lib, new.lib, "--json", *options)
    incompatible = [f for f in r.json()["findings"] if f["severity"] == "incompatible"]
    assert r.code == (1 if incompatible else 0), r.out
    return r


def only(r, code):
    findings = r.json()["findings"]
    assert [f["code"] for f in findings] == [code], r.out
    return findings[0]


@pytest.fixture
def old(build_lib):
    return build_lib(OLD_SRC, OLD_MAP)


def test_identical_and_compatible_release_is_clean(build_lib, bpf_abi, old):
    assert diff(bpf_abi, old, old).json()["findings"] == []
    # The right way to add API: one new node inheriting the newest released one.
    new = build_lib(OLD_SRC + "API int bpf_d(void) { return 4; }\n", OLD_MAP + next_node("bpf_d"))
    r = bpf_abi("diff", old.lib, new.lib)
    assert r.code == 0
    assert r.lines == ["bpf-abi diff: clean (4 symbols, 3 version nodes)"]


def test_removed_symbol(build_lib, bpf_abi, old):
    new = build_lib(OLD_SRC.replace("API int bpf_c", "int bpf_c"), OLD_MAP)
    f = only(diff(bpf_abi, old, new), "symbol-removed")
    assert f["message"] == ("bpf_c@@LIBBPF_1.1.0 was removed: binaries using it fail to load; nothing may be "
                            "removed within a major version")
    assert f["file"] == new.lib and f["symbol"] == "bpf_c" and f["node"] == "LIBBPF_1.1.0"


def test_symbol_moved_to_another_node(build_lib, bpf_abi, old):
    new = build_lib(OLD_SRC, OLD_MAP.replace("            bpf_b;\n", "").replace("bpf_c;", "bpf_b;\n\t\tbpf_c;"))
    f = only(diff(bpf_abi, old, new), "symbol-moved")
    assert f["message"] == ("bpf_b@@LIBBPF_1.0.0 is gone, bpf_b is now bpf_b@@LIBBPF_1.1.0: binaries linked "
                            "against bpf_b@@LIBBPF_1.0.0 fail to load")


def test_new_symbol_in_released_node(build_lib, bpf_abi, old):
    """libbpf put bpf_map__initial_value & co. into LIBBPF_0.4.0 after 0.4 was released."""
    new = build_lib(OLD_SRC + "API int bpf_map__initial_value(void) { return 0; }\n",
                    OLD_MAP.replace("bpf_c;", "bpf_c;\n\t\tbpf_map__initial_value;"))
    f = only(diff(bpf_abi, old, new), "new-symbol-in-released-node")
    assert f["message"] == ("new symbol bpf_map__initial_value@@LIBBPF_1.1.0 was added to LIBBPF_1.1.0, which is "
                            "already released; put it in a new version node")


def test_two_new_nodes_in_one_release(build_lib, bpf_abi, old):
    src = OLD_SRC + "API int bpf_d(void) { return 4; }\nAPI int bpf_e(void) { return 5; }\n"
    m = OLD_MAP + next_node("bpf_d") + "\nLIBBPF_1.3.0 {\n\tglobal:\n\t\tbpf_e;\n} LIBBPF_1.2.0;\n"
    f = only(diff(bpf_abi, old, build_lib(src, m)), "multiple-new-nodes")
    assert f["message"] == ("2 new version nodes (LIBBPF_1.2.0, LIBBPF_1.3.0); the ABI version bumps at most "
                            "once per release")


def test_new_node_without_parent(build_lib, bpf_abi, old):
    """libbpf 1.0.0 shipped LIBBPF_1.0.0 without inheriting LIBBPF_0.8.0."""
    new = build_lib(OLD_SRC + "API int bpf_d(void) { return 4; }\n",
                    OLD_MAP + next_node("bpf_d").replace("} LIBBPF_1.1.0;", "};"))
    f = only(diff(bpf_abi, old, new), "new-node-parent")
    assert f["message"] == ("new node LIBBPF_1.2.0 inherits nothing; it must inherit the newest released node "
                            "LIBBPF_1.1.0")
    wrong = build_lib(OLD_SRC + "API int bpf_d(void) { return 4; }\n",
                      OLD_MAP + next_node("bpf_d").replace("} LIBBPF_1.1.0;", "} LIBBPF_1.0.0;"))
    assert "inherits LIBBPF_1.0.0; it must inherit" in only(diff(bpf_abi, old, wrong), "new-node-parent")["message"]


def test_new_node_older_than_released(build_lib, bpf_abi, old):
    new = build_lib(OLD_SRC + "API int bpf_d(void) { return 4; }\n",
                    OLD_MAP + next_node("bpf_d").replace("LIBBPF_1.2.0", "LIBBPF_1.0.5"))
    f = only(diff(bpf_abi, old, new), "new-node-order")
    assert f["message"] == "new node LIBBPF_1.0.5 is not newer than the newest released node LIBBPF_1.1.0"


def test_released_node_removed_or_reparented(build_lib, bpf_abi, old):
    merged = build_lib(OLD_SRC, "LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_a;\n\t\tbpf_b;\n\t\tbpf_c;\n\tlocal: *;\n};\n")
    r = diff(bpf_abi, old, merged)
    assert sorted(f["code"] for f in r.json()["findings"]) == ["node-removed", "symbol-moved"]
    orphan = build_lib(OLD_SRC, OLD_MAP.replace("} LIBBPF_1.0.0;", "};"))
    f = only(diff(bpf_abi, old, orphan), "node-parent-changed")
    assert f["message"] == "released node LIBBPF_1.1.0 inherited LIBBPF_1.0.0, now nothing"


ALIAS_SRC = """
    API int bpf_a(void) { return 1; }
    API int bpf_b(void) { return 2; }
    API int bpf_c(int x) { return x; }
    API int bpf_a_alias(void) __attribute__((alias("bpf_a")));
"""
ALIAS_MAP = OLD_MAP.replace("bpf_b;", "bpf_b;\n\t\tbpf_a_alias;")


def test_aliases_added_or_removed(build_lib, bpf_abi):
    aliased = build_lib(ALIAS_SRC, ALIAS_MAP)
    separate = build_lib(ALIAS_SRC.replace('__attribute__((alias("bpf_a")));', "{ return 1; }"), ALIAS_MAP)
    f = only(diff(bpf_abi, aliased, separate), "alias-removed")
    assert f["message"] == ("bpf_a@@LIBBPF_1.0.0 and bpf_a_alias@@LIBBPF_1.0.0 were one function (aliases) and "
                            "now are different code; callers comparing their addresses see a difference")
    assert f["severity"] == "compatible"
    f = only(diff(bpf_abi, separate, aliased), "alias-added")
    assert f["message"].endswith("were different code and now are aliases of one function (no new entry point)")
    assert f["severity"] == "note"


def test_new_name_for_existing_code_in_a_released_node(build_lib, bpf_abi, old):
    """libbpf 0.7 added bpf_prog_attach_opts to released LIBBPF_0.0.8 as an alias of the existing
    bpf_prog_attach_xattr: no new code, so a compatible change; a new function there still breaks."""
    src = OLD_SRC + 'API int bpf_b_opts(void) __attribute__((alias("bpf_b")));\n'
    aliased = build_lib(src, OLD_MAP.replace("bpf_c;", "bpf_c;\n\t\tbpf_b_opts;"))
    r = diff(bpf_abi, old, aliased)
    f = only(r, "new-alias-in-released-node")
    assert (r.code, f["severity"]) == (0, "compatible")
    assert f["message"] == ("new name bpf_b_opts@@LIBBPF_1.1.0 was added to released LIBBPF_1.1.0 as an alias of "
                            "bpf_b@@LIBBPF_1.0.0, which was already exported")
    assert bpf_abi("diff", old.lib, aliased.lib, "--strict").code == 1
    separate = build_lib(src.replace('__attribute__((alias("bpf_b")));', "{ return 2; }"),
                         OLD_MAP.replace("bpf_c;", "bpf_c;\n\t\tbpf_b_opts;"))
    assert only(diff(bpf_abi, old, separate), "new-symbol-in-released-node")["severity"] == "incompatible"


def test_default_version_becomes_compat(build_lib, bpf_abi, old):
    """DEFAULT_VERSION/COMPAT_VERSION: bpf_b@@1.0.0 turns into bpf_b@1.0.0 plus bpf_b@@1.2.0."""
    src = OLD_SRC.replace("API int bpf_b(void) { return 2; }", """
    API int bpf_b_v1(void) { return 2; }
    API int bpf_b_v2(int x) { return x; }
    __asm__(".symver bpf_b_v1, bpf_b@LIBBPF_1.0.0");
    __asm__(".symver bpf_b_v2, bpf_b@@LIBBPF_1.2.0");
    """)
    new = build_lib(src, OLD_MAP + next_node("bpf_b"))
    f = only(diff(bpf_abi, old, new, "--no-types"), "default-changed")
    assert f["message"] == ("bpf_b@@LIBBPF_1.0.0 became the compat version bpf_b@LIBBPF_1.0.0; new links now "
                            "bind bpf_b@@LIBBPF_1.2.0")
    # Going back is worse: the newer default and its node disappear as well.
    r = diff(bpf_abi, new, old, "--no-types")
    assert {f["code"]: f["message"] for f in r.json()["findings"]} == {
        "default-changed": "compat version bpf_b@LIBBPF_1.0.0 became the default bpf_b@@LIBBPF_1.0.0",
        "node-removed": "version node LIBBPF_1.2.0 was removed: binaries that need it fail to load",
        "symbol-moved": "bpf_b@@LIBBPF_1.2.0 is gone, bpf_b is now bpf_b@@LIBBPF_1.0.0: binaries linked against "
                        "bpf_b@@LIBBPF_1.2.0 fail to load",
    }


def test_soname_change_allows_removals_and_still_lists_them(build_lib, bpf_abi, old):
    """After a major bump removals are allowed, but a reviewer still wants the list (abidiff prints
    libbpf 0.8 -> 1.0's 100 removals): as notes, exit 0."""
    new = build_lib(OLD_SRC.replace("API int bpf_c", "int bpf_c"), OLD_MAP, soname="libt.so.2")
    r = diff(bpf_abi, old, new)
    assert r.code == 0
    assert {(f["code"], f["severity"]) for f in r.json()["findings"]} == {("soname-changed", "note"),
                                                                           ("symbol-removed", "note")}
    assert r.json()["notes"] == ["major version changed (libt.so.1 -> libt.so.2): removals and type changes are "
                                 "allowed; they are listed as notes"]
    assert bpf_abi("diff", old.lib, new.lib, "--strict").code == 0  # notes never fail
    same_major = build_lib(OLD_SRC, OLD_MAP, soname="libother.so.1")
    assert only(diff(bpf_abi, old, same_major), "soname-changed")["severity"] == "incompatible"


def test_exported_variable_size_change(build_lib, bpf_abi):
    m = "LIBBPF_1.0.0 {\n\tglobal:\n\t\tbpf_counter;\n\tlocal: *;\n};\n"
    small = build_lib("API int bpf_counter = 1;\n", m)
    big = build_lib("API long bpf_counter = 1;\n", m)
    r = diff(bpf_abi, small, big)
    assert [f["code"] for f in r.json()["findings"]] == ["object-size-changed", "variable-type-changed"]
    assert r.json()["findings"][0]["message"] == ("bpf_counter@@LIBBPF_1.0.0 changed size from 4 to 8 bytes: copy "
                                                  "relocations in existing binaries break")


def test_unversioned_new_export(build_lib, bpf_abi, old):
    """A symbol versioned by no node (e.g. added to the library, forgotten in a map without local: *)."""
    m = OLD_MAP.replace("        local: *;\n", "")
    new = build_lib(OLD_SRC + "API int bpf_d(void) { return 4; }\n", m)
    f = only(diff(bpf_abi, old, new), "unversioned-new-symbol")
    assert f["message"] == "new symbol bpf_d is exported without a version node"


def test_baseline_round_trip_gives_the_same_findings(build_lib, bpf_abi, old, tmp_path):
    new = build_lib(OLD_SRC.replace("API int bpf_c", "int bpf_c") + "API int bpf_d(void) { return 4; }\n",
                    OLD_MAP.replace("bpf_c;", "bpf_d;"))
    baseline = tmp_path / "old.json"
    assert bpf_abi("dump", old.lib, "-o", baseline).code == 0
    from_so = bpf_abi("diff", old.lib, new.lib, "--json").json()["findings"]
    from_json = bpf_abi("diff", baseline, new.lib, "--json").json()["findings"]
    assert from_so == from_json
    assert sorted(f["code"] for f in from_json) == ["new-symbol-in-released-node", "symbol-removed"]
    # NEW may be a baseline too.
    new_baseline = tmp_path / "new.json"
    bpf_abi("dump", new.lib, "-o", new_baseline)
    both_json = bpf_abi("diff", baseline, new_baseline, "--json").json()["findings"]
    assert [dict(f, file=new.lib) for f in both_json] == from_json
    assert {f["file"] for f in both_json} == {str(new_baseline)}


def test_dump_is_deterministic_and_reviewable(build_lib, bpf_abi, old, tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    bpf_abi("dump", old.lib, "-o", first)
    # A rebuild with different code generation dumps byte-identical JSON.
    rebuilt = build_lib(OLD_SRC, OLD_MAP, cflags=["-O0", "-fno-inline"])
    bpf_abi("dump", rebuilt.lib, "-o", second)
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert '    "bpf_a@@LIBBPF_1.0.0": {"kind": "func"},\n' in text  # one symbol per line
    assert data["versions"] == [{"name": "LIBBPF_1.0.0", "parents": []},
                                {"name": "LIBBPF_1.1.0", "parents": ["LIBBPF_1.0.0"]}]
    assert data["types"]["functions"]["bpf_c@@LIBBPF_1.1.0"] == {"params": ["int"], "returns": "int"}
    stdout = bpf_abi("dump", old.lib)
    assert stdout.code == 0 and stdout.out == text


def test_text_and_github_formats(build_lib, bpf_abi, old):
    new = build_lib(OLD_SRC.replace("API int bpf_c", "int bpf_c"), OLD_MAP)
    r = bpf_abi("diff", old.lib, new.lib)
    assert r.code == 1
    assert r.lines == [
        f"{new.lib}: error: bpf_c@@LIBBPF_1.1.0 was removed: binaries using it fail to load; nothing may be "
        "removed within a major version [symbol-removed]",
        "bpf-abi diff: 1 incompatible change",
    ]
    r = bpf_abi("diff", old.lib, new.lib, "--format", "github")
    assert r.code == 1
    assert r.lines == [
        f"::error file={new.lib},title=bpf-abi symbol-removed::bpf_c@@LIBBPF_1.1.0 was removed: binaries using "
        "it fail to load; nothing may be removed within a major version",
    ]
