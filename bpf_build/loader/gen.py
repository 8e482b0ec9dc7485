"""Loader programs: libbpf's load phase recorded as one BPF_PROG_TYPE_SYSCALL program plus data.

``generate_loader(opened) -> LoaderProgram`` records what libbpf's ``bpf_object__load`` would do
with an ``OpenedObject`` (load BTF, create maps, fill and freeze global data, populate map-in-map
and PROG_ARRAY slots, resolve ksyms/kfuncs and attach targets in kernel BTF, load programs with
their func/line info and CO-RE relocations) as instructions that replay those ``bpf()`` calls in
the kernel through ``bpf_sys_bpf()``, the way libbpf's gen_loader.c does. Running the loader with
BPF_PROG_TEST_RUN creates the maps and programs; their fds come back in the context.

THE CONTRACT (version 1) — runners (bpf_build.runtime, libbpfbuild/, the C light skeleton's
``bpf_build/loader.h``) rely on exactly this:

Running a LoaderProgram ``L``
  1. Create the *blob map*: BPF_MAP_CREATE, type ARRAY, key_size 4, value_size ``len(L.blob)``,
     max_entries 1 (any name, e.g. "__loader.map"). Write ``L.blob`` at key 0 and, optionally,
     BPF_MAP_FREEZE it. Use a fresh blob map for every run (the loader writes fds into it).
  2. Load the loader: BPF_PROG_LOAD, prog_type SYSCALL (31), prog_flags BPF_F_SLEEPABLE (1 << 4),
     license "Dual BSD/GPL", instructions ``L.insns_bytes()`` (in the object's byte order),
     ``fd_array`` pointing at one int, the blob map fd (the code addresses the blob as
     ld_imm64 src_reg=BPF_PSEUDO_MAP_IDX_VALUE imm=0).
  3. Build the context (all little/big-endian as the target, natural alignment), zero-filled:

       offset  size  header (CTX_HEADER_SIZE = 32 bytes)
       0       4     sz           total context size = ``L.ctx_size``
       4       4     flags        in:  bit 0 (CTX_FLAG_NO_BTF_LOG): give the BTF load no log, so a
                                        retry for a program's verifier log is not filled with
                                        the BTF dump (the log buffer is shared by every load)
       8       4     log_level    in:  verifier/BTF log level for every BTF and program load
       12      4     log_size     in:  size of the buffer at log_buf
       16      8     log_buf      in:  user address of the log buffer (0: no log)
       24      4     error_step   out: number of the last step attempted (see ``L.ops``); on
                                        failure it names the failing operation
       28      4     reserved
       then one 16-byte descriptor per map, in ``L.maps`` order (CTX_MAP_SIZE):
       +0      4     map_fd        out: the map's fd (only written on success)
       +4      4     max_entries   in:  0 = as in the object; else created with this size
       +8      8     initial_value in:  0 = use the value in the blob; else user address of
                                        ``value_size`` bytes copied in (bpf_copy_from_user)
                                        before the map is filled (global-data maps only)
       then one 8-byte descriptor per program, in ``L.progs`` order (CTX_PROG_SIZE):
       +0      4     prog_fd       out: the program's fd (0 if not loaded)
       +4      4     load          in:  0 = the object's default (load unless SEC("?...")),
                                        1 = load it, 2 = do not load it

     ``L.ctx_offsets()`` gives these offsets. PERF_EVENT_ARRAY maps whose max_entries is 0 in
     ``L.maps`` must be given the number of possible CPUs as max_entries by the runner.
  4. Kconfig (better than libbpf, which freezes the build host's values into the blob): when
     ``L.kconfig_map`` is not None, the runner builds a buffer of that map's value_size bytes
     (start from the default at ``L.maps[i].initial_value``, all zeros), and for each
     ``KconfigVar`` writes the value found *on the machine that loads*: ``LINUX_KERNEL_VERSION``
     from uname's release (a.b.c -> a<<16|b<<8|min(c,255)), ``LINUX_HAS_BPF_COOKIE`` = 1,
     ``LINUX_HAS_SYSCALL_WRAPPER`` = 1 if /proc/kallsyms has the architecture's syscall-wrapper
     prefix (x86-64: "__x64_sys_bpf"), ``CONFIG_*`` from /boot/config-$(uname -r) or
     /proc/config.gz ("y"/"n"/"m" for bool/tristate/char, numbers for int, "strings" for char
     arrays; tristate is 0=n 1=y 2=m; missing bool/tristate values are "n"). A non-weak
     variable that cannot be resolved is an error before running; weak ones stay 0. The buffer
     address goes into ``initial_value`` of the kconfig map's descriptor.
  5. BPF_PROG_RUN (BPF_PROG_TEST_RUN) the loader with ctx_in = the context, ctx_size_in =
     ``L.ctx_size``. The kernel copies the context back. retval (as s32) < 0 is -errno of the
     failed step ``L.ops[error_step - 1]``; on failure every fd the loader created is closed.
     On success map_fd/prog_fd hold fds owned by the caller.
  6. Close the blob map and the loader program.

LoaderProgram fields: ``insns`` ([Insn]), ``blob`` (bytes), ``byteorder``, ``maps``
([LoaderMap]: name, ident, kind, type, key_size, value_size, max_entries, map_flags,
initial_value (bytes or None), mmapable, frozen), ``progs`` ([LoaderProg]: name, section,
type, expected_attach_type, attach_target, autoload, insn_cnt), ``kconfig_map``, ``kconfig``
([KconfigVar]: name, kcfg_type, size, offset, signed, weak), ``ops`` ([LoaderOp]: step, kind,
index, text). ``to_bytes()`` / ``LoaderProgram.from_bytes()`` serialise it (SERIAL_MAGIC, format
described at ``_serialise``) so a Python skeleton can embed it; the format only changes with a
new magic.

``describe_loader(insns, blob)`` / ``read_loader`` read any loader program back (ours or
libbpf's) by following its instructions, and list the bpf() commands it will issue: that is
``bpf-build loader explain``.

Inside (not part of the contract, for readers of the code): r6 holds the context, r8 the blob's
address, r7 the last result. The blob starts with an fd table (map fds, which is also the
``fd_array`` every program load gets, then program fds, the BTF fd, the inner-map fd, then one
slot per kfunc for module BTF fds), followed by attrs, names and keys (all addressed as r8+off),
then BTF, program instructions, func/line info, CO-RE records and global-data values. Every
fallible step stores its number in ctx.error_step and jumps to the clean-up code on error, which
closes every fd in the table; on success the fds go to the context and the BTF fd is closed.
Compared with libbpf's gen_loader there is no 64-map / 32-program limit (no fds on the stack),
PROG_ARRAY slots are filled, SEC("?...") programs are kept, and kconfig is not frozen.
"""

from __future__ import annotations

import struct
from typing import Dict, List, Optional, Sequence, Tuple

from ..model import btf as B
from . import section_defs as S
from ..errors import LoaderError, NotSupportedError
from ..model.insn import (
    ALU64,
    B as SZ_B,
    DW,
    H,
    JA,
    JEQ,
    JMP,
    JNE,
    JSET,
    JSLE,
    JSLT,
    MOV,
    PSEUDO_BTF_ID,
    PSEUDO_KFUNC_CALL,
    PSEUDO_MAP_IDX,
    PSEUDO_MAP_IDX_VALUE,
    R0,
    R1,
    R2,
    R3,
    R4,
    R6,
    R7,
    R8,
    R9,
    R10,
    RSH,
    W,
    X,
    Assembler,
    Insn,
    call_helper,
    decode,
    encode,
    exit_insn,
    ldx_mem,
    mov64_imm,
    mov64_reg,
    st_mem,
    stx_mem,
    alu64_imm,
)
from .open import OpenedMap, OpenedObject, OpenedProgram, open_object

# bpf() commands and the helpers a loader calls.
BPF_MAP_CREATE, BPF_MAP_UPDATE_ELEM, BPF_PROG_LOAD, BPF_MAP_FREEZE, BPF_BTF_LOAD = 0, 2, 5, 22, 18
HELPER_SYS_BPF, HELPER_BTF_FIND, HELPER_SYS_CLOSE = 166, 167, 168
HELPER_KALLSYMS, HELPER_COPY_FROM_USER = 179, 148

# Sizes of the union bpf_attr prefixes we fill (offsetofend of the last field used).
MAP_CREATE_ATTR_SIZE = 72     # .. map_extra
MAP_ELEM_ATTR_SIZE = 32       # .. flags
MAP_FREEZE_ATTR_SIZE = 4      # .. map_fd
PROG_LOAD_ATTR_SIZE = 144     # .. log_true_size
BTF_LOAD_ATTR_SIZE = 32       # .. btf_log_true_size

LOADER_LICENSE = "Dual BSD/GPL"
BPF_F_SLEEPABLE = 1 << 4
PROG_TYPE_SYSCALL = 31

CTX_HEADER_SIZE, CTX_MAP_SIZE, CTX_PROG_SIZE = 32, 16, 8
CTX_FLAGS, CTX_LOG_LEVEL, CTX_LOG_SIZE, CTX_LOG_BUF, CTX_ERROR_STEP = 4, 8, 12, 16, 24
CTX_FLAG_NO_BTF_LOG = 1
PROG_LOAD_DEFAULT, PROG_LOAD_YES, PROG_LOAD_NO = 0, 1, 2

SERIAL_MAGIC = b"BPFBLDR1"

_NO_BTF_MAP_TYPES = {S.MAP_TYPES[n] for n in (
    "PERF_EVENT_ARRAY", "CGROUP_ARRAY", "STACK_TRACE", "ARRAY_OF_MAPS", "HASH_OF_MAPS", "DEVMAP",
    "DEVMAP_HASH", "CPUMAP", "XSKMAP", "SOCKMAP", "SOCKHASH", "QUEUE", "STACK", "ARENA")}
_MAP_IN_MAP = (S.MAP_TYPES["ARRAY_OF_MAPS"], S.MAP_TYPES["HASH_OF_MAPS"])
_S16_MAX = 32767
ENOENT = 2


class _Record:
    """Plain value with equality over its slots."""

    __slots__ = ()

    def _key(self):
        return tuple(getattr(self, s) for s in self.__slots__)

    def __eq__(self, o):
        return type(o) is type(self) and self._key() == o._key()

    def __repr__(self):
        return f"{type(self).__name__}({self._key()[0]!r})"


class LoaderMap(_Record):
    __slots__ = ("name", "ident", "kind", "type", "key_size", "value_size", "max_entries",
                 "map_flags", "initial_value", "frozen")

    def __init__(self, name: str, ident: str, kind: str, type: int, key_size: int, value_size: int,
                 max_entries: int, map_flags: int, initial_value: Optional[bytes], frozen: bool):
        self.name, self.ident, self.kind, self.type = name, ident, kind, type
        self.key_size, self.value_size, self.max_entries = key_size, value_size, max_entries
        self.map_flags, self.initial_value, self.frozen = map_flags, initial_value, frozen

    @property
    def mmapable(self) -> bool:
        return bool(self.map_flags & (1 << 10))

    @property
    def type_name(self) -> str:
        return S.map_type_name(self.type)


class LoaderProg(_Record):
    __slots__ = ("name", "section", "type", "expected_attach_type", "attach_target", "autoload",
                 "insn_cnt")

    def __init__(self, name: str, section: str, type: int, expected_attach_type: int,
                 attach_target: str, autoload: bool, insn_cnt: int):
        self.name, self.section, self.type = name, section, type
        self.expected_attach_type, self.attach_target = expected_attach_type, attach_target
        self.autoload, self.insn_cnt = autoload, insn_cnt

    @property
    def type_name(self) -> str:
        return S.prog_type_name(self.type)


class KconfigVar(_Record):
    __slots__ = ("name", "kcfg_type", "size", "offset", "signed", "weak")

    def __init__(self, name: str, kcfg_type: str, size: int, offset: int, signed: bool, weak: bool):
        self.name, self.kcfg_type, self.size, self.offset = name, kcfg_type, size, offset
        self.signed, self.weak = signed, weak


OP_KINDS = ("load_btf", "create_map", "update_map", "freeze_map", "set_slot", "find_btf_id",
            "find_ksym_addr", "load_prog")


class LoaderOp(_Record):
    """One fallible step of the loader: ``index`` is the map or program it concerns (-1: none)."""

    __slots__ = ("step", "kind", "index", "text")

    def __init__(self, step: int, kind: str, index: int, text: str):
        self.step, self.kind, self.index, self.text = step, kind, index, text

    def __repr__(self):
        return f"LoaderOp({self.step}, {self.text!r})"


class LoaderProgram:
    def __init__(self, insns: List[Insn], blob: bytes, byteorder: str, maps: List[LoaderMap],
                 progs: List[LoaderProg], kconfig_map: Optional[int], kconfig: List[KconfigVar],
                 ops: List[LoaderOp]):
        self.insns, self.blob, self.byteorder = insns, blob, byteorder
        self.maps, self.progs, self.kconfig_map, self.kconfig, self.ops = maps, progs, kconfig_map, kconfig, ops
        # Where each map's BPF_MAP_CREATE and each program's BPF_PROG_LOAD attr sits in the blob
        # (-1: unknown, e.g. read back from bytes): a runner may patch the object's settings
        # (type, sizes, flags...) there before writing the blob, for load-time knobs.
        self.map_attr_offsets: List[int] = [-1] * len(maps)
        self.prog_attr_offsets: List[int] = [-1] * len(progs)

    @property
    def ctx_size(self) -> int:
        return CTX_HEADER_SIZE + CTX_MAP_SIZE * len(self.maps) + CTX_PROG_SIZE * len(self.progs)

    def ctx_offsets(self) -> Dict[str, int]:
        """Offsets of every context field: 'map.<name>.fd', 'map.<name>.max_entries',
        'map.<name>.initial_value', 'prog.<name>.fd', 'prog.<name>.load', plus header fields."""
        out = {"sz": 0, "flags": 4, "log_level": CTX_LOG_LEVEL, "log_size": CTX_LOG_SIZE,
               "log_buf": CTX_LOG_BUF, "error_step": CTX_ERROR_STEP}
        for i, m in enumerate(self.maps):
            base = map_desc_offset(i)
            out[f"map.{m.name}.fd"] = base
            out[f"map.{m.name}.max_entries"] = base + 4
            out[f"map.{m.name}.initial_value"] = base + 8
        for j, p in enumerate(self.progs):
            base = prog_desc_offset(len(self.maps), j)
            out[f"prog.{p.name}.fd"] = base
            out[f"prog.{p.name}.load"] = base + 4
        return out

    def insns_bytes(self) -> bytes:
        return encode(self.insns, self.byteorder)

    @property
    def size(self) -> int:
        """Bytes a skeleton embeds: instructions plus blob."""
        return 8 * len(self.insns) + len(self.blob)

    def op_for_step(self, step: int) -> Optional[LoaderOp]:
        return self.ops[step - 1] if 0 < step <= len(self.ops) else None

    def to_bytes(self) -> bytes:
        return _serialise(self)

    @classmethod
    def from_bytes(cls, data: bytes, path=None) -> "LoaderProgram":
        return _deserialise(bytes(data), path)

    def __eq__(self, o):
        return isinstance(o, LoaderProgram) and self.to_bytes() == o.to_bytes()


def map_desc_offset(map_index: int) -> int:
    return CTX_HEADER_SIZE + CTX_MAP_SIZE * map_index


def prog_desc_offset(nr_maps: int, prog_index: int) -> int:
    return CTX_HEADER_SIZE + CTX_MAP_SIZE * nr_maps + CTX_PROG_SIZE * prog_index


# ----------------------------------------------------------------------------------------------
# The blob: a small "head" (fd table, attrs, names, keys, scratch) addressed as r8 + offset, and a
# "tail" (BTF, instructions, values, BTF.ext records) only ever addressed through pointers.

class _Ref:
    __slots__ = ("region", "off", "size")

    def __init__(self, region: str, off: int, size: int):
        self.region, self.off, self.size = region, off, size


class _Blob:
    def __init__(self):
        self.head = bytearray()
        self.tail = bytearray()
        self.head_size: Optional[int] = None

    def add(self, data: bytes, tail: bool = False, align: int = 8) -> _Ref:
        buf = self.tail if tail else self.head
        buf += bytes((-len(buf)) % align)
        ref = _Ref("tail" if tail else "head", len(buf), len(data))
        buf += data
        return ref

    def off(self, ref: _Ref) -> int:
        return ref.off if ref.region == "head" else self.head_size + ref.off

    def patch(self, ref: _Ref, at: int, data: bytes) -> None:
        buf = self.head if ref.region == "head" else self.tail
        buf[ref.off + at: ref.off + at + len(data)] = data

    def finish(self) -> bytes:
        self.head += bytes((-len(self.head)) % 8)
        self.head_size = len(self.head)
        out = bytes(self.head) + bytes(self.tail)
        return out + bytes((-len(out)) % 8)


# ----------------------------------------------------------------------------------------------
# Generation

def generate_loader(opened: OpenedObject) -> LoaderProgram:
    """The loader program for an opened object (see the module docstring)."""
    return _Generator(opened).run()


def loader_for_object(obj, name: Optional[str] = None) -> LoaderProgram:
    return generate_loader(open_object(obj, name))


class _MapPlan:
    def __init__(self, index: int, m: OpenedMap):
        self.index, self.map = index, m
        self.attr: Optional[_Ref] = None
        self.inner_attr: Optional[_Ref] = None
        self.update_attr: Optional[_Ref] = None
        self.value: Optional[_Ref] = None
        self.freeze_attr: Optional[_Ref] = None
        self.uses_btf = False
        self.inner_uses_btf = False


class _KsymUse:
    """Resolution of one extern inside one program's instructions."""

    def __init__(self, kind: str, name: str, weak: bool, insn_idx: List[int], btf_kind: int = 0,
                 dst_regs: Optional[List[int]] = None):
        self.kind, self.name, self.weak, self.insn_idx = kind, name, weak, insn_idx
        self.btf_kind = btf_kind
        self.dst_regs = dst_regs or []
        self.name_ref: Optional[_Ref] = None
        self.fd_slot = -1


class _ProgPlan:
    def __init__(self, index: int, p: OpenedProgram):
        self.index, self.prog = index, p
        self.attr: Optional[_Ref] = None
        self.insns: Optional[_Ref] = None
        self.license: Optional[_Ref] = None
        self.func_info: Optional[_Ref] = None
        self.line_info: Optional[_Ref] = None
        self.core_relos: Optional[_Ref] = None
        self.ksyms: List[_KsymUse] = []
        self.attach_name: Optional[_Ref] = None
        self.attach_kind = 0
        self.attach_len = 0


class _Generator:
    def __init__(self, opened: OpenedObject):
        self.o = opened
        self.path = opened.path
        self.bo = "<" if opened.byteorder == "little" else ">"
        self.blob = _Blob()
        self.asm = Assembler()
        self.ops: List[LoaderOp] = []
        self.maps = opened.maps
        self.progs = opened.programs
        nm, np_ = len(self.maps), len(self.progs)
        # fd table at the start of the blob: map fds (the fd_array prog loads use), program fds,
        # the BTF fd, the inner-map fd; kfunc module-BTF fds follow in slots of their own.
        self.has_inner = any(m.inner is not None for m in self.maps)
        self.owned_slots = nm + np_ + 1 + (1 if self.has_inner else 0)
        self.btf_slot = nm + np_
        self.inner_slot = nm + np_ + 1
        self.kfunc_slots = 0
        self.nr_kfunc_slots = sum(len({self.o.externs[r.extern_index].name for r in p.relocations
                                       if r.kind == "kfunc"}) for p in self.progs)
        self.scratch: Optional[_Ref] = None
        self.zero_key: Optional[_Ref] = None

    def fail(self, reason: str, cls=LoaderError):
        raise cls(self.path, reason)

    # -- checks --------------------------------------------------------------------------------
    def check_supported(self) -> None:
        for m in self.maps:
            if m.kind == "struct_ops" or m.type == S.MAP_TYPES["STRUCT_OPS"]:
                self.fail(f"map '{m.name}': struct_ops maps are not supported yet by loader programs",
                          NotSupportedError)
            if m.type == S.MAP_TYPES["ARENA"]:
                self.fail(f"map '{m.name}': arena maps are not supported yet by loader programs",
                          NotSupportedError)
            if m.pinning:
                self.fail(f"map '{m.name}': map pinning is not supported yet by loader programs",
                          NotSupportedError)
        for p in self.progs:
            if p.sec_def is None:
                self.fail(f"program '{p.name}': section '{p.section}' names no program type")
            if p.type == S.PROG_TYPES["STRUCT_OPS"]:
                self.fail(f"program '{p.name}': struct_ops programs are not supported yet by loader "
                          "programs", NotSupportedError)
            if p.type == S.PROG_TYPES["EXT"]:
                self.fail(f"program '{p.name}': freplace programs need a target program fd and are "
                          "not supported by loader programs", NotSupportedError)
            if p.sec_def.flags & S.SEC_ATTACH_BTF and p.attach_btf is None:
                self.fail(f"program '{p.name}': section '{p.section}' needs an attach target "
                          "(e.g. SEC(\"fentry/do_sys_open\"))")

    # -- planning: everything the blob holds ---------------------------------------------------
    def run(self) -> LoaderProgram:
        self.check_supported()
        blob = self.blob
        blob.add(bytes(4 * (self.owned_slots + self.nr_kfunc_slots)))
        self.scratch = blob.add(bytes(8))          # kallsyms results
        btf_attr = btf_data = None
        btf = self.o.btf
        if btf is not None:
            try:
                raw = btf.encode()
            except struct.error as e:  # corrupt values that no longer fit BTF's fields
                self.fail(f"BTF cannot be encoded for the kernel: {e}")
            btf_data = blob.add(raw, tail=True)
            btf_attr = blob.add(self.pack_btf_attr(len(raw)))
            self.btf_size = len(raw)
        map_plans = [self.plan_map(i, m) for i, m in enumerate(self.maps)]
        slot_plans = self.plan_map_slots()
        prog_plans = [self.plan_prog(i, p) for i, p in enumerate(self.progs)]
        prog_array_plans = self.plan_prog_array_slots()
        data = blob.finish()
        self.emit_all(btf_attr, btf_data, map_plans, slot_plans, prog_plans, prog_array_plans)
        insns = self.asm.finish()
        loader = LoaderProgram(insns, data, self.o.byteorder, self.loader_maps(), self.loader_progs(),
                               self.o.kconfig_map, self.kconfig_vars(), self.ops)
        loader.map_attr_offsets = [self.off(plan.attr) for plan in map_plans]
        loader.prog_attr_offsets = [self.off(plan.attr) for plan in prog_plans]
        return loader

    def pack_btf_attr(self, size: int) -> bytes:
        attr = bytearray(BTF_LOAD_ATTR_SIZE)
        struct.pack_into(self.bo + "I", attr, 16, size)
        return bytes(attr)

    def key_zero(self) -> _Ref:
        if self.zero_key is None:
            self.zero_key = self.blob.add(bytes(4))
        return self.zero_key

    def map_attr(self, m: OpenedMap, name: str) -> Tuple[bytes, bool]:
        attr = bytearray(MAP_CREATE_ATTR_SIZE)
        key_id, value_id = m.btf_key_type_id, m.btf_value_type_id
        # The kernel refuses a key type without a value type (libbpf then retries without BTF;
        # a loader cannot retry, so it never asks), and some map types take no BTF at all.
        if m.type in _NO_BTF_MAP_TYPES or self.o.btf is None or not value_id:
            key_id = value_id = 0
        struct.pack_into(self.bo + "IIIII", attr, 0, m.type, m.key_size, m.value_size,
                         m.max_entries, m.map_flags)
        struct.pack_into(self.bo + "I", attr, 24, m.numa_node)
        attr[28:28 + 15] = _c_bytes(name)[:15].ljust(15, b"\0")
        struct.pack_into(self.bo + "II", attr, 52, key_id, value_id)
        struct.pack_into(self.bo + "Q", attr, 64, m.map_extra)
        return bytes(attr), bool(key_id or value_id)

    def plan_map(self, i: int, m: OpenedMap) -> _MapPlan:
        plan = _MapPlan(i, m)
        if m.inner is not None:
            attr, plan.inner_uses_btf = self.map_attr(m.inner, m.inner.name)
            plan.inner_attr = self.blob.add(attr)
        attr, plan.uses_btf = self.map_attr(m, m.name)
        plan.attr = self.blob.add(attr)
        if m.is_internal:
            plan.value = self.blob.add(m.initial_value or bytes(m.value_size), tail=True)
            plan.update_attr = self.blob.add(bytes(MAP_ELEM_ATTR_SIZE))
            self.key_zero()
            if m.kind in ("rodata", "kconfig"):
                plan.freeze_attr = self.blob.add(bytes(8))
        return plan

    def plan_map_slots(self):
        plans = []
        for i, m in enumerate(self.maps):
            if m.type not in _MAP_IN_MAP:
                continue
            for slot, target in enumerate(m.init_slots):
                if target is None:
                    continue
                key = self.blob.add(struct.pack(self.bo + "I", slot))
                attr = self.blob.add(bytes(MAP_ELEM_ATTR_SIZE))
                plans.append((i, slot, self.o.map_index(target), key, attr))
        return plans

    def plan_prog_array_slots(self):
        plans = []
        for i, m in enumerate(self.maps):
            if m.type != S.MAP_TYPES["PROG_ARRAY"]:
                continue
            for slot, target in enumerate(m.init_slots):
                if target is None:
                    continue
                j = next(k for k, p in enumerate(self.progs) if p.name == target)
                key = self.blob.add(struct.pack(self.bo + "I", slot))
                attr = self.blob.add(bytes(MAP_ELEM_ATTR_SIZE))
                plans.append((i, slot, j, key, attr))
        return plans

    def plan_prog(self, j: int, p: OpenedProgram) -> _ProgPlan:
        plan = _ProgPlan(j, p)
        blob, bo = self.blob, self.bo
        insns = [i.copy() for i in p.insns]
        uses: Dict[Tuple[str, str], _KsymUse] = {}
        for r in p.relocations:
            k = r.insn_idx
            if r.kind == "map":
                insns[k].src, insns[k].imm = PSEUDO_MAP_IDX, r.map_index
            elif r.kind == "data":
                insns[k].src, insns[k].imm = PSEUDO_MAP_IDX_VALUE, r.map_index
                insns[k + 1].imm = r.offset
            elif r.kind in ("ksym", "kfunc"):
                ext = self.o.externs[r.extern_index]
                if r.kind == "kfunc":
                    insns[k].src, insns[k].imm, insns[k].off = PSEUDO_KFUNC_CALL, 0, 0
                    key = ("kfunc", ext.name)
                else:
                    typed = ext.is_func or ext.ksym_type_id != 0
                    insns[k].src = PSEUDO_BTF_ID if typed else 0
                    insns[k].imm = insns[k + 1].imm = 0
                    key = ("ksym" if typed else "kallsyms", ext.name)
                use = uses.get(key)
                if use is None:
                    btf_kind = B.FUNC if (r.kind == "kfunc" or ext.is_func) else B.VAR
                    use = uses[key] = _KsymUse(key[0], ext.name, ext.weak, [], btf_kind)
                    use.name_ref = blob.add(_c_bytes(ext.name) + b"\0")
                    if key[0] == "kfunc":
                        use.fd_slot = self.owned_slots + self.kfunc_slots
                        self.kfunc_slots += 1
                use.insn_idx.append(k)
                use.dst_regs.append(insns[k].dst)
        plan.ksyms = list(uses.values())
        plan.insns = blob.add(encode(insns, self.o.byteorder), tail=True)
        plan.license = blob.add(_c_bytes(self.o.license or "") + b"\0")
        if p.func_info:
            plan.func_info = blob.add(b"".join(struct.pack(bo + "II", a, b) for a, b in p.func_info), tail=True)
        if p.line_info:
            plan.line_info = blob.add(b"".join(struct.pack(bo + "IIII", li.insn_off, li.file_name_off,
                                                           li.line_off, li.line_col)
                                               for li in p.line_info), tail=True)
        if p.core_relos:
            plan.core_relos = blob.add(b"".join(struct.pack(bo + "IIII", c.insn_off, c.type_id,
                                                            c.access_str_off, c.kind)
                                                for c in p.core_relos), tail=True)
        if p.attach_btf is not None:
            name, kind = p.attach_btf
            plan.attach_name = blob.add(_c_bytes(name) + b"\0")
            plan.attach_len = len(name) + 1
            plan.attach_kind = kind
        attr = bytearray(PROG_LOAD_ATTR_SIZE)
        struct.pack_into(bo + "II", attr, 0, p.type, len(insns))
        struct.pack_into(bo + "I", attr, 44, p.prog_flags)
        attr[48:48 + 15] = _c_bytes(p.name)[:15].ljust(15, b"\0")
        struct.pack_into(bo + "I", attr, 68, p.expected_attach_type)
        if p.func_info:
            struct.pack_into(bo + "I", attr, 76, 8)
            struct.pack_into(bo + "I", attr, 88, len(p.func_info))
        if p.line_info:
            struct.pack_into(bo + "I", attr, 92, 16)
            struct.pack_into(bo + "I", attr, 104, len(p.line_info))
        if p.core_relos:
            struct.pack_into(bo + "I", attr, 116, len(p.core_relos))
            struct.pack_into(bo + "I", attr, 136, 16)
        plan.attr = blob.add(bytes(attr))
        return plan

    # -- emission helpers ----------------------------------------------------------------------
    def off(self, ref: _Ref) -> int:
        return self.blob.off(ref)

    def step(self, kind: str, index: int, text: str) -> None:
        """Number the next fallible operation and record it in ctx.error_step."""
        self.ops.append(LoaderOp(len(self.ops) + 1, kind, index, text))
        self.record_step()

    def record_step(self) -> None:
        """ctx.error_step = the last op's number. Through a register: verifiers before 6.3 refuse
        BPF_ST (store-immediate) into the ctx. R1 is free: every op sets it up right after."""
        self.asm.emit(mov64_imm(R1, len(self.ops)), stx_mem(W, R6, R1, CTX_ERROR_STEP))

    def load_blob(self, size: int, dst: int, off: int, scratch: int = R1) -> None:
        if off <= _S16_MAX - 8:
            self.asm.emit(ldx_mem(size, dst, R8, off))
        else:
            self.asm.emit(_ld_blob(scratch, off), ldx_mem(size, dst, scratch, 0))

    def store_blob(self, size: int, off: int, src: int, scratch: int = R1) -> None:
        if off <= _S16_MAX - 8:
            self.asm.emit(stx_mem(size, R8, src, off))
        else:
            self.asm.emit(_ld_blob(scratch, off), stx_mem(size, scratch, src, 0))

    def store_blob_imm(self, size: int, off: int, imm: int, scratch: int = R1) -> None:
        if off <= _S16_MAX - 8:
            self.asm.emit(st_mem(size, R8, off, imm))
        else:
            self.asm.emit(_ld_blob(scratch, off), st_mem(size, scratch, 0, imm))

    def set_pointer(self, field_off: int, target: _Ref) -> None:
        """attr field at blob offset ``field_off`` = kernel address of ``target``."""
        self.asm.emit(_ld_blob(R0, self.off(target)))
        self.store_blob(DW, field_off, R0)

    def copy_blob(self, size: int, dst_off: int, src_off: int) -> None:
        self.load_blob(size, R0, src_off)
        self.store_blob(size, dst_off, R0)

    def copy_ctx_to_blob(self, size: int, dst_off: int, ctx_off: int) -> None:
        self.asm.emit(ldx_mem(size, R0, R6, ctx_off))
        self.store_blob(size, dst_off, R0)

    def sys_bpf(self, cmd: int, attr: _Ref, size: int) -> None:
        a = self.asm
        a.emit(mov64_imm(R1, cmd), _ld_blob(R2, self.off(attr)), mov64_imm(R3, size),
               call_helper(HELPER_SYS_BPF), mov64_reg(R7, R0))

    def check(self) -> None:
        self.asm.jmp_imm(JSLT, R7, 0, "cleanup")

    def fd_off(self, slot: int) -> int:
        return 4 * slot

    def close_fd_at(self, off: int, label: str) -> None:
        """close(blob fd at ``off``) if it is > 0."""
        a = self.asm
        self.load_blob(W, R1, off)
        a.jmp_imm(JSLE, R1, 0, label)
        a.emit(call_helper(HELPER_SYS_CLOSE))
        a.label(label)

    # -- emission ------------------------------------------------------------------------------
    def emit_all(self, btf_attr, btf_data, map_plans, slot_plans, prog_plans, prog_array_plans):
        a = self.asm
        a.emit(mov64_reg(R6, R1), _ld_blob(R8, 0))
        if btf_attr is not None:
            self.emit_load_btf(btf_attr, btf_data)
        for plan in map_plans:
            self.emit_create_map(plan)
        for i, slot, target, key, attr in slot_plans:
            self.emit_set_slot(i, slot, target, key, attr, is_prog=False)
        for plan in prog_plans:
            self.emit_load_prog(plan)
        for i, slot, target, key, attr in prog_array_plans:
            self.emit_set_slot(i, slot, target, key, attr, is_prog=True)
        self.emit_epilogue()

    def emit_load_btf(self, attr: _Ref, data: _Ref) -> None:
        a = self.asm
        base = self.off(attr)
        self.set_pointer(base + 0, data)
        # a runner retrying for a program's verifier log keeps BTF's dump out of the buffer
        a.emit(ldx_mem(W, R0, R6, CTX_FLAGS))
        a.jmp_imm(JSET, R0, CTX_FLAG_NO_BTF_LOG, "no_btf_log")
        self.copy_ctx_to_blob(DW, base + 8, CTX_LOG_BUF)
        self.copy_ctx_to_blob(W, base + 20, CTX_LOG_SIZE)
        self.copy_ctx_to_blob(W, base + 24, CTX_LOG_LEVEL)
        a.label("no_btf_log")
        self.step("load_btf", -1, f"load BTF ({self.btf_size} bytes)")
        self.sys_bpf(BPF_BTF_LOAD, attr, BTF_LOAD_ATTR_SIZE)
        self.check()
        self.store_blob(W, self.fd_off(self.btf_slot), R7)

    def emit_create_map(self, plan: _MapPlan) -> None:
        a, m, i = self.asm, plan.map, plan.index
        if plan.inner_attr is not None:
            inner = m.inner
            if plan.inner_uses_btf:
                self.copy_blob(W, self.off(plan.inner_attr) + 48, self.fd_off(self.btf_slot))
            self.step("create_map", i, f"create map \"{inner.name[:15]}\" {_map_shape(inner)} "
                                       f"(inner map of \"{m.name}\")")
            self.sys_bpf(BPF_MAP_CREATE, plan.inner_attr, MAP_CREATE_ATTR_SIZE)
            self.check()
            self.store_blob(W, self.fd_off(self.inner_slot), R7)
        base = self.off(plan.attr)
        if plan.uses_btf:
            self.copy_blob(W, base + 48, self.fd_off(self.btf_slot))
        if plan.inner_attr is not None:
            self.copy_blob(W, base + 20, self.fd_off(self.inner_slot))
        # ctx max_entries overrides the object's unless it is 0
        a.emit(ldx_mem(W, R0, R6, map_desc_offset(i) + 4))
        skip = f"max_entries_{i}"
        a.jmp_imm(JEQ, R0, 0, skip)
        self.store_blob(W, base + 12, R0)
        a.label(skip)
        self.step("create_map", i, f"create map \"{m.name[:15]}\" {_map_shape(m)}")
        self.sys_bpf(BPF_MAP_CREATE, plan.attr, MAP_CREATE_ATTR_SIZE)
        self.check()
        self.store_blob(W, self.fd_off(i), R7)
        if plan.inner_attr is not None:
            self.close_fd_at(self.fd_off(self.inner_slot), f"inner_closed_{i}")
            self.store_blob_imm(W, self.fd_off(self.inner_slot), 0)
        if plan.update_attr is not None:
            self.emit_update_internal(plan)

    def emit_update_internal(self, plan: _MapPlan) -> None:
        a, m, i = self.asm, plan.map, plan.index
        # a runner-supplied initial value (mmapped skeleton data, kconfig resolved at load)
        # replaces the blob's copy: bpf_copy_from_user(blob value, size, ctx initial_value)
        a.emit(ldx_mem(DW, R3, R6, map_desc_offset(i) + 8))
        skip = f"no_initial_value_{i}"
        a.jmp_imm(JEQ, R3, 0, skip)
        a.emit(_ld_blob(R1, self.off(plan.value)), mov64_imm(R2, m.value_size),
               call_helper(HELPER_COPY_FROM_USER), mov64_reg(R7, R0))
        self.ops.append(LoaderOp(len(self.ops) + 1, "update_map", i,
                                 f"copy initial value of \"{m.name[:15]}\" from the runner"))
        self.record_step()
        self.check()
        a.label(skip)
        base = self.off(plan.update_attr)
        self.copy_blob(W, base, self.fd_off(i))
        self.set_pointer(base + 8, self.key_zero())
        self.set_pointer(base + 16, plan.value)
        self.step("update_map", i, f"update map \"{m.name[:15]}\" [0] = {m.value_size} bytes")
        self.sys_bpf(BPF_MAP_UPDATE_ELEM, plan.update_attr, MAP_ELEM_ATTR_SIZE)
        self.check()
        if plan.freeze_attr is not None:
            self.copy_blob(W, self.off(plan.freeze_attr), self.fd_off(i))
            self.step("freeze_map", i, f"freeze map \"{m.name[:15]}\"")
            self.sys_bpf(BPF_MAP_FREEZE, plan.freeze_attr, MAP_FREEZE_ATTR_SIZE)
            self.check()

    def emit_set_slot(self, i: int, slot: int, target: int, key: _Ref, attr: _Ref, is_prog: bool) -> None:
        a = self.asm
        base = self.off(attr)
        value_slot = len(self.maps) + target if is_prog else target
        skip = f"slot_{i}_{slot}"
        if is_prog:  # the target program may not have been loaded (autoload off)
            self.load_blob(W, R0, self.fd_off(value_slot))
            a.jmp_imm(JEQ, R0, 0, skip)
        self.copy_blob(W, base, self.fd_off(i))
        self.set_pointer(base + 8, key)
        a.emit(_ld_blob(R0, self.fd_off(value_slot)))
        self.store_blob(DW, base + 16, R0)
        what = f"prog \"{self.progs[target].name}\"" if is_prog else f"map \"{self.maps[target].name}\""
        self.step("set_slot", i, f"update map \"{self.maps[i].name[:15]}\" [{slot}] = {what}")
        self.sys_bpf(BPF_MAP_UPDATE_ELEM, attr, MAP_ELEM_ATTR_SIZE)
        self.check()
        if is_prog:
            a.label(skip)

    def emit_find_btf(self, name_ref: _Ref, name_len: int, kind: int, text: str, index: int) -> None:
        a = self.asm
        self.step("find_btf_id", index, text)
        a.emit(_ld_blob(R1, self.off(name_ref)), mov64_imm(R2, name_len), mov64_imm(R3, kind),
               mov64_imm(R4, 0), call_helper(HELPER_BTF_FIND), mov64_reg(R7, R0))

    def emit_load_prog(self, plan: _ProgPlan) -> None:
        a, p, j = self.asm, plan.prog, plan.index
        skip = f"prog_skipped_{j}"
        a.emit(ldx_mem(W, R0, R6, prog_desc_offset(len(self.maps), j) + 4))
        if p.autoload:
            a.jmp_imm(JEQ, R0, PROG_LOAD_NO, skip)
        else:
            a.jmp_imm(JNE, R0, PROG_LOAD_YES, skip)
        base = self.off(plan.attr)
        insns_off = self.off(plan.insns)
        self.set_pointer(base + 8, plan.insns)
        self.set_pointer(base + 16, plan.license)
        self.copy_ctx_to_blob(W, base + 24, CTX_LOG_LEVEL)
        self.copy_ctx_to_blob(W, base + 28, CTX_LOG_SIZE)
        self.copy_ctx_to_blob(DW, base + 32, CTX_LOG_BUF)
        if self.o.btf is not None:
            self.copy_blob(W, base + 72, self.fd_off(self.btf_slot))
        if plan.func_info is not None:
            self.set_pointer(base + 80, plan.func_info)
        if plan.line_info is not None:
            self.set_pointer(base + 96, plan.line_info)
        if plan.core_relos is not None:
            self.set_pointer(base + 128, plan.core_relos)
        a.emit(_ld_blob(R0, 0))
        self.store_blob(DW, base + 120, R0)
        if plan.attach_name is not None:
            self.emit_find_btf(plan.attach_name, plan.attach_len, plan.attach_kind,
                               f"find kernel BTF id of {B.KIND_NAMES[plan.attach_kind]} "
                               f"\"{p.attach_btf[0]}\" (attach target of \"{p.name}\")", j)
            self.check()
            self.store_blob(W, base + 108, R7)
            a.emit(alu64_imm(RSH, R7, 32))
            self.store_blob(W, base + 112, R7)
        for use in plan.ksyms:
            self.emit_ksym(use, insns_off, j)
        self.step("load_prog", j, f"load prog \"{p.name}\" {p.type_name} {len(p.insns)} insns")
        self.sys_bpf(BPF_PROG_LOAD, plan.attr, PROG_LOAD_ATTR_SIZE)
        # module BTF fds the kernel no longer needs, whether the load worked or not
        if plan.attach_name is not None:
            self.close_fd_at(base + 112, f"attach_fd_closed_{j}")
        for n, use in enumerate(plan.ksyms):
            if use.kind == "ksym":
                self.close_fd_at(insns_off + 8 * use.insn_idx[0] + 12, f"ksym_fd_closed_{j}_{n}")
            elif use.kind == "kfunc":
                self.close_fd_at(self.fd_off(use.fd_slot), f"kfunc_fd_closed_{j}_{n}")
        self.check()
        self.store_blob(W, self.fd_off(len(self.maps) + j), R7)
        a.label(skip)

    def emit_ksym(self, use: _KsymUse, insns_off: int, j: int) -> None:
        """Resolve one extern for one program at load time and patch every instruction using it."""
        a = self.asm
        name_len = len(use.name) + 1
        done = f"ksym_done_{j}_{use.kind}_{use.name}"
        at = [insns_off + 8 * k for k in use.insn_idx]
        if use.kind == "kallsyms":
            self.step("find_ksym_addr", j, f"find address of ksym \"{use.name}\" (kallsyms)")
            a.emit(_ld_blob(R1, self.off(use.name_ref)), mov64_imm(R2, name_len), mov64_imm(R3, 0),
                   _ld_blob(R4, self.off(self.scratch)), call_helper(HELPER_KALLSYMS),
                   mov64_reg(R7, R0))
            if use.weak:
                a.jmp_imm(JEQ, R7, -ENOENT, done)  # a missing weak ksym stays 0
            self.check()
            self.load_blob(DW, R0, self.off(self.scratch))
            a.emit(mov64_reg(R9, R0), alu64_imm(RSH, R9, 32))
            for off in at:
                a.emit(_ld_blob(R1, off), stx_mem(W, R1, R0, 4), stx_mem(W, R1, R9, 12))
            a.label(done)
            return
        kind_name = B.KIND_NAMES[use.btf_kind]
        self.emit_find_btf(use.name_ref, name_len, use.btf_kind,
                           f"find kernel BTF id of {kind_name} \"{use.name}\" ({use.kind})", j)
        missing = f"ksym_missing_{j}_{use.kind}_{use.name}"
        if use.weak:
            a.jmp_imm(JSLT, R7, 0, missing)
        else:
            self.check()
        a.emit(mov64_reg(R9, R7), alu64_imm(RSH, R9, 32))  # BTF object fd: 0 for vmlinux
        if use.kind == "kfunc":
            self.store_blob(W, self.fd_off(use.fd_slot), R9)
            for off in at:
                a.emit(_ld_blob(R1, off), stx_mem(W, R1, R7, 4))
                a.jmp_imm(JEQ, R9, 0, f"{done}_{off}")
                a.emit(st_mem(H, R1, 2, use.fd_slot))  # module BTF: fd_array index in off
                a.label(f"{done}_{off}")
            a.label(missing)  # weak and missing: imm = off = 0, the verifier drops the dead call
        else:
            for off in at:
                a.emit(_ld_blob(R1, off), stx_mem(W, R1, R7, 4), stx_mem(W, R1, R9, 12))
            if use.weak:
                a.ja(done)
                a.label(missing)
                # unresolved weak typed ksym: turn the ld_imm64 into a plain load of 0
                for off, dst in zip(at, use.dst_regs):
                    a.emit(_ld_blob(R1, off), st_mem(SZ_B, R1, 1, _regs_byte(dst, 0, self.bo)))
        a.label(done)

    def emit_epilogue(self) -> None:
        a = self.asm
        nm = len(self.maps)
        for i in range(nm):
            self.load_blob(W, R0, self.fd_off(i))
            a.emit(stx_mem(W, R6, R0, map_desc_offset(i)))
        for j in range(len(self.progs)):
            self.load_blob(W, R0, self.fd_off(nm + j))
            a.emit(stx_mem(W, R6, R0, prog_desc_offset(nm, j)))
        if self.o.btf is not None:
            self.close_fd_at(self.fd_off(self.btf_slot), "btf_closed")
        a.emit(mov64_imm(R0, 0), exit_insn())
        a.label("cleanup")
        for s in range(self.owned_slots):
            self.close_fd_at(self.fd_off(s), f"cleanup_{s}")
        a.emit(mov64_reg(R0, R7), exit_insn())

    # -- what runners and renderers need -------------------------------------------------------
    def loader_maps(self) -> List[LoaderMap]:
        return [LoaderMap(m.name, m.ident, m.kind, m.type, m.key_size, m.value_size, m.max_entries,
                          m.map_flags, m.initial_value, m.kind in ("rodata", "kconfig"))
                for m in self.maps]

    def loader_progs(self) -> List[LoaderProg]:
        return [LoaderProg(p.name, p.section, p.type, p.expected_attach_type, p.attach_target or "",
                           p.autoload, len(p.insns)) for p in self.progs]

    def kconfig_vars(self) -> List[KconfigVar]:
        return [KconfigVar(e.name, e.kcfg_type, e.size, e.offset, e.signed, e.weak)
                for e in self.o.externs if e.kind == "kconfig"]


def _c_bytes(text: str) -> bytes:
    """Names as the object spelled them (bytes that are not UTF-8 round-trip unchanged)."""
    return text.encode("utf-8", "surrogateescape")


def _ld_blob(reg: int, off: int):
    """reg = address of blob + off (ld_imm64 of the blob map's value, fd_array index 0)."""
    return (Insn(0x18, reg, PSEUDO_MAP_IDX_VALUE, 0, 0), Insn(0, 0, 0, 0, off))


def _regs_byte(dst: int, src: int, bo: str) -> int:
    return (src << 4 | dst) if bo == "<" else (dst << 4 | src)


def _map_shape(m: OpenedMap) -> str:
    return f"{m.type_name} {m.key_size}/{m.value_size} x{m.max_entries}" + \
        (f" flags {m.map_flags:#x}" if m.map_flags else "")


# ----------------------------------------------------------------------------------------------
# Serialisation (for skeletons that embed a loader; stable for SERIAL_MAGIC "BPFBLDR1")
#
#   header, little-endian u32s after the 8-byte magic:
#     flags (bit 0: big-endian target), insn_cnt, blob_size, nr_maps, nr_progs, nr_kconfig,
#     nr_ops, kconfig_map (0xffffffff: none), strings_size, values_size
#   instructions (insn_cnt * 8, target byte order), blob (blob_size)
#   maps     nr_maps    x 11 u32: name, ident, kind, type, key_size, value_size, max_entries,
#                                 map_flags, frozen, initial_value offset in values
#                                 (0xffffffff: none), initial_value size
#   progs    nr_progs   x 7 u32:  name, section, attach_target, type, expected_attach_type,
#                                 autoload, insn_cnt
#   kconfig  nr_kconfig x 6 u32:  name, kcfg_type, size, offset, signed, weak
#   ops      nr_ops     x 4 u32:  step, kind, index (s32), text
#   strings  (NUL-terminated UTF-8; name fields above are offsets here), values (raw bytes)

_NONE = 0xFFFFFFFF
_SER_HEADER = struct.Struct("<8s10I")


class _Strings:
    def __init__(self):
        self.data = bytearray(b"\0")
        self.index: Dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.data)
            self.data += _c_bytes(s) + b"\0"
        return self.index[s]


def _serialise(L: LoaderProgram) -> bytes:
    strings, values = _Strings(), bytearray()
    maps = bytearray()
    for m in L.maps:
        init_off, init_size = _NONE, 0
        if m.initial_value is not None:
            init_off, init_size = len(values), len(m.initial_value)
            values += m.initial_value
        maps += struct.pack("<11I", strings.add(m.name), strings.add(m.ident), strings.add(m.kind),
                            m.type, m.key_size, m.value_size, m.max_entries, m.map_flags,
                            int(m.frozen), init_off, init_size)
    progs = b"".join(struct.pack("<7I", strings.add(p.name), strings.add(p.section),
                                 strings.add(p.attach_target), p.type, p.expected_attach_type,
                                 int(p.autoload), p.insn_cnt) for p in L.progs)
    kconfig = b"".join(struct.pack("<6I", strings.add(v.name), strings.add(v.kcfg_type), v.size,
                                   v.offset, int(v.signed), int(v.weak)) for v in L.kconfig)
    ops = b"".join(struct.pack("<IIiI", op.step, strings.add(op.kind), op.index, strings.add(op.text))
                   for op in L.ops)
    header = _SER_HEADER.pack(SERIAL_MAGIC, 1 if L.byteorder == "big" else 0, len(L.insns),
                              len(L.blob), len(L.maps), len(L.progs), len(L.kconfig), len(L.ops),
                              _NONE if L.kconfig_map is None else L.kconfig_map,
                              len(strings.data), len(values))
    return b"".join([header, L.insns_bytes(), L.blob, bytes(maps), progs, kconfig, ops,
                     bytes(strings.data), bytes(values)])


def _deserialise(data: bytes, path) -> LoaderProgram:
    def bad(why: str):
        raise LoaderError(path, f"not a serialised loader program: {why}")

    if len(data) < _SER_HEADER.size:
        bad("too short")
    (magic, flags, n_insns, blob_size, n_maps, n_progs, n_kcfg, n_ops, kcfg_map, str_size,
     val_size) = _SER_HEADER.unpack_from(data, 0)
    if magic != SERIAL_MAGIC:
        bad(f"bad magic {magic!r}")
    sizes = [8 * n_insns, blob_size, 44 * n_maps, 28 * n_progs, 24 * n_kcfg, 16 * n_ops, str_size, val_size]
    if _SER_HEADER.size + sum(sizes) != len(data):
        bad(f"{len(data)} bytes, the header describes {_SER_HEADER.size + sum(sizes)}")
    pos = _SER_HEADER.size
    parts = []
    for size in sizes:
        parts.append(data[pos:pos + size])
        pos += size
    insn_bytes, blob, maps_b, progs_b, kcfg_b, ops_b, strs, vals = parts
    byteorder = "big" if flags & 1 else "little"

    def string(off: int) -> str:
        if off >= len(strs) or strs.find(b"\0", off) < 0:
            bad(f"string offset {off} out of range")
        return strs[off:strs.index(b"\0", off)].decode()

    maps = []
    for f in struct.iter_unpack("<11I", maps_b):
        init = None if f[9] == _NONE else vals[f[9]:f[9] + f[10]]
        if init is not None and len(init) != f[10]:
            bad("initial value out of range")
        maps.append(LoaderMap(string(f[0]), string(f[1]), string(f[2]), f[3], f[4], f[5], f[6], f[7],
                              init, bool(f[8])))
    progs = [LoaderProg(string(f[0]), string(f[1]), f[3], f[4], string(f[2]), bool(f[5]), f[6])
             for f in struct.iter_unpack("<7I", progs_b)]
    kconfig = [KconfigVar(string(f[0]), string(f[1]), f[2], f[3], bool(f[4]), bool(f[5]))
               for f in struct.iter_unpack("<6I", kcfg_b)]
    ops = [LoaderOp(f[0], string(f[1]), f[2], string(f[3])) for f in struct.iter_unpack("<IIiI", ops_b)]
    if kcfg_map != _NONE and kcfg_map >= len(maps):
        bad(f"kconfig map index {kcfg_map} out of range")
    return LoaderProgram(decode(insn_bytes, byteorder, path), blob, byteorder, maps, progs,
                         None if kcfg_map == _NONE else kcfg_map, kconfig, ops)


# ----------------------------------------------------------------------------------------------
# Reading a loader program back: follow its instructions symbolically (registers hold constants,
# pointers into the blob, or "the result of operation k") and decode every bpf() command from
# the attr it passes. Works on libbpf's loaders as well as ours.

class _Sym:
    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value=0):
        self.kind, self.value = kind, value  # kind: const | blob | result | unknown


_UNKNOWN = _Sym("unknown")


def describe_loader(insns: Sequence[Insn], blob: bytes, byteorder: str = "little",
                    path=None) -> List[str]:
    """The operations a loader performs, in order, one line each (see ``LoaderOp.text``)."""
    return [op["text"] for op in read_loader(insns, blob, byteorder, path)]


def read_loader(insns: Sequence[Insn], blob: bytes, byteorder: str = "little", path=None) -> List[dict]:
    """The operations a loader performs, in order: dicts with ``text`` and ``what`` ("btf", "map",
    "update", "freeze", "prog", "btf_id", "ksym", "copy"), plus, for maps, ``name``, ``map_type``,
    ``key_size``, ``value_size``, ``max_entries``, ``map_flags``, and for programs ``name``,
    ``prog_type``, ``expected_attach_type``, ``prog_flags``, ``insn_cnt`` — as written in the
    blob (runtime overrides such as a context's max_entries are not seen)."""
    bo = "<" if byteorder == "little" else ">"
    regs: Dict[int, _Sym] = {r: _UNKNOWN for r in range(11)}
    mem: Dict[Tuple[str, int], _Sym] = {}   # ("blob"|"stack", offset) -> value stored there
    results: List[dict] = []                 # per bpf()/lookup call: what it was
    lines: List[dict] = []
    pending_copy: Dict[int, bool] = {}       # blob offsets a runner-supplied value lands on

    def u(fmt: str, off: int):
        try:
            return struct.unpack_from(bo + fmt, blob, off)[0]
        except struct.error:
            raise LoaderError(path, f"loader reads blob offset {off}, past its {len(blob)} bytes") from None

    def field(attr_off: int, off: int, fmt: str = "I") -> _Sym:
        stored = mem.get(("blob", attr_off + off))
        return stored if stored is not None else _Sym("const", u(fmt, attr_off + off))

    def cstr(off: int, limit: int = 256) -> str:
        end = blob.find(b"\0", off, off + limit)
        return blob[off:end if end >= 0 else off + limit].decode(errors="replace")

    def who(sym: _Sym) -> Optional[dict]:
        return results[sym.value] if sym.kind == "result" and sym.value < len(results) else None

    def map_name(sym: _Sym) -> str:
        r = who(sym)
        return f"\"{r['name']}\"" if r and r["what"] == "map" else "?"

    def decode_bpf(cmd: int, attr: int) -> dict:
        if cmd == BPF_MAP_CREATE:
            mtype, ks, vs, me, fl = (u("I", attr + o) for o in (0, 4, 8, 12, 16))
            name = cstr(attr + 28, 16)
            shape = f"{S.map_type_name(mtype)} {ks}/{vs} x{me}" + (f" flags {fl:#x}" if fl else "")
            return {"what": "map", "name": name, "map_type": mtype, "key_size": ks, "value_size": vs,
                    "max_entries": me, "map_flags": fl, "text": f"create map \"{name}\" {shape}"}
        if cmd == BPF_MAP_UPDATE_ELEM:
            target = field(attr, 0)
            key, value = field(attr, 8, "Q"), field(attr, 16, "Q")
            k = u("I", key.value) if key.kind == "blob" else "?"
            stored = mem.get(("blob", value.value)) if value.kind == "blob" else None
            r = who(target)
            if stored is not None and who(stored):
                v = who(stored)
                what = f"{v['what']} \"{v['name']}\""
            else:
                what = f"{r['value_size']} bytes" if r and r["what"] == "map" else "?"
            return {"what": "update", "text": f"update map {map_name(target)} [{k}] = {what}"}
        if cmd == BPF_MAP_FREEZE:
            return {"what": "freeze", "text": f"freeze map {map_name(field(attr, 0))}"}
        if cmd == BPF_PROG_LOAD:
            ptype, cnt = u("I", attr), u("I", attr + 4)
            name = cstr(attr + 48, 16)
            return {"what": "prog", "name": name, "prog_type": ptype, "insn_cnt": cnt,
                    "expected_attach_type": u("I", attr + 68), "prog_flags": u("I", attr + 44),
                    "text": f"load prog \"{name}\" {S.prog_type_name(ptype)} {cnt} insns"}
        if cmd == BPF_BTF_LOAD:
            return {"what": "btf", "text": f"load BTF ({u('I', attr + 16)} bytes)"}
        return {"what": "bpf", "text": f"bpf command {cmd}"}

    pc, budget = 0, 10 * len(insns) + 100
    while 0 <= pc < len(insns) and budget:
        budget -= 1
        i = insns[pc]
        nxt = pc + 1
        if i.is_ld_imm64:
            hi = insns[pc + 1].imm & 0xFFFFFFFF if pc + 1 < len(insns) else 0
            regs[i.dst] = _Sym("blob", hi) if i.src == PSEUDO_MAP_IDX_VALUE and i.imm == 0 else \
                _Sym("const", (hi << 32) | (i.imm & 0xFFFFFFFF)) if i.src == 0 else _UNKNOWN
            nxt = pc + 2
        elif i.cls == ALU64 and i.op == MOV:
            regs[i.dst] = regs[i.src] if i.code & X else _Sym("const", i.imm)
        elif i.cls == ALU64 and i.op == 0x00 and not i.code & X:  # add imm
            r = regs[i.dst]
            regs[i.dst] = _Sym(r.kind, r.value + i.imm) if r.kind in ("blob", "const") else _UNKNOWN
        elif i.cls in (ALU64, 0x04):
            regs[i.dst] = _UNKNOWN
        elif i.cls == 0x01:  # ldx
            base = regs[i.src]
            if i.src == R10:
                regs[i.dst] = mem.get(("stack", i.off), _UNKNOWN)
            elif base.kind == "blob":
                off = base.value + i.off
                stored = mem.get(("blob", off))
                size = {W: "I", DW: "Q", H: "H", SZ_B: "B"}[i.code & 0x18]
                regs[i.dst] = stored if stored is not None else _Sym("const", u(size, off))
            else:
                regs[i.dst] = _UNKNOWN
        elif i.cls in (0x02, 0x03):  # st / stx
            value = _Sym("const", i.imm) if i.cls == 0x02 else regs[i.src]
            if i.dst == R10:
                mem[("stack", i.off)] = value
            elif regs[i.dst].kind == "blob":
                mem[("blob", regs[i.dst].value + i.off)] = value
        elif i.is_call and i.src == 0:
            helper = i.imm
            if helper == HELPER_SYS_BPF and regs[R1].kind == "const" and regs[R2].kind == "blob":
                r = decode_bpf(regs[R1].value, regs[R2].value)
                if r["what"] == "update":
                    value = field(regs[R2].value, 16, "Q")
                    if value.kind == "blob" and pending_copy.pop(value.value, False):
                        name = r["text"].split(" ")[2]
                        lines.append({"what": "copy", "text": f"copy initial value of {name} from the runner"})
                results.append(r)
                lines.append(r)
                regs[R0] = _Sym("result", len(results) - 1)
            elif helper == HELPER_BTF_FIND and regs[R1].kind == "blob":
                kind = regs[R3].value if regs[R3].kind == "const" else 0
                name = cstr(regs[R1].value)
                results.append({"what": "btf_id", "name": name,
                                "text": f"find kernel BTF id of {B.KIND_NAMES.get(kind, kind)} \"{name}\""})
                lines.append(results[-1])
                regs[R0] = _Sym("result", len(results) - 1)
            elif helper == HELPER_KALLSYMS and regs[R1].kind == "blob":
                name = cstr(regs[R1].value)
                results.append({"what": "ksym", "name": name,
                                "text": f"find address of ksym \"{name}\" (kallsyms)"})
                lines.append(results[-1])
                regs[R0] = _Sym("result", len(results) - 1)
            else:
                if helper in (HELPER_COPY_FROM_USER, 113) and regs[R1].kind == "blob":
                    pending_copy[regs[R1].value] = True
                regs[R0] = _UNKNOWN
            for r in (R1, R2, R3, R4, 5):
                regs[r] = _UNKNOWN
        elif i.is_exit:
            break
        elif i.code == (JMP | JA):
            nxt = pc + 1 + i.off
        pc = nxt
    return lines


def find_embedded_loader(text: str, path=None) -> Tuple[List[Insn], bytes]:
    """The instructions and blob a light skeleton header embeds (ours or bpftool's): the C
    string literals named ``opts_insn`` and ``opts_data``."""
    import re

    def literal(name: str) -> bytes:
        m = re.search(name + r"\[\][^=]*=\s*\"((?:[^\"\\]|\\.|\\\n)*)\"", text) or \
            re.search(r"opts\." + name.split("_")[1] + r"s?\s*=\s*\(void \*\)\"((?:[^\"\\]|\\.|\\\n)*)\"", text)
        if m is None:
            raise LoaderError(path, f"no '{name}' string in this header; is it a light skeleton?")
        return _c_string_bytes(m.group(1))

    return decode(literal("opts_insn"), "little", path), literal("opts_data")


def _c_string_bytes(body: str) -> bytes:
    out = bytearray()
    i = 0
    escapes = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "\"": 34, "'": 39, "a": 7, "b": 8,
               "f": 12, "v": 11, "?": 63}
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode()
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "\n":
            i += 2
        elif nxt == "x":
            j = i + 2
            while j < len(body) and j < i + 4 and body[j] in "0123456789abcdefABCDEF":
                j += 1
            out.append(int(body[i + 2:j], 16))
            i = j
        elif nxt in "01234567" and nxt != "0" or (nxt == "0" and i + 2 < len(body) and body[i + 2] in "01234567"):
            j = i + 1
            while j < len(body) and j < i + 4 and body[j] in "01234567":
                j += 1
            out.append(int(body[i + 1:j], 8))
            i = j
        else:
            out.append(escapes.get(nxt, ord(nxt)))
            i += 2
    return bytes(out)
