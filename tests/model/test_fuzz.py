"""Random corruption of real objects must end in a clean BpfBuildError, never another exception."""

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from bpf_build.model.btf import Btf
from bpf_build.model.btf_ext import BtfExt
from bpf_build.model.elf import Object
from bpf_build.errors import BpfBuildError

from tests.model.conftest import MODEL_CORPUS

FUZZ = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


@pytest.fixture(scope="module")
def samples(compile_c):
    out = {}
    for target in ("bpfel", "bpfeb"):
        path = compile_c(MODEL_CORPUS["core_and_externs"], name="core_and_externs", target=target)
        data = open(path, "rb").read()
        obj = Object.read(data)
        out[target] = (data, obj.section(".BTF").data, obj.section(".BTF.ext").data, obj.btf.strings)
    return out


def _mutate(data: bytes, edits, cut):
    buf = bytearray(data)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    if cut:
        del buf[cut % len(buf):]
    return bytes(buf)


edits = st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8)
cuts = st.one_of(st.none(), st.integers(min_value=0))
targets = st.sampled_from(["bpfel", "bpfeb"])


@FUZZ
@given(target=targets, edits=edits, cut=cuts)
def test_mutated_elf(samples, target, edits, cut):
    data = _mutate(samples[target][0], edits, cut)
    try:
        obj = Object.read(data, path="fuzz.o")
    except BpfBuildError as e:
        assert e.path == "fuzz.o" and e.reason
        return
    # Relocations of DWARF/.BTF are decoded when first needed: a corrupt one may surface when
    # writing, but only as the same clean error naming the file.
    try:
        obj.to_bytes()
    except BpfBuildError as e:
        assert e.path == "fuzz.o" and e.reason
        assert any(s.name.startswith(".rel") for s in obj.sections)


@FUZZ
@given(target=targets, edits=edits, cut=cuts)
def test_mutated_btf(samples, target, edits, cut):
    data = _mutate(samples[target][1], edits, cut)
    try:
        btf = Btf.parse(data, "fuzz.btf")
    except BpfBuildError as e:
        assert e.path == "fuzz.btf" and e.reason
        return
    assert Btf.parse(btf.encode()).encode() == btf.encode()


@FUZZ
@given(target=targets, edits=edits, cut=cuts)
def test_mutated_btf_ext(samples, target, edits, cut):
    data = _mutate(samples[target][2], edits, cut)
    strings = samples[target][3]
    try:
        ext = BtfExt.parse(data, strings, "fuzz.o")
    except BpfBuildError as e:
        assert e.path == "fuzz.o" and e.reason
        return
    ext.encode(strings)


def _words_outcome(data: bytes, names_pending: bool) -> str:
    from bpf_build.model.btf import read_words, validate
    try:
        validate(read_words(data, "fuzz.btf", names_pending=names_pending))
    except BpfBuildError as e:
        assert e.path == "fuzz.btf" and e.reason
        return e.reason
    return "ok"


@FUZZ
@given(target=targets, edits=edits, cut=cuts)
def test_mutated_btf_names_left_to_validate(samples, target, edits, cut):
    """Name offsets left to validate (read_words' names_pending) end in the same outcome as
    framing checking them first."""
    data = _mutate(samples[target][1], edits, cut)
    assert _words_outcome(data, True) == _words_outcome(data, False)
