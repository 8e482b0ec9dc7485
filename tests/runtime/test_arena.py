"""BPF arenas (BPF_MAP_TYPE_ARENA, Linux 6.9+) through a Python skeleton: our own program
(progs/arena.bpf.c) links nodes in memory it allocates in the arena and keeps __arena globals;
Python reads them through its mapping at the same addresses, writes values the programs read
back. Where the kernel cannot make arenas (6.1; a kernel whose policy refuses them) the load is
refused, naming BPF arenas and why, before anything is created."""

from __future__ import annotations

import ctypes
import errno
import mmap
import textwrap
from pathlib import Path

import pytest

from bpf_build.errors import OpenError
from bpf_build.loader.gen import describe_loader, generate_loader
from bpf_build.loader.open import open_object
from bpf_build.model.elf import Object
from bpf_build.runtime.arena import ARENA_GLOBALS_OFFSET, arena_create_errno
from bpf_build.runtime.errors import BpfRuntimeError, NotSupportedError
from tests import kernel_facts

SOURCE = (Path(__file__).resolve().parent / "progs" / "arena.bpf.c").read_text()
FIXED_ADDRESS = 1 << 44  # as the kernel selftests place theirs
PAGE = mmap.PAGESIZE


def _skeleton(skeleton_module, address: int = 0):
    flags = ("-mcpu=v3",) + ((f"-DARENA_ADDR={address:#x}ULL",) if address else ())
    module, text, obj_path = skeleton_module(SOURCE, name="arena_test", cflags=flags)
    cls = next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, module._rt.Skeleton)
               and v is not module._rt.Skeleton)
    return module, cls, obj_path


def _refused(skel, mode: str) -> bool:
    """Where arenas cannot be made, the load is refused naming them and why, before anything is
    created or reserved; True then. Before
    6.9 the kernel has none; after, only a host whose policy forbids them (EPERM) may refuse:
    the kernels scripts/vmtest.py boots must run the test."""
    err = arena_create_errno()
    if kernel_facts.kernel_version() < (6, 9):
        assert err == errno.EINVAL
        why = r"Linux 6\.9\+"
    elif err in (errno.EPERM, errno.EACCES) and not kernel_facts.in_vm():
        why = errno.errorcode[err]
    else:
        return False
    with pytest.raises(NotSupportedError, match=r"map 'arena': BPF arena maps \(BPF_MAP_TYPE_ARENA\): .*" + why):
        skel.load(mode=mode)
    assert skel.arena_region is None and not skel._arena_reservations
    return True


def _walk(region, node_type, address: int) -> list:
    values = []
    while address:
        node = region.view(node_type, address)
        values.append((address, node))
        address = node.next
    return values


@pytest.mark.parametrize("mode,address", [("kernel", 0), ("user", 0), ("kernel", FIXED_ADDRESS)])
def test_programs_and_python_share_the_arena(skeleton_module, mode, address):
    module, cls, _ = _skeleton(skeleton_module, address)
    skel = cls.open()
    assert skel.arena.counter == 5 and skel.arena_region is None  # the object's value, editable before load
    skel.arena.from_user = 42
    with skel:
        if _refused(skel, mode):
            return
        skel.load(mode=mode)
        region = skel.arena_region
        assert region.size == 4 * PAGE and region.address % PAGE == 0
        assert region.address >> 32 == (region.address + region.size - 1) >> 32  # the kernel's rule
        if address:
            assert region.address == address
        assert ctypes.addressof(skel.arena) == region.address + ARENA_GLOBALS_OFFSET
        assert (skel.arena.counter, skel.arena.from_user, skel.arena.head) == (5, 42, 0)

        assert skel.progs.build.test_run().retval == 0
        assert skel.bss.seen_from_user == 42  # what Python wrote before load, read by the program
        assert skel.arena.counter == 6
        nodes = _walk(region, module.node, skel.arena.head)
        assert [n.value for _, n in nodes] == [30, 20, 10]
        page = nodes[-1][0]  # the page bpf_arena_alloc_pages gave, outside the globals' page
        assert all(region.contains(a, ctypes.sizeof(module.node)) for a, _ in nodes)
        assert page != region.address + ARENA_GLOBALS_OFFSET and page % PAGE == 0

        for _, n in nodes:
            n.value += 1  # straight into the arena
        skel.arena.from_user = 1000
        assert skel.progs.sum.test_run().retval == 0
        assert skel.bss.nodes_seen == 3
        assert skel.arena.list_sum == 31 + 21 + 11 + 1000
        assert bytes(region.memory[page - region.address + 8:page - region.address + 16]) == \
            (11).to_bytes(8, "little")
        with pytest.raises(ValueError, match="outside the arena"):
            region.view(module.node, region.address + region.size - 8)
    assert skel.arena_region is region and skel.arena is None
    with pytest.raises(BpfRuntimeError, match="unmapped"):
        region.memory


def test_an_arena_larger_than_the_kernel_allows_is_refused_before_the_run(skeleton_module):
    _, cls, _ = _skeleton(skeleton_module)
    skel = cls.open()
    with skel:
        if _refused(skel, "auto"):
            return
        pages = (1 << 32) // PAGE  # the kernel's limit is 4 GiB
        skel.maps.arena.max_entries = pages + 1
        with pytest.raises(BpfRuntimeError, match=rf"map 'arena': an arena holds 1 to {pages} pages, not {pages + 1}"):
            skel.load()
        assert not skel._arena_reservations


def test_loader_explain_shows_the_arena_and_its_globals(compile_c):
    obj = Object.read(compile_c(SOURCE, name="arena_explain", cflags=("-mcpu=v3",)))
    opened = open_object(obj)
    arena = opened.map("arena")
    assert arena is not None and arena.initial_value == (5).to_bytes(8, "little") + bytes(24)
    loader = generate_loader(opened)
    text = "\n".join(describe_loader(loader.insns, loader.blob))
    assert [op.text for op in loader.ops if op.kind == "create_map"] == \
        ['create map "arena" ARENA x4 pages flags 0x400 (user address chosen by the runner)',
         'create map "arena_ex.bss" ARRAY 4/16 x1 flags 0x400']
    assert 'create map "arena" ARENA x4 pages flags 0x400 (user address chosen by the runner)' in text, text
    # each ld_imm64 of an __arena global is a map-value reference into the arena map
    build = opened.program("build")
    relocs = [r for r in build.relocations if r.kind == "data" and r.map_index == opened.maps.index(arena)]
    assert sorted({r.offset for r in relocs}) == [0, 8, 16]


@pytest.mark.parametrize("source,reason", [
    ("""
     int __attribute__((address_space(1))) x = 1;
     SEC("syscall") int p(void *c) { return x; }
     """, r"__arena global variables need an ARENA map declared in SEC\(\"\.maps\"\)"),
    ("""
     struct { __uint(type, 33); __uint(map_flags, 1 << 10); __uint(max_entries, 1); } a1 SEC(".maps"),
         a2 SEC(".maps");
     SEC("syscall") int p(void *c) { return 0; }
     """, r"map 'a2': only one ARENA map is supported \(map 'a1' is also one\)"),
    ("""
     struct { __uint(type, 33); __uint(map_flags, 1 << 10); __uint(max_entries, 1); } a SEC(".maps");
     char __attribute__((address_space(1))) big[PAGE + 1] = {1};
     SEC("syscall") int p(void *c) { return big[0]; }
     """, r"ARENA map 'a' \(1 pages, \d+ bytes\) is too small for \d+ bytes of __arena global variables"),
])
def test_arena_objects_libbpf_would_refuse(compile_c, source, reason):
    text = "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n" + textwrap.dedent(source) + \
        'char LICENSE[] SEC("license") = "GPL";\n'
    obj = Object.read(compile_c(text, name="arena_bad", cflags=("-mcpu=v3", f"-DPAGE={PAGE}")))
    with pytest.raises(OpenError, match=reason):
        open_object(obj)


def test_the_container_refuses_arenas_saying_why(compile_c):
    """The BPFBLDR1 container has no runner that reserves and maps the arena (light C skeletons
    do: tests/loader/test_light_c_arena.py)."""
    from bpf_build.errors import NotSupportedError as BuildNotSupported

    obj = Object.read(compile_c(SOURCE, name="arena_light", cflags=("-mcpu=v3",)))
    loader = generate_loader(open_object(obj, "arena_light"))
    with pytest.raises(BuildNotSupported, match=r"arena maps \('arena'\) are not supported by the BPFBLDR1 container "
                                                r"\(libbpfbuild\) yet: .*Python skeleton .* C light skeleton"):
        loader.to_bytes()
