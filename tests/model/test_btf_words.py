"""BTF read as words (model/btf/words.py): `bpf-build btf dump` prints from them without a parsed
model, and they must say what the parser says: the same dump, or the same one-line error."""

import random
import struct
import subprocess
import sys

import pytest

from bpf_build.errors import BtfError
from bpf_build.model import btf as B
from bpf_build.model.elf import Object

from tests.conftest import require_tool
from tests.model.conftest import MODEL_CORPUS

VMLINUX = "/sys/kernel/btf/vmlinux"


def parsed_outcome(data: bytes) -> str:
    try:
        return "dump\n" + B.dump_raw(B.Btf.parse(data, "f.btf"))
    except BtfError as e:
        return f"error {e.path}: {e.reason}"


def words_outcome(data: bytes, names_pending: bool = False) -> str:
    try:
        types = B.read_words(data, "f.btf", names_pending=names_pending)
        B.validate(types)
        return "dump\n" + "".join(B.dump_words(types))
    except BtfError as e:
        return f"error {e.path}: {e.reason}"


def mutations(data: bytes, seed: int, count: int):
    """``count`` copies of ``data`` with 1-4 bytes changed, mostly in the type section."""
    rng = random.Random(seed)
    type_len = struct.unpack_from("<I" if data[0] == 0x9F else ">I", data, 12)[0]
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            pos = 24 + rng.randrange(type_len) if rng.random() < 0.8 else rng.randrange(len(b))
            b[pos] = rng.choice([0, 1, 0xFF, rng.randrange(256), b[pos] ^ (1 << rng.randrange(8))])
        yield bytes(b)


@pytest.mark.parametrize("target", ["bpfel", "bpfeb"])
def test_words_and_parser_agree_on_mutated_btf(compile_c, target):
    """The parser takes a fast path and asks framing only when it meets something irregular;
    the dump frames every record itself. Both must find the same first problem, word for word,
    or print the same text."""
    path = compile_c(MODEL_CORPUS["core_and_externs"], name="core_and_externs", target=target)
    data = bytes(Object.read(path).section(".BTF").data)
    outcomes = {"dump": 0, "error": 0}
    for mutated in mutations(data, seed=19, count=400):
        ours = words_outcome(mutated)
        assert ours == parsed_outcome(mutated)
        assert words_outcome(mutated, names_pending=True) == ours  # validate checks the names
        assert "\n" not in ours or ours.startswith("dump")
        outcomes[ours.split()[0]] += 1
    assert outcomes["dump"] > 20 and outcomes["error"] > 200, outcomes  # both sides exercised


def one_type_btf(t: B.BtfType) -> bytearray:
    btf = B.Btf()
    btf.add(t)
    return bytearray(btf.encode())


def _bad_member_name():
    data = one_type_btf(B.BtfType(B.STRUCT, "s", size=4, members=[B.Member("a", 0, 0)]))
    struct.pack_into("<I", data, 36, 7000)
    return data


def _reserved_int_bits():
    data = one_type_btf(B.BtfType(B.INT, "int", size=4, int_bits=32))
    struct.pack_into("<I", data, 36, 0xF0000020)
    return data


def _partial_word():
    data = one_type_btf(B.BtfType(B.PTR, type=0))
    record, strings = data[24:36], data[36:]
    header = data[:24]
    struct.pack_into("<IIII", header, 8, 0, 14, 14, len(strings))  # types: the record and 2 bytes
    return header + record + b"\0\0" + strings


def _kind_flag_on_func(linkage: int):
    data = one_type_btf(B.BtfType(B.FUNC_PROTO))
    func = bytearray(struct.pack("<III", 0, 1 << 31 | B.FUNC << 24 | linkage, 1))
    name = len(data) - 24 - 12 - 1  # the table's last byte: "" (a FUNC's name is checked after its flag)
    struct.pack_into("<I", func, 0, name)
    header, record, strings = data[:24], data[24:36], data[36:]
    struct.pack_into("<III", header, 12, 24, 24, len(strings))
    return header + record + func + strings


@pytest.mark.parametrize("corrupt, reason", [
    (lambda: _kind_flag_on_func(0), "type [2] FUNC '': kind_flag must be 0 for this kind"),
    (lambda: _kind_flag_on_func(1), "type [2] FUNC '': kind_flag must be 0 for this kind"),
    (_bad_member_name, "type [1]: member name offset 7000 is outside the string table"),
    (_reserved_int_bits, "type [1] INT: reserved bits set in its data 0xf0000020"),
    (_partial_word, "type [2]: truncated BTF type data at byte 12"),
])
def test_btf_dump_names_the_problem_in_one_line(tmp_path, corrupt, reason):
    data = bytes(corrupt())
    with pytest.raises(BtfError) as e:
        B.Btf.parse(data, "x.btf")
    assert e.value.reason == reason
    bad = tmp_path / "bad.btf"
    bad.write_bytes(data)
    r = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "btf", "dump", str(bad)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [f"error: {bad}: {reason}"]


def test_dump_of_vmlinux_holds_no_parsed_model():
    """The words of vmlinux, its names and the checks' tables: ~35 MiB at its peak with the
    interpreter, where the parsed model took ~105 MiB. Measured from a small parent (a child's
    peak counts the parent's size when it forked)."""
    measure = ("import resource, subprocess, sys\n"
               f"subprocess.run([sys.executable, '-m', 'bpf_build.cli.main', 'btf', 'dump', {VMLINUX!r}],"
               " stdout=subprocess.DEVNULL, check=True)\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    peak_kib = int(subprocess.run([sys.executable, "-c", measure], capture_output=True, text=True,
                                  check=True).stdout)
    assert peak_kib < 60 * 1024, f"peak RSS {peak_kib / 1024:.1f} MiB"


@pytest.mark.oracle
def test_split_btf_dump_matches_bpftool(tmp_path):
    """Split BTF read as words on a base read as words: base names, base types behind DATASEC
    entries, ids continuing the base's."""
    bpftool = require_tool("bpftool")
    base = B.Btf.from_file(VMLINUX)
    split = B.Btf(base=base)
    int_id = base.find("int", B.INT)
    var_id = next(tid for tid, t in base.items() if t.kind == B.VAR)
    ptr = split.add(B.BtfType(B.PTR, type=int_id))
    split.add(B.BtfType(B.STRUCT, "module_thing", size=8, members=[B.Member("task", ptr, 0)]))
    split.add(B.BtfType(B.VAR, "module_var", type=int_id, linkage=B.VAR_GLOBAL_ALLOCATED))
    split.add(B.BtfType(B.DATASEC, ".data..percpu", size=0, secinfo=[
        B.VarSecinfo(var_id, 0, 4), B.VarSecinfo(ptr + 2, 0, 4)]))
    path = tmp_path / "module.btf"
    path.write_bytes(split.encode())
    ours = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "btf", "dump", str(path), "--base", VMLINUX],
                          capture_output=True, text=True, check=True).stdout
    theirs = subprocess.run([bpftool, "-B", VMLINUX, "btf", "dump", "file", str(path), "format", "raw"],
                            capture_output=True, text=True, check=True).stdout
    assert ours == theirs
    assert f"type_id={var_id} offset=0 size=4 (VAR '{base.type(var_id).name}')" in ours


def frame_outcome(fn, words, nbytes: int, str_end: int) -> str:
    try:
        found = fn(words, nbytes, str_end, 1, "f.btf")
    except BtfError as e:
        return f"error {e.reason}"
    if found is None:
        return "refused"
    offsets, kinds = found[:2]
    return f"framed {list(offsets)} {bytes(kinds).hex()}"


def test_framing_by_columns_agrees_with_framing_record_by_record(compile_c):
    """Framing steps through the records first and checks whole columns after; on any problem
    it frames again record by record (which names it). The column checks must refuse exactly
    what the record-by-record framing refuses, and frame the rest the same."""
    from bpf_build.model.btf import words as W
    path = compile_c(MODEL_CORPUS["core_and_externs"], name="core_and_externs")
    data = bytes(Object.read(path).section(".BTF").data)
    seen = {"framed": 0, "error": 0}
    for mutated in [data, *mutations(data, seed=7, count=300)]:
        try:
            sections = W.read_sections(mutated, "f.btf", False)
        except BtfError:
            continue
        words = W.section_words(mutated, sections)
        str_end = len(sections.strings)
        one_by_one = frame_outcome(W._frame_one_by_one, words, sections.types_len, str_end)
        if sections.types_len % 4 == 0:
            by_columns = frame_outcome(lambda w, n, s, i, p: W._frame_regular(w, s), words, 0, str_end)
            assert by_columns == (one_by_one if one_by_one.startswith("framed") else "refused")
        assert frame_outcome(W.frame, words, sections.types_len, str_end) == one_by_one
        seen[one_by_one.split()[0]] += 1
    assert seen["framed"] > 20 and seen["error"] > 50, seen


def _loop_outcome(*types: B.BtfType) -> str:
    btf = B.Btf()
    for t in types:
        btf.add(t)
    try:
        B.validate(B.read_words(btf.encode(), "f.btf"))
    except BtfError as e:
        return e.reason
    return "ok"


def test_reference_loops_among_types_that_refer_forward():
    """clang numbers a type before the types it uses, so most references point to higher ids
    and nearly every type starts a loop search: a search must still name the type it meets
    again, and leave pointer cycles through a struct alone."""
    int_ = B.BtfType(B.INT, "int", size=4, int_bits=32)
    # [1] struct node { struct node *next; node_t *alias; int v; }, [2] *[1], [3] typedef [1]
    linked = [B.BtfType(B.STRUCT, "node", size=24, members=[
                  B.Member("next", 2, 0), B.Member("alias", 4, 64), B.Member("v", 5, 128)]),
              B.BtfType(B.PTR, type=1), B.BtfType(B.TYPEDEF, "node_t", type=1), B.BtfType(B.PTR, type=3), int_]
    assert _loop_outcome(*linked) == "ok"
    # [1] struct outer { struct inner in; }, [2] struct inner { wrap_t w; }, [3] typedef outer wrap_t
    embedded = [B.BtfType(B.STRUCT, "outer", size=4, members=[B.Member("in", 2, 0)]),
                B.BtfType(B.STRUCT, "inner", size=4, members=[B.Member("w", 3, 0)]),
                B.BtfType(B.TYPEDEF, "wrap_t", type=1)]
    assert _loop_outcome(*embedded) == "type [1] STRUCT 'outer': refers back to itself without a pointer (reference loop)"
    # after those: [6] a pointer to [7], a function pointer whose prototype [8] returns [9], a const [7]
    circular = [B.BtfType(B.PTR, type=7), B.BtfType(B.PTR, type=8), B.BtfType(B.FUNC_PROTO, type=9),
                B.BtfType(B.CONST, type=7)]
    assert _loop_outcome(*linked, *circular) == (
        "type [7] PTR '': refers back to itself without a struct or union (reference loop)")


def test_names_left_to_validate_are_named_as_framing_names_them():
    """read_words(names_pending=True) leaves the name offsets to validate, which reads them all:
    one past the string table is named as framing names it, even when a rule is broken earlier
    (framing's problems come first), and a good BTF passes."""
    good = B.Btf()
    good.add(B.BtfType(B.PTR, type=0))
    good.add(B.BtfType(B.STRUCT, "s", size=4, members=[B.Member("a", 3, 0)]))
    good.add(B.BtfType(B.INT, "int", size=4, int_bits=32))
    data = bytearray(good.encode())
    assert words_outcome(bytes(data), names_pending=True).startswith("dump")
    struct.pack_into("<I", data, 24 + 12 + 12, 7000)  # the member's name offset
    struct.pack_into("<I", data, 24, 1)  # and a name on the PTR, which must have none
    expected = "error f.btf: type [2]: member name offset 7000 is outside the string table"
    assert words_outcome(bytes(data)) == expected
    assert words_outcome(bytes(data), names_pending=True) == expected
    struct.pack_into("<I", data, 24 + 12 + 12, 0)
    assert words_outcome(bytes(data), names_pending=True) == "error f.btf: type [1] PTR 's': this kind must not have a name"
