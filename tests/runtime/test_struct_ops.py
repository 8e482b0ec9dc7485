"""struct_ops maps through a loader program: our own TCP congestion control (progs/struct_ops_reno.bpf.c)
loaded from a generated Python skeleton on this kernel, selected with TCP_CONGESTION on a loopback
connection in a fresh network namespace, and shown to be called (its counters grow). Load writes no
value (libbpf's order): attach() does, which registers a legacy map until detach(), then links a
.struct_ops.link one. Kernels: .struct_ops.link needs 6.4 (6.1 and 5.10: the clear error); reno's
kfunc calls need 5.13 (5.10: the verifier's refusal, naming the program)."""

from __future__ import annotations

import errno
import json
import shutil
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bpf_build.errors import NotSupportedError as BuildNotSupported
from bpf_build.loader.gen import describe_loader, generate_loader
from bpf_build.loader.open import open_object
from bpf_build.model.elf import Object
from bpf_build.runtime import btf_types
from bpf_build.runtime.errors import AttachError, LoaderError, NotSupportedError
from bpf_build.runtime.loader_contract import MAP_CREATE_ATTR, PROG_LOAD_ATTR
from bpf_build.runtime.struct_ops import resolve_struct_ops
from tests.kernel_facts import kernel_version

SOURCE = (Path(__file__).resolve().parent / "progs" / "struct_ops_reno.bpf.c").read_text()
AVAILABLE = "/proc/sys/net/ipv4/tcp_available_congestion_control"

# In a fresh network namespace: lo up, one connection using congestion control argv[1], 4 MiB
# sent through it; prints the congestion control the socket ended up with.
TRAFFIC = textwrap.dedent("""
    import ctypes, fcntl, socket, struct, sys, threading
    if ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0:  # CLONE_NEWNET
        sys.exit("unshare(CLONE_NEWNET) failed")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # lo up: SIOCSIFFLAGS, IFF_UP
        fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", 1))
    server = socket.create_server(("127.0.0.1", 0))
    received = []
    def drain():
        conn, _ = server.accept()
        while True:
            chunk = conn.recv(1 << 16)
            if not chunk:
                break
            received.append(len(chunk))
        conn.close()
    reader = threading.Thread(target=drain)
    reader.start()
    client = socket.socket()
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, sys.argv[1].encode())
    client.connect(server.getsockname())
    for _ in range(64):
        client.sendall(bytes(1 << 16))
    used = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, 16).rstrip(b"\\0").decode()
    client.close()
    reader.join(30)
    print(used, sum(received))
""")


def _available() -> list:
    with open(AVAILABLE) as f:
        return f.read().split()


def _kernel_has_tcp_struct_ops() -> bool:
    try:
        btf = btf_types.kernel_types()
    except Exception:
        return False
    return bool(btf.ids_with_essential_name("bpf_struct_ops_tcp_congestion_ops"))


def _kernel_calls_kfuncs() -> bool:
    """Linux 5.13+: BPF programs may call kernel functions (reno's arithmetic here); 5.10's
    verifier refuses the call instruction itself."""
    return kernel_version() >= (5, 13)


def _load_or_kfunc_refused(skel) -> bool:
    """Load; on a kernel without kfunc calls assert its refusal, naming the program, instead."""
    if _kernel_calls_kfuncs():
        skel.load()
        return True
    with pytest.raises(LoaderError, match=r"program 'ca_ssthresh' \(SEC\(\"struct_ops/ca_ssthresh\"\)\).*: "
                                          r"Invalid argument \(EINVAL\); verifier: BPF_CALL uses reserved fields"):
        skel.load()
    return False


def _kernel_has_struct_ops_links() -> bool:
    """Linux 6.4+ (BPF_F_LINK struct_ops maps): the kernel's BTF has its link struct."""
    try:
        return bool(btf_types.kernel_types().ids_with_essential_name("bpf_struct_ops_link"))
    except Exception:
        return False


needs_tcp_struct_ops = pytest.mark.skipif(not _kernel_has_tcp_struct_ops(),
                                          reason="this kernel has no BPF TCP congestion control (struct_ops)")


def _flags(section: str, name: str) -> tuple:
    return ("-mcpu=v3", f'-DSECTION="{section}"', f'-DNAME="{name}"')


def _skeleton(skeleton_module, section: str, name: str):
    module, text, obj_path = skeleton_module(SOURCE, name=name, cflags=_flags(section, name))
    cls = next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, module._rt.Skeleton)
               and v is not module._rt.Skeleton)
    return cls, text, obj_path


def _wait_gone(name: str, seconds: float = 10.0) -> bool:
    """The kernel unregisters a congestion control after an RCU grace period: poll."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if name not in _available():
            return True
        time.sleep(0.05)
    return False


def _check_with_bpftool(map_name: str, ca_name: str) -> None:
    """bpftool (an oracle, tests only) reads the registered value back from the kernel."""
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        return
    shown = json.loads(subprocess.run([bpftool, "-j", "struct_ops", "show"], capture_output=True, text=True,
                                      check=True).stdout)
    assert {"name": map_name, "kernel_struct_ops": "tcp_congestion_ops"} in \
        [{k: x[k] for k in ("name", "kernel_struct_ops")} for x in shown]
    dump = json.loads(subprocess.run([bpftool, "-j", "struct_ops", "dump", "name", map_name], capture_output=True,
                                     text=True, check=True).stdout)
    value = next(part["bpf_struct_ops_tcp_congestion_ops"] for part in dump
                 if "bpf_struct_ops_tcp_congestion_ops" in part)
    assert value["common"]["state"] == "BPF_STRUCT_OPS_STATE_READY"
    data = value["data"]
    for member in ("ssthresh", "cong_avoid", "undo_cwnd", "init"):
        assert f"ca_{member}/prog_id:" in data[member]
    assert data["cong_control"].endswith(" 0")  # members the object lacks stay NULL
    assert data["name"] == ca_name  # a data member, copied to the kernel's offset


def _traffic(name: str) -> tuple:
    run = subprocess.run([sys.executable, "-c", TRAFFIC, name], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    used, sent = run.stdout.split()
    return used, int(sent)


@needs_tcp_struct_ops
@pytest.mark.parametrize("mode", ["auto", "user"])  # auto: the loader in the kernel where it can run
def test_link_struct_ops_registers_while_attached_and_is_called(skeleton_module, mode):
    name = f"bbt_link_{mode[0]}"
    cls, _, _ = _skeleton(skeleton_module, ".struct_ops.link", name)
    if not _kernel_has_struct_ops_links():  # 6.1: refused before anything is created, saying why
        with pytest.raises(NotSupportedError, match=r"it has no BPF links for struct_ops \(Linux 6\.4\+\)"):
            cls.open_and_load(mode=mode)
        assert name not in _available()
        return
    with cls.open_and_load(mode=mode) as skel:
        assert name not in _available()  # a .struct_ops.link map registers with its link
        assert not hasattr(skel.progs, "ca_unused")  # no member points at it: not loaded
        skel.attach()
        assert name in _available()
        _check_with_bpftool("ca_ops", name)
        used, sent = _traffic(name)
        assert (used, sent) == (name, 64 << 16)
        assert skel.bss.init_calls >= 1  # the client socket (the server side keeps the default)
        assert skel.bss.cong_avoid_calls > 0
        skel.detach()
        assert _wait_gone(name), f"{name} still registered after detach()"
    assert name not in _available()


@needs_tcp_struct_ops
def test_legacy_struct_ops_registers_on_attach_until_detach(skeleton_module):
    cls, _, _ = _skeleton(skeleton_module, ".struct_ops", "bbt_legacy")
    skel = cls.open()
    assert skel.struct_ops.ca_ops.name == b"bbt_legacy"
    name = "bbt_renamed"  # a data member set before load, as with bpftool's skeletons
    skel.struct_ops.ca_ops.name = name.encode()
    if not _load_or_kfunc_refused(skel):
        skel.close()
        return
    try:
        assert name not in _available()  # load writes no value (libbpf's order): attach does
        skel.attach()  # the value's write registers a legacy map; no link
        assert name in _available() and not list(skel.links)
        used, _ = _traffic(name)
        assert used == name and skel.bss.cong_avoid_calls > 0
        skel.detach()
        assert _wait_gone(name), f"{name} still registered after detach()"
    finally:
        skel.close()
    assert _wait_gone(name), f"{name} still registered after close()"


@needs_tcp_struct_ops
def test_a_failed_attach_leaves_no_legacy_struct_ops_registered(skeleton_module):
    """The second map's write fails (its name is reno's, registered already) after the first
    registered itself: attach() unregisters the first again, and raises one error."""
    name = "bbt_first"
    duplicate = SOURCE + textwrap.dedent("""
        SEC(".struct_ops")
        struct tcp_congestion_ops ca_dup = {
        \t.ssthresh = (void *)ca_ssthresh,
        \t.cong_avoid = (void *)ca_cong_avoid,
        \t.undo_cwnd = (void *)ca_undo_cwnd,
        \t.name = "reno",
        };
    """)
    module, _, _ = skeleton_module(duplicate, name=name, cflags=_flags(".struct_ops", name))
    cls = next(v for v in vars(module).values() if isinstance(v, type) and issubclass(v, module._rt.Skeleton)
               and v is not module._rt.Skeleton)
    with cls.open() as skel:
        if not _load_or_kfunc_refused(skel):
            return
        with pytest.raises(AttachError, match=r"'ca_dup' \(SEC\(\"\.struct_ops\"\)\): attach struct_ops map "
                                              r"'ca_dup': writing its value: File exists") as info:
            skel.attach()
        assert info.value.failures["ca_dup"].errno == errno.EEXIST
        assert _wait_gone(name), f"{name} stayed registered after the failed attach"


def test_explain_shows_the_struct_ops_operations(compile_c):
    obj = Object.read(compile_c(SOURCE, "st_explain", cflags=_flags(".struct_ops.link", "bbt_explain")))
    loader = generate_loader(open_object(obj, "st_explain"))
    lines = describe_loader(loader.insns, loader.blob)
    assert 'create map "ca_ops" STRUCT_OPS 4/(kernel value) x1 flags 0x2000 (value: the runner\'s, with the ' \
        'programs\' fds, written at attach, then a link registers it)' in lines
    assert not [x for x in lines if x.startswith('update map "ca_ops"')]  # load writes no value
    # every program the loader may load (ca_unused is there, skipped at run time: autoload off)
    assert [x.split('"')[1] for x in lines if x.startswith("load prog")] == [
        "ca_ssthresh", "ca_cong_avoid", "ca_undo_cwnd", "ca_init", "ca_unused"]
    assert not [p for p in loader.progs if p.name == "ca_unused"][0].autoload


def test_a_kernel_without_the_struct_ops_type_is_named_in_the_error(compile_c):
    """The object's own BTF stands in for a kernel BTF that has no bpf_struct_ops_* types."""
    path = compile_c(SOURCE, "st_nokernel", cflags=_flags(".struct_ops.link", "bbt_none"))
    obj = Object.read(path)
    loader = generate_loader(open_object(obj, "st_nokernel"))
    not_a_kernel = btf_types.BtfTypes(obj.btf.encode(), "object BTF")
    specs = [_spec(s) for s in loader.struct_ops]
    with pytest.raises(NotSupportedError, match=r"struct_ops cannot load on this kernel .*: it has no struct_ops "
                                                r"support"):
        resolve_struct_ops(loader.blob, specs, loader.map_attr_offsets, loader.prog_attr_offsets,
                           [m.name for m in loader.maps], btf=not_a_kernel)


@needs_tcp_struct_ops
@pytest.mark.parametrize("change, message", [
    ("char name[16];", "member 'name' is 8 bytes in the object, 16 in this kernel"),
    ("unsigned int flags;", "this kernel .* has no member 'no_such_member'"),
])
def test_members_are_matched_to_the_kernels_by_name_and_size(compile_c, change, message):
    replacement = {"char name[16];": "char name[8];",
                   "unsigned int flags;": "unsigned int flags;\n\tint no_such_member;"}[change]
    source = SOURCE.replace(change, replacement).replace(".name = NAME,", ".name = NAME, .no_such_member = 1,"
                                                         if "no_such" in replacement else ".name = NAME,")
    # the legacy section: its members are matched on every kernel with struct_ops (links: 6.4+)
    obj = Object.read(compile_c(source, "st_members", cflags=_flags(".struct_ops", "bbt_m")))
    loader = generate_loader(open_object(obj, "st_members"))
    with pytest.raises(NotSupportedError, match=f"struct_ops map 'ca_ops' \\(struct tcp_congestion_ops\\): {message}"):
        resolve_struct_ops(loader.blob, [_spec(s) for s in loader.struct_ops], loader.map_attr_offsets,
                           loader.prog_attr_offsets, [m.name for m in loader.maps])


# A stand-in kernel BTF: the kernel's struct in its own member order, its struct_ops value type,
# and (with -DLINKS) struct_ops links, as Linux 6.4+ has.
FAKE_KERNEL = """
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct sock;
    struct bpf_struct_ops_value { int refcnt; int state; char data[]; };
    struct tcp_congestion_ops {
        struct { void *next, *prev; } list;
        __u32 key;
        __u32 flags;
        void (*init)(struct sock *sk);
        void (*release)(struct sock *sk);
        __u32 (*ssthresh)(struct sock *sk);
        void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
        __u32 (*undo_cwnd)(struct sock *sk);
        char name[16];
    };
    struct bpf_struct_ops_tcp_congestion_ops { int refcnt; int state; struct tcp_congestion_ops data; };
    struct bpf_struct_ops_tcp_congestion_ops value;
    #ifdef LINKS
    struct bpf_struct_ops_link { int map; } link;
    #endif
"""


@pytest.mark.parametrize("links", [False, True])
def test_the_value_is_laid_out_as_the_kernel_btf_says(compile_c, links):
    """Against a stand-in kernel BTF: members found by name wherever the kernel has them."""
    kernel_obj = Object.read(compile_c(FAKE_KERNEL, "fake_kernel", cflags=("-DLINKS",) if links else ()))
    kernel = btf_types.BtfTypes(kernel_obj.btf.encode(), "stand-in kernel BTF")
    value_id = kernel_obj.btf.find("bpf_struct_ops_tcp_congestion_ops")
    struct_id = kernel_obj.btf.find("tcp_congestion_ops")
    obj = Object.read(compile_c(SOURCE, "st_layout", cflags=_flags(".struct_ops", "bbt_fake")))
    loader = generate_loader(open_object(obj, "st_layout"))
    ops = loader.struct_ops[0]
    blob, (laid_out,) = resolve_struct_ops(loader.blob, [_spec(ops)], loader.map_attr_offsets,
                                           loader.prog_attr_offsets, [m.name for m in loader.maps], btf=kernel)
    attr = loader.map_attr_offsets[ops.map_index]
    assert struct.unpack_from("=I", blob, attr + MAP_CREATE_ATTR.offset("value_size"))[0] == 8 + 80
    assert struct.unpack_from("=I", blob, attr + MAP_CREATE_ATTR.offset("btf_vmlinux_value_type_id"))[0] == value_id
    # program members in the object's order: ssthresh, cong_avoid, undo_cwnd, init; their kernel
    # offsets in the value (data at 8) and member indices
    progs = {p.name: off for p, off in zip(loader.progs, loader.prog_attr_offsets)}
    index_of = {p.name: j for j, p in enumerate(loader.progs)}
    assert laid_out.programs == tuple((index_of[p], off) for p, off in (
        ("ca_ssthresh", 8 + 40), ("ca_cong_avoid", 8 + 48), ("ca_undo_cwnd", 8 + 56), ("ca_init", 8 + 24)))
    for prog, index in (("ca_ssthresh", 5), ("ca_cong_avoid", 6), ("ca_undo_cwnd", 7), ("ca_init", 3)):
        assert struct.unpack_from("=I", blob, progs[prog] + PROG_LOAD_ATTR.offset("attach_btf_id"))[0] == struct_id
        assert struct.unpack_from("=I", blob, progs[prog] + PROG_LOAD_ATTR.offset("expected_attach_type"))[0] == index
    assert len(laid_out.value) == 8 + 80 and laid_out.value[8 + 64:8 + 80] == b"bbt_fake".ljust(16, b"\0")
    link_obj = Object.read(compile_c(SOURCE, "st_layout_link", cflags=_flags(".struct_ops.link", "bbt_fake")))
    link_loader = generate_loader(open_object(link_obj, "st_layout_link"))
    resolve = lambda: resolve_struct_ops(  # noqa: E731
        link_loader.blob, [_spec(s) for s in link_loader.struct_ops], link_loader.map_attr_offsets,
        link_loader.prog_attr_offsets, [m.name for m in link_loader.maps], btf=kernel)
    if links:
        resolve()
    else:
        with pytest.raises(NotSupportedError, match=r"\.struct_ops\.link.* no BPF links for struct_ops \(Linux 6\.4\+\)"):
            resolve()


def test_the_container_refuses_struct_ops_saying_why(compile_c):
    """The BPFBLDR1 container carries no struct_ops descriptions (light C skeletons do:
    tests/loader/test_light_c_struct_ops.py)."""
    obj = Object.read(compile_c(SOURCE, "st_light", cflags=_flags(".struct_ops.link", "bbt_light")))
    loader = generate_loader(open_object(obj, "st_light"))
    with pytest.raises(BuildNotSupported, match="struct_ops .*BPFBLDR1 container .*--light"):
        loader.to_bytes()


def _spec(s):
    from bpf_build.runtime.struct_ops import StructOpsMemberSpec, StructOpsSpec
    return StructOpsSpec(s.map_index, s.type_name, s.link, s.data, [StructOpsMemberSpec(*m) for m in s.members])

