"""Minimized corrupt inputs (issue 14), each a real corpus object with one recorded mutation
(or a small BTF file), through every command that reads it, each in its own capped process
(tests/fuzz/harness.py): it exits 1 with one line ``error: <file>: <reason>`` naming the rule
broken, and writes nothing. One case also goes through the installed entry points as a user
types them, to show the harness runs what they run.

Each mutation is made through the object model (whose writer does not validate), so the case
stays meaningful when clang's output shifts; each once ended in a traceback, an unbounded
allocation, or an exit 0 on input the kernel refuses.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bpf_build.model import btf as B
from bpf_build.model.elf import Object

from tests.fuzz import harness as H

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

COMMANDS = {c.label: c for c in H.COMMANDS}
OBJECT_COMMANDS = H.OBJECT_COMMANDS
RAW_BTF_COMMANDS = H.RAW_BTF_COMMANDS


@pytest.fixture(scope="module")
def worker():
    with H.Worker() as w:
        yield w


@pytest.fixture
def refused(worker, tmp_path):
    """refused(data, rule, commands): each command, in its own capped process, exits 1 with one
    error line naming the input and matching ``rule``, leaves no output and no temp file."""

    def check(data: bytes, rule: str, commands=OBJECT_COMMANDS) -> None:
        for command in commands:
            name = H.RAW_BTF_NAME if command.raw_btf else H.INPUT_NAME
            (tmp_path / name).write_bytes(data)
            outcome = worker.run(command, str(tmp_path))
            assert outcome.problem((name,)) is None, f"{command.label}: {outcome.problem((name,))}\n{outcome.stderr}"
            assert outcome.status == 1, f"{command.label}: exit {outcome.status}"
            assert re.search(rule, outcome.stderr), f"{command.label}: {outcome.stderr!r} does not match {rule!r}"

    return check


@pytest.fixture(scope="module")
def corpus(compile_c):
    """corpus(name) -> a fresh Object read from the compiled corpus case."""
    paths = {}

    def get(name: str) -> Object:
        if name not in paths:
            paths[name] = compile_c((CORPUS / f"{name}.bpf.c").read_text(), name=name)
        return Object.read(paths[name])

    return get


def symbol(obj: Object, name: str):
    return next(s for s in obj.symbols if s.name == name)


def datasec(btf: B.Btf, name: str) -> B.BtfType:
    return btf.get(btf.find(name, B.DATASEC))


# -- ELF --------------------------------------------------------------------------------------

def test_symbol_value_past_its_section(corpus, refused):
    """Once: bpf-link struct.error packing a 33-bit DATASEC offset; gen_loader IndexError."""
    obj = corpus("globals")
    symbol(obj, "counter").value = 1 << 32
    refused(obj.to_bytes(),
            r"symbol 'counter' \(4 bytes at 4294967296\) lies outside its section '\.data'")


def test_symbol_size_past_its_section(corpus, refused):
    """Once: IndexError in loader explain / skel --light / skel --lang python (gen_loader)."""
    obj = corpus("globals")
    data = obj.section(".data")
    symbol(obj, "counter").size = data.size + 8
    refused(obj.to_bytes(),
            rf"symbol 'counter' \({data.size + 8} bytes at 0\) lies outside its section")


def test_bss_of_4_gib(corpus, refused):
    """Found by the fuzzer (socket.bpfeb, seed 100799, one byte of .bss's sh_size): bpf-link's
    struct.error packing the DATASEC size into BTF's 32 bits."""
    obj = corpus("globals")
    obj.section(".bss").nobits_size = 1 << 32
    refused(obj.to_bytes(), r"section '\.bss' is 4294967296 bytes: more than a BPF object can describe")


def test_symbol_name_not_utf8(corpus, refused):
    """Once: UnicodeEncodeError (surrogates) in all three skeleton kinds."""
    obj = corpus("globals")
    symbol(obj, "counter").name = "count\udcffer"  # written as the raw byte 0xff
    refused(obj.to_bytes(), r"name b'count\\xffer' is not valid UTF-8")


def test_section_name_not_utf8(corpus, refused):
    obj = corpus("globals")
    obj.section(".data.custom").name = ".data.\udcfe"
    refused(obj.to_bytes(), r"section \d+ name: name b'\.data\.\\xfe' is not valid UTF-8")


# -- BTF --------------------------------------------------------------------------------------

def test_datasec_entry_of_type_void(corpus, refused):
    """Once: AttributeError in bpf-link."""
    obj = corpus("globals")
    datasec(obj.btf, ".data").secinfo[0].type = 0
    refused(obj.to_bytes(),
            r"DATASEC '\.data': entry type \[0\] is not a VAR or FUNC")


def test_variable_of_a_forward_declaration(corpus, refused):
    """Once: KeyError (7, False) in skel --lang python."""
    obj = corpus("globals")
    fwd = obj.btf.add(B.BtfType(B.FWD, "opaque"))
    var = obj.btf.get(symbol_btf_id(obj, "counter"))
    var.type = fwd
    refused(obj.to_bytes(),
            rf"VAR 'counter': type \[{fwd}\] is not the type of a variable")


def symbol_btf_id(obj: Object, name: str) -> int:
    return obj.btf.find(name, B.VAR)


def test_member_of_a_type_id_past_the_end(corpus, refused):
    """Once: IndexError in skel --lang python."""
    obj = corpus("maps")
    struct_id, struct = next((i, t) for i, t in obj.btf.items() if t.kind == B.STRUCT and t.members)
    struct.members[0].type = len(obj.btf) + 40
    refused(obj.to_bytes(),
            rf"type \[{struct_id}\] STRUCT '{struct.name}': a member refers to type id "
                   rf"{len(obj.btf) + 40}, but only {len(obj.btf) - 1} types exist")


def test_btf_member_name_not_utf8(corpus, refused):
    obj = corpus("maps")
    struct_id, struct = next((i, t) for i, t in obj.btf.items() if t.kind == B.STRUCT and t.members)
    struct.members[0].name = "ty\udcffpe"
    refused(obj.to_bytes(),
            rf"type \[{struct_id}\] .*member name 'ty\\udcffpe' is not a valid identifier")


def test_int_of_size_0xffffffff(corpus, refused):
    obj = corpus("globals")
    int_id, int_t = next((i, t) for i, t in obj.btf.items() if t.kind == B.INT)
    int_t.size = 0xFFFFFFFF
    refused(obj.to_bytes(),
            rf"type \[{int_id}\] INT '{int_t.name}': size 4294967295 is not 1, 2, 4, 8 or 16")


def test_pointer_loop(corpus, refused):
    """const * const * ... never ends: a walk of it would not either."""
    obj = corpus("globals")
    ptr = obj.btf.add(B.BtfType(B.PTR, type=0))
    const = obj.btf.add(B.BtfType(B.CONST, type=ptr))
    obj.btf.type(ptr).type = const
    refused(obj.to_bytes(),
            r"refers back to itself without a struct or union \(reference loop\)")


def test_btf_ext_records_for_a_section_not_loaded(corpus, refused):
    """Once: AttributeError in bpf-link (the linker drops DWARF sections)."""
    obj = corpus("globals")
    obj.btf_ext.line_info.sections[0].name = ".debug_info"
    refused(obj.to_bytes(), r"\.BTF\.ext line_info: records for section '\.debug_info', which holds no code")


def test_btf_ext_records_for_a_missing_section(corpus, refused):
    obj = corpus("globals")
    obj.btf_ext.func_info.sections[0].name = "nosuch"
    refused(obj.to_bytes(),
            r"\.BTF\.ext func_info: records for section 'nosuch', which the object does not have")


def test_btf_ext_record_past_its_section(corpus, refused):
    obj = corpus("globals")
    esec = obj.btf_ext.core_relo.sections[0] if len(obj.btf_ext.core_relo) else obj.btf_ext.line_info.sections[0]
    esec.records[-1].insn_off = 1 << 20
    refused(obj.to_bytes(), rf"\.BTF\.ext \w+: record at byte 1048576 of '{esec.name}' is not an instruction")


# -- raw BTF (vmlinux --btf, btf dump) --------------------------------------------------------

def raw_btf(*types: B.BtfType) -> bytes:
    btf = B.Btf()
    for t in types:
        btf.add(t)
    return btf.encode()


INT32 = dict(size=4, int_bits=32, int_encoding=B.INT_SIGNED)


def test_member_bit_offset_near_2_pow_32(refused):
    """Once: vmlinux --btf allocated until the memory ran out writing the padding before it."""
    data = raw_btf(B.BtfType(B.INT, "int", **INT32),
                   B.BtfType(B.STRUCT, "s", size=8, members=[B.Member("far", 1, 0xFFFFFF00)]))
    refused(data, r"STRUCT 's': member 'far' at bit 4294967040 lies outside the 8-byte type",
                   RAW_BTF_COMMANDS)


def test_struct_of_4_gib_is_refused_by_the_header_writer(refused):
    """A valid but absurd size: the writer spells padding out line by line, within a budget."""
    data = raw_btf(B.BtfType(B.INT, "int", **INT32),
                   B.BtfType(B.STRUCT, "huge", size=0xFFFFFFF0, members=[B.Member("x", 1, 0)]))
    refused(data, r"bytes of padding in one struct: more than this writer spells out",
                   (COMMANDS["vmlinux-raw"],))


def test_datasec_entry_of_size_0xffffffff(refused):
    data = raw_btf(B.BtfType(B.INT, "int", **INT32),
                   B.BtfType(B.VAR, "v", type=1, linkage=B.VAR_GLOBAL_ALLOCATED),
                   B.BtfType(B.DATASEC, ".data", size=8, secinfo=[B.VarSecinfo(2, 0, 0xFFFFFFFF)]))
    refused(data, r"DATASEC '\.data': entry \[2\] \(4294967295 bytes at 0\) exceeds the 8-byte section",
                   RAW_BTF_COMMANDS)


def test_overlapping_datasec_entries(refused):
    data = raw_btf(B.BtfType(B.INT, "int", **INT32),
                   B.BtfType(B.VAR, "a", type=1, linkage=B.VAR_GLOBAL_ALLOCATED),
                   B.BtfType(B.VAR, "b", type=1, linkage=B.VAR_GLOBAL_ALLOCATED),
                   B.BtfType(B.DATASEC, ".data", size=8,
                             secinfo=[B.VarSecinfo(2, 0, 4), B.VarSecinfo(3, 2, 4)]))
    refused(data, r"DATASEC '\.data': entry \[3\] at offset 2 overlaps another",
                   RAW_BTF_COMMANDS)


# -- the linker's own output ------------------------------------------------------------------

def test_link_refuses_variables_laid_over_each_other(corpus, refused):
    """Once: bpf-link exit 0, writing a .data DATASEC whose entries overlap (the kernel refuses
    that BTF). Two symbols at one offset lay their variables over each other."""
    obj = corpus("globals")
    symbol(obj, "origin").value = symbol(obj, "counter").value
    refused(obj.to_bytes(),
            r"BTF section '\.data': entry \[\d+\] at offset 0 overlaps another", (COMMANDS["link"],))


def test_the_entry_points_a_user_runs_say_the_same(corpus, tmp_path):
    obj = corpus("globals")
    symbol(obj, "counter").size = obj.section(".data").size + 8
    path = tmp_path / "bad.bpf.o"
    path.write_bytes(obj.to_bytes())
    for module, args in (("bpf_build.cli.link", [str(path), "-o", str(tmp_path / "out.o")]),
                         ("bpf_build.cli.main", ["skel", "--light", str(path), "-o", str(tmp_path / "x.h")])):
        proc = subprocess.run([sys.executable, "-m", module] + args, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 1
        assert re.fullmatch(rf"error: {re.escape(str(path))}: symbol 'counter' \(\d+ bytes at 0\) lies "
                            rf"outside its section '\.data' \(\d+ bytes\)\n", proc.stderr), proc.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.bpf.o"]


@pytest.fixture
def survives(worker, tmp_path):
    """survives(data): every object command exits 0 or with one error line naming the input."""

    def check(data: bytes) -> list:
        (tmp_path / H.INPUT_NAME).write_bytes(data)
        outcomes = worker.run_many(OBJECT_COMMANDS, str(tmp_path))
        for outcome in outcomes:
            assert outcome.problem((H.INPUT_NAME,)) is None, f"{outcome.command}: {outcome.stderr}"
        return outcomes

    return check


@pytest.mark.parametrize("section", [".debug_str", ".symtab", ".BTF"])
def test_variable_symbol_in_a_section_that_is_not_loaded(corpus, survives, section):
    """Once: AttributeError in bpf-link. The linker drops such sections; a variable defined in
    one no longer matches its BTF."""
    obj = corpus("globals")
    symbol(obj, "counter").shndx = obj.section_index(section)
    outcomes = {o.command: o for o in survives(obj.to_bytes())}
    assert outcomes["link"].status == 1
    assert "variable 'counter' of BTF section '.data' has no symbol in that ELF section" in outcomes["link"].stderr


@pytest.mark.parametrize("section", [".symtab", ".relsyscall"])
def test_section_symbol_of_a_section_that_is_not_linked(corpus, refused, section):
    """Found by the fuzzer (e.g. subprogs.bpfel seed 104796: a section symbol's st_shndx moved
    to another section): AttributeError in bpf-link."""
    obj = corpus("globals")
    index = obj.section_index(section)
    sym = next(s for s in obj.symbols if s.type == 3 and s.shndx == obj.section_index(".data"))
    sym.shndx = index
    refused(obj.to_bytes(), rf"section symbol \d+ is defined in section '{re.escape(section)}', which is not linked",
            (COMMANDS["link"],))
