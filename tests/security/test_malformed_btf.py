"""Corrupt BTF given to the skeleton generators (issue 14): one error naming the file, never a
traceback. The BTF of a real object is corrupted in memory, past any check at read time, so
these are the generators' own guards."""

from __future__ import annotations

import copy

import pytest

from bpf_build.model import btf as B
from bpf_build.model.elf import Object
from bpf_build.errors import BpfBuildError

from tests.security.test_hostile_names import GENERATORS, PLAIN_C


def type_id(obj: Object, name: str, kind: int) -> int:
    tid = obj.btf.find(name, kind)
    assert tid is not None, name
    return tid


def enum_of_size_7(obj):
    obj.btf.get(type_id(obj, "color", B.ENUM)).size = 7


def member_type_out_of_range(obj):
    obj.btf.get(type_id(obj, "event", B.STRUCT)).members[0].type = 99999


def variable_type_out_of_range(obj):
    obj.btf.get(type_id(obj, "counter", B.VAR)).type = 99999


def member_of_var_type(obj):
    obj.btf.get(type_id(obj, "event", B.STRUCT)).members[0].type = type_id(obj, "counter", B.VAR)


def kconfig_extern_of_var_type(obj):
    """The open phase finds no alignment for it (an error that used to come without a file)."""
    obj.btf.get(type_id(obj, "CONFIG_HZ", B.VAR)).type = type_id(obj, "counter", B.VAR)


def modifier_loop(obj):
    t = B.BtfType(B.CONST, type=0)
    tid = obj.btf.add(t)
    t.type = tid
    obj.btf.get(type_id(obj, "event", B.STRUCT)).members[0].type = tid


CORRUPTIONS = [enum_of_size_7, member_type_out_of_range, variable_type_out_of_range, member_of_var_type,
               kconfig_extern_of_var_type, modifier_loop]
# What the C kinds do not render (map value types) they may accept; the Python skeleton renders
# every type a map or variable uses, so it refuses each of these.
CASES = [(c, k) for c in CORRUPTIONS for k in sorted(GENERATORS)]


@pytest.mark.parametrize("corrupt, kind", CASES, ids=[f"{c.__name__}-{k}" for c, k in CASES])
def test_corrupt_btf_is_one_error_naming_the_file(corrupt, kind, compile_c, tmp_path):
    obj = Object.read(compile_c(PLAIN_C, name="plain"))
    obj.path = str(tmp_path / "corrupt.bpf.o")
    obj = copy.deepcopy(obj)
    corrupt(obj)
    try:
        GENERATORS[kind](obj, "plain_bpf")
    except BpfBuildError as e:
        assert e.path == obj.path, e
        assert "\n" not in e.one_line()
    else:
        assert kind != "python", "the Python skeleton rendered corrupt BTF"
