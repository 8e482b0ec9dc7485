"""struct_ops programs run without registering: the kernel's bpf_dummy_ops (progs/struct_ops_dummy.bpf.c)
loaded from a Python skeleton, its programs run with BPF_PROG_TEST_RUN (the context is the
program's u64 argument array; a state pointer there is copied in and back out by the kernel), and
attach refused by the kernel as one clear error. libbpf loads such an object because its load never
writes the map's value; ours neither: attach does. Kernels: bpf_dummy_ops is Linux 5.16+ (5.10: the
clear error naming the type), SEC(".struct_ops.link") 6.4+ (6.1: the clear error naming links)."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from pathlib import Path

import pytest

from bpf_build.runtime import btf_types
from bpf_build.runtime.errors import AttachError, NotSupportedError

from tests.runtime.test_struct_ops import _kernel_has_struct_ops_links
from tests.skel_python.conftest import skeleton_module  # noqa: F401  (fixture)

SOURCE = (Path(__file__).resolve().parent / "progs" / "struct_ops_dummy.bpf.c").read_text()
pytestmark = pytest.mark.kernel


def kernel_has_dummy_ops() -> bool:
    """Linux 5.16+ with CONFIG_BPF_JIT: its BTF has the value type of bpf_dummy_ops."""
    return bool(btf_types.kernel_types().ids_with_essential_name("bpf_struct_ops_bpf_dummy_ops"))


def dummy_skeleton(skeleton_module, section: str, *cflags: str):  # noqa: F811
    module, _, _ = skeleton_module(SOURCE, name=f"dummy{len(section)}{len(cflags)}",
                                   cflags=("-mcpu=v3", f'-DSECTION="{section}"', *cflags))
    return next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, module._rt.Skeleton)
                and v is not module._rt.Skeleton)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def run_test_1(prog, val):
    """test_1(state): the state's value times three, the state left at value + 1000."""
    state = ctypes.c_int(val or 0)
    ret = prog.test_run(ctx=struct.pack("=Q", ctypes.addressof(state)) if val is not None else bytes(8))
    return ctypes.c_int32(ret.retval).value, state.value


@pytest.mark.parametrize("section", [".struct_ops.link", ".struct_ops"])
@pytest.mark.parametrize("mode", ["auto", "user"])  # auto: the loader in the kernel where it can run (5.14+)
def test_dummy_ops_programs_run_and_attach_is_refused(skeleton_module, section, mode):  # noqa: F811
    cls = dummy_skeleton(skeleton_module, section)
    before = open_fds()
    if not kernel_has_dummy_ops():
        with pytest.raises(NotSupportedError, match=r"struct_ops map 'dummy_ops': struct_ops cannot load on this "
                                                    r"kernel \(.*\): it registers no struct_ops type "
                                                    r"'struct bpf_dummy_ops'"):
            cls.open_and_load(mode=mode)
        assert open_fds() == before
        return
    if section == ".struct_ops.link" and not _kernel_has_struct_ops_links():
        with pytest.raises(NotSupportedError, match=r"it has no BPF links for struct_ops \(Linux 6\.4\+\)"):
            cls.open_and_load(mode=mode)
        assert open_fds() == before
        return
    with cls.open_and_load(mode=mode) as skel:
        assert run_test_1(skel.progs.dummy_test_1, 7) == (21, 1007)
        assert run_test_1(skel.progs.dummy_test_1, None)[0] == -1  # a NULL state
        state = ctypes.c_int(5)
        args = struct.pack("=Qq3Q", ctypes.addressof(state), -5, 65535, 3, 1 << 40)
        assert skel.progs.dummy_test_2.test_run(ctx=args).retval == 4
        assert (skel.bss.test_2_sum, skel.bss.test_2_calls) == ((1 << 40) + 65535 + 3 - 5, 1)
        # the argument array must have the member's arity: 5 u64 for test_2
        with pytest.raises(OSError) as wrong:
            skel.progs.dummy_test_2.test_run(ctx=args[:8])
        assert wrong.value.errno == errno.EINVAL
        during = open_fds()
        with pytest.raises(AttachError) as refused:  # dummy ops never register
            skel.attach()
        text = str(refused.value)
        assert "\n" not in text and f"'dummy_ops' (SEC(\"{section}\")): attach struct_ops map 'dummy_ops': " \
            "writing its value: Operation not supported" in text, text
        assert not list(skel.links) and open_fds() == during
        assert run_test_1(skel.progs.dummy_test_1, 1) == (3, 1001)  # still runs
    assert open_fds() == before


@pytest.mark.parametrize("section", [".struct_ops.link", ".struct_ops"])
@pytest.mark.parametrize("mode", ["auto", "user"])
def test_map_with_autocreate_off_is_absent_and_so_are_its_programs(skeleton_module, section, mode):  # noqa: F811
    """libbpf's rule: a struct_ops map not created is not looked up in the kernel's BTF (so this
    loads on every kernel, whatever its struct_ops support), and a program only such maps use is
    not loaded, even with autoload set."""
    cls = dummy_skeleton(skeleton_module, section)
    before = open_fds()
    skel = cls.open()
    try:
        skel.maps.dummy_ops.autocreate = False
        skel.progs.dummy_test_1.autoload = True  # overruled: no created map uses it
        skel.load(mode=mode)
        assert not hasattr(skel.maps, "dummy_ops")
        assert not hasattr(skel.progs, "dummy_test_1") and not hasattr(skel.progs, "dummy_test_2")
        assert (skel.bss.test_2_sum, skel.bss.test_2_calls) == (0, 0)  # the rest of the object loaded
        skel.attach()
        assert not list(skel.links)
    finally:
        skel.close()
    assert open_fds() == before


@pytest.mark.parametrize("section", ["?.struct_ops.link", "?.struct_ops"])
def test_optional_map_is_created_only_when_asked(skeleton_module, section):  # noqa: F811
    """SEC("?.struct_ops"): libbpf starts the map with autocreate off, so by default it and its
    programs are left out on every kernel; asked for, it loads as SEC(".struct_ops") does."""
    cls = dummy_skeleton(skeleton_module, section)
    before = open_fds()
    with cls.open() as skel:
        assert skel.maps.dummy_ops.autocreate is False
        skel.load()
        assert not hasattr(skel.maps, "dummy_ops") and not hasattr(skel.progs, "dummy_test_1")
    assert open_fds() == before
    skel = cls.open()
    try:
        skel.maps.dummy_ops.autocreate = True
        if not kernel_has_dummy_ops():
            with pytest.raises(NotSupportedError, match="it registers no struct_ops type 'struct bpf_dummy_ops'"):
                skel.load()
        elif section == "?.struct_ops.link" and not _kernel_has_struct_ops_links():
            with pytest.raises(NotSupportedError, match=r"it has no BPF links for struct_ops \(Linux 6\.4\+\)"):
                skel.load()
        else:
            skel.load()
            assert run_test_1(skel.progs.dummy_test_1, 7) == (21, 1007)
            with pytest.raises(AttachError, match="writing its value: Operation not supported"):
                skel.attach()
    finally:
        skel.close()
    assert open_fds() == before


def test_a_program_another_created_map_uses_still_loads(skeleton_module):  # noqa: F811
    """libbpf's rule: a struct_ops program loads if any created map uses it."""
    cls = dummy_skeleton(skeleton_module, ".struct_ops", "-DSECOND_MAP")
    before = open_fds()
    skel = cls.open()
    try:
        skel.maps.dummy_ops.autocreate = False
        if not kernel_has_dummy_ops():
            with pytest.raises(NotSupportedError, match="struct_ops map 'dummy_ops_2': .* it registers no struct_ops "
                                                        "type 'struct bpf_dummy_ops'"):
                skel.load()
        else:
            skel.load()
            assert not hasattr(skel.maps, "dummy_ops") and hasattr(skel.maps, "dummy_ops_2")
            assert not hasattr(skel.progs, "dummy_test_2")  # only dummy_ops used it
            assert run_test_1(skel.progs.dummy_test_1, 2) == (6, 1002)
    finally:
        skel.close()
    assert open_fds() == before


def test_optional_section_datasec_loads_on_kernels_before_6_7(compile_c):
    """Kernels before 6.7 refuse a '?' in a DATASEC name (5.10 and 6.1 refused the whole BTF): the
    loader's BTF names the optional section '_.struct_ops', as libbpf's sanitizing does there."""
    from bpf_build.loader.gen import generate_loader
    from bpf_build.loader.open import open_object
    from bpf_build.model.elf import Object

    optional = generate_loader(open_object(Object.read(compile_c(
        SOURCE, "dummy_optional", cflags=("-mcpu=v3", '-DSECTION="?.struct_ops.link"')))))
    assert b"\0?.struct_ops.link\0" not in optional.blob and b"\0_.struct_ops.link\0" in optional.blob
    plain = generate_loader(open_object(Object.read(compile_c(
        SOURCE, "dummy_plain", cflags=("-mcpu=v3", '-DSECTION=".struct_ops.link"')))))
    assert b"\0.struct_ops.link\0" in plain.blob
