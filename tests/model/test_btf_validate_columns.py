"""The column proof (model/btf/validate_columns.py) lets validate's record loop skip the structs,
unions and function prototypes it proves good. It must never change an answer: with it and
without it (the loop alone), validate gives the same error, word for word, or passes, and the
reference-loop search starts from the same types. Each column check is broken here on purpose."""

import importlib
import random
import struct

import pytest

from bpf_build.errors import BtfError
from bpf_build.model import btf as B
from bpf_build.model.btf.validate_columns import Proof, prove, tops_of
from bpf_build.model.elf import Object

from tests.model.conftest import MODEL_CORPUS

V = importlib.import_module("bpf_build.model.btf.validate")  # the module (the package exports its function)
VC = importlib.import_module("bpf_build.model.btf.validate_columns")

VMLINUX = "/sys/kernel/btf/vmlinux"

# Structs, unions, bitfields, varargs, forward references and recursion, as clang emits them.
SOURCE = MODEL_CORPUS["atomics_and_bitfields"].replace("char LICENSE", r"""
        typedef int (*logger_t)(const char *fmt, ...);
        struct later;
        struct node { struct node *next; struct later *fwd; logger_t log; union { int i; char c[4]; } u; };
        struct later { int (*cb)(struct later *self, struct node *n, int flags); struct flags bits[2]; };
        struct node head;
        struct later tail;
        char LICENSE""")


def outcome(types_or_data, base=None) -> str:
    """validate's answer and the types its reference-loop search starts from."""
    roots = []
    real = V._check_loops

    def spy(types, path, forward):
        roots.append(list(forward))
        return real(types, path, forward)

    V._check_loops = spy
    try:
        types = B.read_words(types_or_data, "f.btf", base) if isinstance(types_or_data, bytes) else types_or_data
        V.validate(types)
        answer = "ok"
    except BtfError as e:
        answer = f"error {e.reason}"
    finally:
        V._check_loops = real
    return f"{answer} roots {roots}"


def parsed_outcome(data: bytes) -> str:
    try:
        B.Btf.parse(data, "f.btf")
        return "ok"
    except BtfError as e:
        return f"error {e.reason}"


def loop_alone_outcome(data: bytes, monkeypatch, base=None) -> str:
    with monkeypatch.context() as m:
        m.setattr(V, "prove", lambda *args: Proof(bytes(256), []))
        return outcome(data, base)


def proven(data: bytes, base=None) -> bytes:
    types = B.read_words(data, "f.btf", base)
    sizeless = bytearray(types.start_id) + types.kinds.translate(V._NOT_VALUE_TABLE)
    return prove(types, tops_of(types), types.names.plain_starts(), sizeless).proven


def entry_words(data: bytes):
    """(word index, field) of every STRUCT/UNION/FUNC_PROTO header and entry field, the limit and
    the string table's end."""
    types = B.read_words(data, "f.btf")
    fields = []
    for off, kind in zip(types.offsets, types.kinds):
        vlen = types.words[off + 1] & 0xFFFF
        if kind in (B.STRUCT, B.UNION):
            fields += [(off, "name"), (off + 1, "info"), (off + 2, "size")]
            fields += [(off + 3 + 3 * j + f, "member") for j in range(vlen) for f in range(3)]
        elif kind == B.FUNC_PROTO:
            fields += [(off, "name"), (off + 2, "return")]
            fields += [(off + 3 + 2 * j + f, "param") for j in range(vlen) for f in range(2)]
    return fields, types.limit, types.names.end


def entry_mutations(data: bytes, seed: int, count: int):
    """``count`` copies of ``data`` with one or two member, parameter or header words of structs,
    unions and prototypes set to values near each column rule's edges."""
    rng = random.Random(seed)
    fields, limit, str_end = entry_words(data)
    bo = "<" if data[0] == 0x9F else ">"
    types_at = struct.unpack_from(bo + "I", data, 4)[0] + struct.unpack_from(bo + "I", data, 8)[0]
    for _ in range(count):
        b = bytearray(data)
        for _ in range(rng.choice((1, 1, 2))):
            index, field = rng.choice(fields)
            at = types_at + 4 * index
            old = struct.unpack_from(bo + "I", b, at)[0]
            if field == "info":
                new = old ^ rng.choice((1 << 31, 1, 1 << 24))
            else:
                new = rng.choice((0, 1, limit - 1, limit, rng.randrange(limit), rng.randrange(str_end), old + 1,
                                  max(old - 1, 0), old ^ (1 << rng.randrange(32)), old | rng.randrange(1, 256) << 24))
            struct.pack_into(bo + "I", b, at, new & 0xFFFFFFFF)
        yield bytes(b)


@pytest.mark.parametrize("target, chunk", [("bpfel", 1024), ("bpfeb", 1024), ("bpfel", 2)])
def test_column_proof_and_record_loop_agree_on_mutated_btf(compile_c, monkeypatch, target, chunk):
    """``chunk``: records proven at a time (2: a problem in any chunk, the records of one kind
    in several)."""
    monkeypatch.setattr(VC, "_CHUNK", chunk)
    path = compile_c(SOURCE, name="columns", target=target)
    data = bytes(Object.read(path).section(".BTF").data)
    assert proven(data)[B.STRUCT] and proven(data)[B.UNION] and proven(data)[B.FUNC_PROTO]
    seen = {"ok": 0, "error": 0}
    for mutated in entry_mutations(data, seed=11, count=400):
        ours = outcome(mutated)
        assert ours == loop_alone_outcome(mutated, monkeypatch)
        assert ours.split(" roots ")[0] == parsed_outcome(mutated)  # the parser's words: a list, no columns
        seen[ours.split()[0]] += 1
    assert seen["ok"] > 40 and seen["error"] > 150, seen


def test_kernel_btf_is_proven_and_searched_for_loops_from_the_same_types(monkeypatch):
    """vmlinux: every struct, union and prototype proven (the loop skips ~40k records), and the
    reference-loop search starts where the loop alone starts it (~6k types)."""
    data = open(VMLINUX, "rb").read()
    proof = proven(data)
    assert all(proof[top] for top in (B.STRUCT, B.UNION, B.FUNC_PROTO, B.STRUCT | 0x80))
    ours = outcome(data)
    assert ours.startswith("ok roots [[") and ours == loop_alone_outcome(data, monkeypatch)


def _btf(*types: B.BtfType, base=None) -> bytes:
    btf = B.Btf(base=base)
    for t in types:
        btf.add(t)
    return btf.encode()


INT = B.BtfType(B.INT, "int", size=4, int_bits=32, int_encoding=B.INT_SIGNED)
PROTO = B.BtfType(B.FUNC_PROTO, type=1, params=[B.Param("a", 1)])


@pytest.mark.parametrize("case, types, reason", [
    ("void member", [INT, B.BtfType(B.STRUCT, "s", size=4, members=[B.Member("a", 0)])],
     "type [2] STRUCT 's': member 'a' has type void"),
    ("member without a size", [INT, PROTO, B.BtfType(B.STRUCT, "s", size=4, members=[B.Member("a", 2)])],
     "type [3] STRUCT 's': member 'a' has type [2], which has no size"),
    ("no such member type", [INT, B.BtfType(B.STRUCT, "s", size=4, members=[B.Member("a", 9)])],
     "type [2] STRUCT 's': a member refers to type id 9, but only 2 types exist"),
    ("member outside", [INT, B.BtfType(B.STRUCT, "s", size=4, members=[B.Member("a", 1, 40)])],
     "type [2] STRUCT 's': member 'a' at bit 40 lies outside the 4-byte type"),
    ("bitfield outside", [INT, B.BtfType(B.STRUCT, "s", size=4, kflag=True, members=[B.Member("a", 1, 30, 3)])],
     "type [2] STRUCT 's': member 'a' at bit 30 lies outside the 4-byte type"),
    ("union member not at 0", [INT, B.BtfType(B.UNION, "u", size=8, members=[B.Member("a", 1, 32)])],
     "type [2] UNION 'u': union member 'a' at bit 32, not 0"),
    ("union bitfield not at 0", [INT, B.BtfType(B.UNION, "u", size=8, kflag=True, members=[B.Member("a", 1, 1, 3)])],
     "type [2] UNION 'u': union member 'a' at bit 1, not 0"),
    ("member name", [INT, B.BtfType(B.STRUCT, "s", size=4, members=[B.Member("a-b", 1)])],
     "type [2] STRUCT 's': member name 'a-b' is not a valid identifier"),
    ("struct name", [INT, B.BtfType(B.STRUCT, "s t", size=4, members=[B.Member("a", 1)])],
     "type [2] STRUCT 's t': name is not a valid identifier"),
    ("named prototype", [INT, B.BtfType(B.FUNC_PROTO, "f", type=1)],
     "type [2] FUNC_PROTO 'f': this kind must not have a name"),
    ("no such return type", [INT, B.BtfType(B.FUNC_PROTO, type=5)],
     "type [2] FUNC_PROTO '': return type refers to type id 5, but only 2 types exist"),
    ("no such parameter type", [INT, B.BtfType(B.FUNC_PROTO, type=1, params=[B.Param("a", 7)])],
     "type [2] FUNC_PROTO '': a parameter refers to type id 7, but only 2 types exist"),
    ("parameter name", [INT, B.BtfType(B.FUNC_PROTO, type=1, params=[B.Param("a b", 1)])],
     "type [2] FUNC_PROTO '': parameter 0 name 'a b' is not a valid identifier"),
    ("void first of two", [INT, B.BtfType(B.FUNC_PROTO, type=1, params=[B.Param("", 0), B.Param("", 1)])],
     "type [2] FUNC_PROTO '': parameter 0 is void (only an unnamed last parameter may be: varargs)"),
    ("named varargs", [INT, B.BtfType(B.FUNC_PROTO, type=1, params=[B.Param("a", 1), B.Param("b", 0)])],
     "type [2] FUNC_PROTO '': parameter 1 is void (only an unnamed last parameter may be: varargs)"),
    ("second void", [INT, B.BtfType(B.FUNC_PROTO, type=1, params=[B.Param("a", 1), B.Param("", 0)]),
                     B.BtfType(B.FUNC_PROTO, type=1, params=[B.Param("", 0), B.Param("", 0)])],
     "type [3] FUNC_PROTO '': parameter 0 is void (only an unnamed last parameter may be: varargs)"),
])
def test_each_column_check_leaves_a_broken_rule_to_the_loop(monkeypatch, case, types, reason):
    data = _btf(*types)
    broken = types[-1]
    top = broken.kind | (0x80 if broken.kflag else 0)
    assert not proven(data)[top], case
    assert outcome(data) == loop_alone_outcome(data, monkeypatch) == f"error {reason} roots []"


@pytest.mark.parametrize("case, types, roots", [
    ("varargs", [INT, B.BtfType(B.FUNC_PROTO, type=1, params=[B.Param("fmt", 1), B.Param("", 0)])], []),
    ("unnamed members", [INT, B.BtfType(B.STRUCT, size=8, members=[B.Member("", 1), B.Member("b", 1, 32)])], []),
    ("forward member and parameter", [B.BtfType(B.STRUCT, "s", size=8, members=[B.Member("p", 3)]),
                                      B.BtfType(B.FUNC_PROTO, type=4, params=[B.Param("s", 3)]),
                                      B.BtfType(B.PTR, type=1), INT], [[1, 2]]),
    ("parameter ahead, return behind", [INT, B.BtfType(B.FUNC_PROTO, type=1, params=[B.Param("a", 1),
                                                                                     B.Param("b", 3)]),
                                        B.BtfType(B.PTR, type=1)], [[2]]),
])
def test_good_records_are_proven_with_the_same_loop_search(monkeypatch, case, types, roots):
    data = _btf(*types)
    assert all(proven(data)[t.kind] for t in types if t.kind in (B.STRUCT, B.FUNC_PROTO)), case
    assert outcome(data) == loop_alone_outcome(data, monkeypatch) == f"ok roots {roots}"


def test_members_of_base_types_are_left_to_the_loop(monkeypatch):
    """Split BTF: a member of a base type is looked up by the loop (the columns know own types)."""
    base_data = _btf(INT, B.BtfType(B.FUNC_PROTO, type=1))
    base = B.read_words(base_data, "base.btf")
    good = _btf(B.BtfType(B.STRUCT, "s", size=4, members=[B.Member("a", 1)]), base=B.Btf.parse(base_data, "b"))
    bad = _btf(B.BtfType(B.STRUCT, "s", size=4, members=[B.Member("a", 2)]), base=B.Btf.parse(base_data, "b"))
    assert not proven(good, base)[B.STRUCT]
    assert outcome(good, base) == loop_alone_outcome(good, monkeypatch, base) == "ok roots []"
    assert outcome(bad, base) == loop_alone_outcome(bad, monkeypatch, base) \
        == "error type [3] STRUCT 's': member 'a' has type [2], which has no size roots []"
