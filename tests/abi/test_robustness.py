"""Whatever the input, bpf-abi ends in a result or one AbiError, never another exception:
generated version scripts, mutated shared libraries and mutated baselines."""

from __future__ import annotations

import copy
import json
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpf_build.abi.diff import diff_snapshots
from bpf_build.abi.snapshot import load_snapshot, snapshot_from_json, snapshot_to_json
from bpf_build.abi.versionscript import parse_version_script
from bpf_build.errors import AbiError

PIECES = ["LIBBPF_1.0.0", "LIBBPF_1.1.0", "{", "}", ";", ":", "global", "local", "*", "bpf_a", "bpf_*",
          "extern", '"C"', '"C++', "/*", "*/", "#", "\n", " ", "\t", "}\n", "(", "é"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_version_script_parser_never_crashes(pieces):
    text = "".join(pieces)
    try:
        script = parse_version_script(text, "gen.map")
    except AbiError as e:
        assert e.path.startswith("gen.map:")  # every parse error names its line
        line = int(e.path.split(":", 1)[1])
        assert 1 <= line <= text.count("\n") + 1
        return
    for node in script.nodes:
        assert all(entry.scope in ("global", "local") for entry in node.entries)


LIB_SRC = """
    API int bpf_a(const struct bpf_o *o) { return o ? o->x : 0; }
    API int bpf_b(void) { return 2; }
    API int bpf_var = 3;
"""
LIB_MAP = "LIBBPF_1.0.0 {\n global: bpf_a; bpf_b; bpf_var;\n local: *;\n};\n"
LIB_HEADER = "struct bpf_o { unsigned long sz; int x; };\nenum bpf_e { BPF_E_A = 1 };\n"


def test_mutated_libraries_end_in_abi_error_or_a_snapshot(build_lib):
    b = build_lib(LIB_SRC, LIB_MAP, header=LIB_HEADER)
    original = open(b.lib, "rb").read()
    rnd = random.Random(20240501)
    outcomes = {"ok": 0, "error": 0}
    target = b.dir / "mutated.so"
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rnd.randint(1, 16)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        target.write_bytes(bytes(data))
        try:
            load_snapshot(target)
            outcomes["ok"] += 1
        except AbiError as e:
            assert e.path == str(target) and e.exit_code == 2
            outcomes["error"] += 1
    assert outcomes["ok"] and outcomes["error"]  # both paths were exercised


JSON_LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=4),
                        st.lists(st.integers(0, 2), max_size=2))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_baselines_end_in_abi_error_or_a_diff(build_lib, data):
    b = build_lib(LIB_SRC, LIB_MAP, header=LIB_HEADER)
    good = json.loads(snapshot_to_json(load_snapshot(b.lib)))
    doc = copy.deepcopy(good)
    # Replace one value somewhere in the document with something of another shape.
    node, path = doc, []
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        node = node[key]
    leaf = data.draw(JSON_LEAVES)
    if path:
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = leaf
    else:
        doc = leaf
    try:
        mutated = snapshot_from_json(json.dumps(doc), "mutated.json")
    except AbiError as e:
        assert e.path == "mutated.json"
        return
    original = snapshot_from_json(json.dumps(good), "good.json")
    diff_snapshots(original, mutated)
    diff_snapshots(mutated, original)
