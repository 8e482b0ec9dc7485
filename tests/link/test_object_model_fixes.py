"""The object-model changes the linker needed: BtfExt keeps an explicitly empty record table,
and the ELF writer can reproduce libbpf's string-table order and its interleaved symbol table
(sh_info 0)."""

from __future__ import annotations

import struct

import pytest

from bpf_build.model.btf import Btf
from bpf_build.model.btf_ext import BtfExt, CoreRelo, ExtInfo, ExtSection, FuncInfo, LineInfo
from bpf_build.model.elf import STB_GLOBAL, STB_LOCAL, Object
from bpf_build.errors import ElfError

from link_oracle import bpftool_link


def test_empty_record_table_stays_empty():
    """An ExtInfo with no sections is falsy (it has __len__); BtfExt used to replace it with a
    default table whose 4-byte record size libbpf then rejects ("has no records")."""
    strings = Btf().strings
    ext = BtfExt(hdr_len=32, func_info=ExtInfo(FuncInfo, 8, [ExtSection(".text", [FuncInfo(0, 1)])]),
                 line_info=ExtInfo(LineInfo, 0), core_relo=ExtInfo(CoreRelo, 0))
    raw = ext.encode(strings)
    func_len, line_off, line_len, core_off, core_len = struct.unpack_from("<IIIII", raw, 12)
    assert (line_len, core_len) == (0, 0)
    assert ext.core_relo.rec_size == 0


@pytest.mark.oracle
def test_writer_reproduces_a_libbpf_linked_object(build_case, tmp_path):
    """bpftool's output read and written back with its string order and sh_info: same bytes."""
    built = build_case("vars")
    rc, err, data = bpftool_link(built.inputs, str(tmp_path / "bpftool.o"))
    assert rc == 0, err
    obj = Object.read(data, path="bpftool.o")
    strtab = obj.sections[obj.shstrndx].data
    obj.strtab_order = [s.decode() for s in strtab.split(b"\0")[1:-1]]
    obj.symtab_info = 0
    assert obj.to_bytes() == data


def test_locals_after_globals_need_an_explicit_sh_info(build_case):
    obj = Object.read(build_case("funcs").ours, path="linked.o")
    binds = [s.bind for s in obj.symbols[1:]]
    first_global = binds.index(STB_GLOBAL)
    assert STB_LOCAL in binds[first_global:]  # libbpf interleaves them
    obj.symtab_info = None
    with pytest.raises(ElfError, match="local symbol .* after global symbols"):
        obj.to_bytes()
    obj.symtab_info = 0
    symtab = next(s for s in Object.read(obj.to_bytes(), path="x").sections if s.name == ".symtab")
    assert symtab.info == 0
