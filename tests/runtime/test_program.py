"""Loading programs: success, verifier refusals with their log, test runs, pinning, fds."""

from __future__ import annotations

import ctypes
import errno
import os

import pytest

from bpf_build.model import insn as I
from bpf_build.runtime import BpfSyscallError, Fd, FdGroup, Map, MapType, Program, ProgType, VerifierError
from tests.runtime import rt_support


def test_load_and_test_run_returns_the_programs_verdict():
    with Program.load(ProgType.SOCKET_FILTER, rt_support.returns(42), name="answer") as prog:
        result = prog.test_run(b"\0" * 64)
        assert result.retval == 42
        assert prog.name == "answer" and prog.type == ProgType.SOCKET_FILTER
        assert len(prog.tag) == 16 and prog.id > 0


def test_xdp_test_run_returns_rewritten_packet():
    # Overwrite the first byte of the packet with 0xAB and pass it.
    a = I.Assembler()
    a.emit(I.ldx_mem(I.W, I.R2, I.R1, 0), I.ldx_mem(I.W, I.R3, I.R1, 4),  # data, data_end
           I.mov64_reg(I.R4, I.R2), I.alu64_imm(I.ADD, I.R4, 1))
    a.jmp_reg(I.JGT, I.R4, I.R3, "out")
    a.emit(I.st_mem(I.B, I.R2, 0, 0xAB))
    a.label("out")
    a.emit(I.mov64_imm(I.R0, 2), I.exit_insn())  # XDP_PASS
    with Program.load(ProgType.XDP, I.encode(a.finish()), name="poke") as prog:
        packet = bytes(range(60))
        result = prog.test_run(packet, repeat=3)
        assert result.retval == 2
        assert result.data == b"\xab" + packet[1:]


def test_verifier_refusal_carries_the_log():
    bad = I.encode([I.exit_insn()])  # r0 never written
    with pytest.raises(VerifierError) as e:
        Program.load(ProgType.SOCKET_FILTER, bad, name="bad")
    err = e.value
    assert err.errno == errno.EACCES
    assert "R0 !read_ok" in err.log
    assert "R0 !read_ok" in str(err) and "load program 'bad'" in str(err)
    assert isinstance(err, OSError) and isinstance(err, BpfSyscallError)


def test_map_reference_by_fd_and_counter():
    with Map.create(MapType.ARRAY, 4, 8, 1, key_type=ctypes.c_uint32, value_type=ctypes.c_uint64) as counts, \
            Program.load(ProgType.SOCKET_FILTER, rt_support.counter(counts.fileno(), ret=1)) as prog:
        prog.test_run(b"\0" * 32, repeat=10)
        assert counts[0] == 10


def test_syscall_program_writes_its_context_in_place():
    class Ctx(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]

    # ctx->b = ctx->a * 3 ; return 7
    code = I.encode([I.ldx_mem(I.DW, I.R2, I.R1, 0), I.alu64_imm(I.MUL, I.R2, 3),
                     I.stx_mem(I.DW, I.R1, I.R2, 8), I.mov64_imm(I.R0, 7), I.exit_insn()])
    with Program.load(ProgType.SYSCALL, code, flags=1 << 4, name="triple") as prog:
        ctx = Ctx(5, 0)
        result = prog.test_run(ctx=ctx)
        assert result.retval == 7 and ctx.b == 15


def test_pin_program_and_reopen(bpffs_dir):
    path = os.path.join(bpffs_dir, "prog")
    with Program.load(ProgType.SOCKET_FILTER, rt_support.returns(3)) as prog:
        prog.pin(path)
        prog_id = prog.id
    with Program.from_pinned(path) as again:
        assert again.id == prog_id and again.test_run(b"\0" * 16).retval == 3
    with Program.from_id(prog_id) as by_id:
        assert by_id.tag == again.tag


def test_bad_instruction_length_is_refused_before_the_kernel():
    with pytest.raises(ValueError):
        Program.load(ProgType.SOCKET_FILTER, b"\0" * 12)


def test_wrong_attr_is_a_clear_syscall_error():
    with pytest.raises(BpfSyscallError) as e:
        Program.load(9999, rt_support.returns(0), name="nonsense")
    assert e.value.errno == errno.EINVAL and "nonsense" in str(e.value)


def test_fd_closes_exactly_once():
    r, w = os.pipe()
    os.close(w)
    fd = Fd(r)
    with fd:
        assert fd.fileno() == r
    assert fd.closed
    fd.close()
    with pytest.raises(ValueError):
        fd.fileno()


def test_fd_group_closes_everything_on_failure():
    opened = []
    with pytest.raises(RuntimeError):
        with FdGroup() as group:
            for _ in range(3):
                opened.append(group.add(Map.create(MapType.ARRAY, 4, 4, 1)))
            raise RuntimeError("step four failed")
    assert all(m.closed for m in opened)
    with FdGroup() as group:
        kept = group.add(Map.create(MapType.ARRAY, 4, 4, 1))
        group.keep()
    assert not kept.closed
    kept.close()


def test_attr_layouts_match_uapi_offsets():
    # A shifted field would make the kernel read garbage; spot-check offsets from linux/bpf.h.
    from bpf_build.runtime import syscall
    assert ctypes.sizeof(syscall.MapCreateAttr) == 72
    assert syscall.ProgLoadAttr.fd_array.offset == 120
    assert ctypes.sizeof(syscall.ProgLoadAttr) == 144
    assert syscall.TestRunAttr.ctx_in.offset == 48
    assert syscall.LinkCreateAttr.options.offset == 16
    assert syscall.MapElemAttr.key.offset == 8 and ctypes.sizeof(syscall.MapElemAttr) == 32
