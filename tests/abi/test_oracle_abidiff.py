"""abidiff (libabigail) on the same library pairs as bpf-abi: which findings both tools make and
which only one makes. abidiff's exit status has bit 4 for "ABI changed" and bit 8 for
"incompatible ABI change"; we record its verdict as incompatible / change / none.

The expectations pin libabigail 2.2 (Debian 12). The matrix is the point: bpf-abi must flag every
row it claims, and the rows where abidiff stays quiet (or merely notes a change) are the
versioning rules abidiff does not know about.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from typing import List, Optional

import pytest


OLD_SRC = """
    API int bpf_a(void) { return 1; }
    API int bpf_b(void) { return 2; }
    API int bpf_c(const struct bpf_c_opts *opts, struct bpf_pt *pt) { (void)pt; return opts ? 1 : 0; }
    API int bpf_var = 1;
    API enum bpf_kind bpf_kind_of(void) { return BPF_KIND_X; }
    struct bpf_obj { int state; };
    API struct bpf_obj *bpf_obj__new(void) { static struct bpf_obj o; return &o; }
"""
HEADER = """
    #include <stddef.h>
    struct bpf_obj;
    struct bpf_c_opts { size_t sz; int flags; };
    struct bpf_pt { int x; int y; };
    enum bpf_kind { BPF_KIND_X = 1, BPF_KIND_Y = 2 };
"""
OLD_MAP = """\
    LIBBPF_1.0.0 {
        global:
            bpf_a;
            bpf_b;
            bpf_kind_of;
            bpf_obj__new;
            bpf_var;
        local: *;
    };

    LIBBPF_1.1.0 {
        global:
            bpf_c;
    } LIBBPF_1.0.0;
"""
NEW_D = "API int bpf_d(void) { return 4; }\n"


def next_node(body: str, parent: str = " LIBBPF_1.1.0") -> str:
    return f"\nLIBBPF_1.2.0 {{\n\tglobal:\n\t\t{body}\n}}{parent};\n"


@dataclass
class Case:
    name: str
    bpf_abi: List[str]  # finding codes bpf-abi must report (empty: clean)
    abidiff: str  # "incompatible", "change" or "none"
    src: str = OLD_SRC
    map: str = OLD_MAP
    header: str = HEADER
    soname: str = "libt.so.1"
    old_src: Optional[str] = None
    old_map: Optional[str] = None
    notes: List[str] = field(default_factory=list)


CASES = [
    Case("compatible release (new node)", [], "change",
         src=OLD_SRC + NEW_D, map=OLD_MAP + next_node("bpf_d;")),
    Case("symbol removed", ["symbol-removed"], "incompatible", src=OLD_SRC.replace("API int bpf_b", "int bpf_b")),
    Case("symbol moved to another node", ["symbol-moved"], "incompatible",
         map=OLD_MAP.replace("            bpf_b;\n", "").replace("bpf_c;", "bpf_b;\n\t\tbpf_c;")),
    Case("new symbol in released node", ["new-symbol-in-released-node"], "change",
         src=OLD_SRC + NEW_D, map=OLD_MAP.replace("bpf_c;", "bpf_c;\n\t\tbpf_d;")),
    Case("new node without parent", ["new-node-parent"], "change",
         src=OLD_SRC + NEW_D, map=OLD_MAP + next_node("bpf_d;", parent="")),
    Case("two new nodes in one release", ["multiple-new-nodes"], "change",
         src=OLD_SRC + NEW_D + "API int bpf_e(void) { return 5; }\n",
         map=OLD_MAP + next_node("bpf_d;") + "\nLIBBPF_1.3.0 {\n\tglobal:\n\t\tbpf_e;\n} LIBBPF_1.2.0;\n"),
    Case("released node loses its parent", ["node-parent-changed"], "none",
         map=OLD_MAP.replace("} LIBBPF_1.0.0;", "};")),
    Case("default version demoted to compat", ["default-changed"], "none",
         src=OLD_SRC.replace("API int bpf_b(void) { return 2; }", """
    API int bpf_b_v1(void) { return 2; }
    API int bpf_b_v2(void) { return 3; }
    __asm__(".symver bpf_b_v1, bpf_b@LIBBPF_1.0.0");
    __asm__(".symver bpf_b_v2, bpf_b@@LIBBPF_1.2.0");
    """), map=OLD_MAP + next_node("bpf_b;")),
    Case("alias split into two functions", ["alias-removed"], "none",
         old_src=OLD_SRC + 'API int bpf_a2(void) __attribute__((alias("bpf_a")));\n',
         src=OLD_SRC + "API int bpf_a2(void) { return 1; }\n",
         old_map=OLD_MAP.replace("bpf_b;", "bpf_b;\n\t\tbpf_a2;"), map=OLD_MAP.replace("bpf_b;", "bpf_b;\n\t\tbpf_a2;")),
    Case("SONAME changed", ["soname-changed"], "incompatible", soname="libt.so.2"),  # a note: a new major
    Case("parameter type changed", ["function-param-changed"], "change",
         src=OLD_SRC.replace("struct bpf_pt *pt", "long pt")),
    Case("exported variable grew", ["object-size-changed", "variable-type-changed"], "change",
         src=OLD_SRC.replace("API int bpf_var", "API long bpf_var")),
    Case("opts struct grew at its end", [], "change",
         header=HEADER.replace("int flags; }", "int flags; int more; }")),
    Case("opts struct field moved", ["field-moved"], "change",
         header=HEADER.replace("size_t sz; int flags;", "size_t sz; long pad; int flags;")),
    Case("plain struct grew", ["record-size-changed"], "change",
         header=HEADER.replace("int x; int y;", "int x; int y; int z;")),
    Case("enumerator value changed", ["enumerator-value-changed"], "change",
         header=HEADER.replace("BPF_KIND_X = 1", "BPF_KIND_X = 3")),
    Case("enumerator added", [], "none",
         header=HEADER.replace("BPF_KIND_Y = 2", "BPF_KIND_Y = 2, BPF_KIND_Z = 3")),
    Case("opaque struct internals changed", [], "change",
         src=OLD_SRC.replace("struct bpf_obj { int state; };", "struct bpf_obj { long more; int state; };")),
    Case("struct field renamed", ["field-renamed"], "none",
         header=HEADER.replace("int x; int y;", "int x; int why;")),
]


def abidiff_verdict(old: str, new: str) -> str:
    proc = subprocess.run(["abidiff", old, new], capture_output=True, text=True)
    assert proc.returncode & 3 == 0, f"abidiff failed: {proc.stderr}"
    if proc.returncode & 8:
        return "incompatible"
    return "change" if proc.returncode & 4 else "none"


@pytest.mark.oracle
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_same_pairs_as_abidiff(case, build_lib, bpf_abi):
    if shutil.which("abidiff") is None:
        pytest.skip("abidiff not installed (oracle; Debian package abigail-tools)")
    old = build_lib(case.old_src or OLD_SRC, case.old_map or OLD_MAP, header=HEADER)
    new = build_lib(case.src, case.map, header=case.header, soname=case.soname)
    r = bpf_abi("diff", old.lib, new.lib, "--json")
    codes = sorted(f["code"] for f in r.json()["findings"])
    verdict = abidiff_verdict(old.lib, new.lib)
    print(f"{case.name}: bpf-abi {codes or 'clean'}; abidiff {verdict}")
    assert codes == sorted(case.bpf_abi), r.out
    assert r.code == (1 if any(f["severity"] == "incompatible" for f in r.json()["findings"]) else 0)
    assert verdict == case.abidiff
