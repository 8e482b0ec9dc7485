"""freplace programs (BPF_PROG_TYPE_EXT) from Python skeletons: progs/freplace.bpf.c takes the place
of the global function handler() of progs/freplace_target.bpf.c's XDP program. BPF_PROG_TEST_RUN
shows the target's verdict change while the link is attached and come back once it closes.

freplace runs through BPF trampolines: kernels that refuse them (this host answers EPERM to fentry
and freplace loads alike) must say so by name; the VMs' 6.1 and 6.12 run the replacement, 5.10
through the user-space path (its "kernel" mode is the clear error: loader programs need 5.14)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from bpf_build.errors import NotSupportedError as BuildNotSupported
from bpf_build.loader.gen import describe_loader, generate_loader
from bpf_build.loader.open import open_object
from bpf_build.model.elf import Object
from bpf_build.runtime import Program, features
from bpf_build.runtime.errors import BpfRuntimeError, LoaderError, NotSupportedError, VerifierError
from bpf_build.runtime.uapi import AttachType, ProgType
from tests.runtime import rt_support

PROGS = Path(__file__).resolve().parent / "progs"
TARGET_SOURCE = (PROGS / "freplace_target.bpf.c").read_text()
EXT_SOURCE = (PROGS / "freplace.bpf.c").read_text()
PACKET = bytes(64)
XDP_DROP, XDP_PASS = 1, 2


def _skeleton_class(skeleton_module, source: str, name: str):
    module, _, _ = skeleton_module(source, name=name)
    return next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, module._rt.Skeleton)
                and v is not module._rt.Skeleton)


@pytest.fixture
def target(skeleton_module):
    with _skeleton_class(skeleton_module, TARGET_SOURCE, "freplace_target").open_and_load() as skel:
        yield skel


@pytest.fixture
def ext_class(skeleton_module):
    return _skeleton_class(skeleton_module, EXT_SOURCE, "freplace_ext")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _loaded_or_refused(skel, mode: str) -> bool:
    """Load ``skel``; False when this kernel refuses freplace programs, after checking it says so."""
    before = _open_fds()
    try:
        skel.load(mode=mode)
    except LoaderError as e:
        if e.errno != errno.EPERM:
            raise
        message = str(e)
        assert "program 'new_handler' (SEC(\"freplace/handler\"))" in message
        assert "does not permit freplace programs" in message and "trampolines" in message
        assert _open_fds() == before  # the loader closed what it had made
        # the refusal is this kernel's rule for trampolines: fentry gets it too
        with pytest.raises(VerifierError) as fentry:
            Program.load(ProgType.TRACING, rt_support.returns(0), expected_attach_type=AttachType.TRACE_FENTRY,
                         attach_target="do_unlinkat", name="fentry_probe").close()
        assert fentry.value.errno == errno.EPERM
        return False
    return True


@pytest.mark.parametrize("mode", ["kernel", "user"])
def test_freplace_replaces_the_function_while_its_link_lives(target, ext_class, mode):
    entry = target.progs.target_xdp
    assert entry.test_run(PACKET).retval == XDP_PASS
    with ext_class.open() as ext:
        ext.progs.new_handler.attach_target = entry  # the function: SEC("freplace/handler")
        if mode == "kernel" and not features.has_loader_programs():
            before = _open_fds()
            with pytest.raises(LoaderError, match=r"cannot run loader programs: they need BPF_PROG_TYPE_SYSCALL "
                                                  r"programs calling bpf_sys_bpf \(Linux 5\.14\+\)"):
                ext.load(mode=mode)
            assert _open_fds() == before
            return
        if not _loaded_or_refused(ext, mode):
            return
        ext.attach()
        assert entry.test_run(PACKET).retval == XDP_DROP
        assert (ext.bss.replaced_calls, target.bss.handler_calls) == (1, 1)
        ext.links.new_handler.close()
        assert entry.test_run(PACKET).retval == XDP_PASS
        # attached again, the target named this time: a closed link does not end the program
        with ext.progs.new_handler.attach_freplace(entry.fileno(), "handler"):
            assert entry.test_run(PACKET).retval == XDP_DROP
        assert entry.test_run(PACKET).retval == XDP_PASS
        assert (ext.bss.replaced_calls, target.bss.handler_calls) == (2, 3)


def test_an_freplace_program_without_a_target_is_refused_by_name(ext_class):
    before = _open_fds()
    with ext_class.open() as ext:
        with pytest.raises(BpfRuntimeError, match=r"program 'new_handler' \(SEC\(\"freplace/handler\"\)\) is an "
                                                  r"freplace program: set its attach_target"):
            ext.load()
    assert _open_fds() == before


def test_a_function_the_target_lacks_is_named(target, ext_class):
    with ext_class.open() as ext:
        ext.progs.new_handler.attach_target = (target.progs.target_xdp, "no_such_function")
        with pytest.raises(BpfRuntimeError, match="has no function 'no_such_function' in its BTF"):
            ext.load()


def test_attach_target_is_a_setting_of_freplace_programs_only(skeleton_module, ext_class):
    opened = _skeleton_class(skeleton_module, TARGET_SOURCE, "freplace_target").open()
    with pytest.raises(NotSupportedError, match="setting attach_target is not supported with loader programs but for freplace programs"):
        opened.progs.target_xdp.attach_target = 3
    opened.close()
    with ext_class.open() as ext:
        with pytest.raises(TypeError, match="attach_target needs the target program"):
            ext.progs.new_handler.attach_target = "handler"
        ext.progs.new_handler.attach_target = (5, "handler")
        assert ext.progs.new_handler.attach_target == (5, "handler")


def test_the_loader_leaves_the_target_to_the_runner(compile_c):
    """The loader has no step finding the target (only the runner can): explain says who fills it;
    the BPFBLDR1 container, with no way to give a target, refuses by name (light C skeletons take
    one: tests/loader/test_light_c_freplace.py)."""
    obj = Object.read(compile_c(EXT_SOURCE, name="freplace_ext", cflags=("-mcpu=v3",)))
    loader = generate_loader(open_object(obj, "freplace_ext"))
    lines = describe_loader(loader.insns, loader.blob)
    assert not any(line.startswith("find kernel BTF id") for line in lines)
    load = next(line for line in lines if line.startswith('load prog "new_handler"'))
    assert "target program fd and function BTF id filled in by the runner" in load
    with pytest.raises(BuildNotSupported, match=r"freplace programs \('new_handler'\) are not supported by the "
                                            "BPFBLDR1 container"):
        loader.to_bytes()
