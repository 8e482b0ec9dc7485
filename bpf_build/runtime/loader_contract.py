"""The loader contract (version 1): the layouts every runner of a loader program shares.

A loader program is an object's whole load recorded as one BPF_PROG_TYPE_SYSCALL program plus a
data blob (bpf_build.loader.gen writes it). Three runners execute it: the Python runtime
(runtime/loader.py, runtime/user_loader.py), the C light skeletons' header-only runner
(include/bpf_build/loader.h) and the FFI library (libbpfbuild/). This module is the one statement
of what they agree on — the context's layout, the step numbers, the loader's own load, and the
``BPFBLDR1`` container — and the generator imports it from here, because the runtime ships alone
(bpf-build-runtime) and imports nothing from the build side. docs/loader-contract.md explains it
in prose; tests/loader/test_contract.py compiles the C headers and fails if their offsets, sizes
and #defines drift from the numbers below.

Standard library only, Python 3.9.
"""

from __future__ import annotations

import struct
from typing import Dict, Mapping, Sequence, Tuple, Union

from .uapi import Helper, MapType, ProgLoadFlag, ProgType

CONTRACT_VERSION = 1


class Layout:
    """A record of fixed-size fields in declaration order, each at its natural alignment, so that
    packed (``=``/``<``) and native C layouts agree and there is no padding to disagree about."""

    def __init__(self, c_type: str, byte_order: str, fields: Sequence[Tuple[str, str]]) -> None:
        self.c_type = c_type  # the C struct a runner declares for it ("" if it has none)
        self.fields = tuple(name for name, _ in fields)
        self.formats = dict(fields)
        self.offsets: Dict[str, int] = {}
        offset = 0
        for name, fmt in fields:
            size = struct.calcsize("=" + fmt)
            alignment = 1 if fmt.endswith("s") else size
            if offset % alignment:
                raise ValueError(f"{c_type or 'record'}.{name} at offset {offset} is not aligned")
            self.offsets[name] = offset
            offset += size
        self.byte_order = byte_order
        self.struct = struct.Struct(byte_order + "".join(fmt for _, fmt in fields))
        self.size = self.struct.size

    def offset(self, field: str) -> int:
        return self.offsets[field]

    def read(self, data: Union[bytes, bytearray], base: int, field: str) -> int:
        """The integer ``field`` of the record at ``base`` in ``data``, in the layout's byte order
        (a runner reading the blob's bpf_attr records: its own)."""
        value = struct.unpack_from(self.byte_order + self.formats[field], data, base + self.offsets[field])[0]
        if not isinstance(value, int):
            raise TypeError(f"{self.c_type or 'record'}.{field} is not an integer field")
        return value

    def write(self, data: bytearray, base: int, field: str, value: int) -> None:
        """Set the integer ``field`` of the record at ``base`` in ``data``."""
        struct.pack_into(self.byte_order + self.formats[field], data, base + self.offsets[field], value)

    def pack(self, byte_order: str, values: Mapping[str, Union[int, bytes]], size: int = 0) -> bytes:
        """The record (its first ``size`` bytes, all by default) with ``values`` set, zeros elsewhere."""
        out = bytearray(self.size)
        for field, value in values.items():
            struct.pack_into(byte_order + self.formats[field], out, self.offsets[field], value)
        return bytes(out[:size or self.size])


# ---- how a runner loads the loader ------------------------------------------------------------
# The blob map: an ARRAY of one element holding the blob at key 0, fresh for every run (the loader
# writes fds into it). The loader addresses it as ld_imm64 src_reg=BPF_PSEUDO_MAP_IDX_VALUE imm=0,
# i.e. through index 0 of the fd_array its BPF_PROG_LOAD gets.
BLOB_MAP_TYPE = MapType.ARRAY
BLOB_MAP_KEY_SIZE = 4
BLOB_MAP_MAX_ENTRIES = 1
BLOB_MAP_NAME = "__loader.map"        # any name will do; these are the runners' choice
LOADER_PROG_NAME = "__loader.prog"
BLOB_FD_ARRAY_INDEX = 0
LOADER_PROG_TYPE = ProgType.SYSCALL
LOADER_PROG_FLAGS = ProgLoadFlag.SLEEPABLE   # bpf_sys_bpf() may sleep: loading programs does
LOADER_LICENSE = "Dual BSD/GPL"

# The helpers a loader calls. The kernel provides them; a user-space runner (older kernels)
# must stand in for each.
LOADER_HELPERS = (Helper.SYS_BPF, Helper.BTF_FIND_BY_NAME_KIND, Helper.SYS_CLOSE,
                  Helper.KALLSYMS_LOOKUP_NAME, Helper.COPY_FROM_USER)

# ---- the bpf_attr records in the blob -------------------------------------------------------
# Each bpf() call the loader makes passes the prefix of the kernel's union bpf_attr up to the last
# field it uses, written in the blob in the target's byte order. A user-space runner reads and
# adjusts the BTF_LOAD and PROG_LOAD ones (older kernels: sanitized BTF, CO-RE applied by it), the
# runtime's settings patch fields of the MAP_CREATE and PROG_LOAD ones by name (read/write), and
# the runtime's own bpf() calls use the same records (syscall.py builds its ctypes structures
# from these layouts): each record is spelled here only.
MAP_CREATE_ATTR = Layout("bpf_build_attr_map_create", "=", [
    ("map_type", "I"), ("key_size", "I"), ("value_size", "I"), ("max_entries", "I"),
    ("map_flags", "I"), ("inner_map_fd", "I"), ("numa_node", "I"), ("map_name", "16s"),
    ("map_ifindex", "I"), ("btf_fd", "I"), ("btf_key_type_id", "I"), ("btf_value_type_id", "I"),
    ("btf_vmlinux_value_type_id", "I"), ("map_extra", "Q"),
])
MAP_ELEM_ATTR = Layout("bpf_build_attr_map_elem", "=", [
    ("map_fd", "I"), ("pad", "I"), ("key", "Q"), ("value", "Q"), ("flags", "Q"),
])
MAP_FREEZE_ATTR_SIZE = 4  # map_fd alone
PROG_LOAD_ATTR = Layout("bpf_build_attr_prog_load", "=", [
    ("prog_type", "I"), ("insn_cnt", "I"), ("insns", "Q"), ("license", "Q"), ("log_level", "I"),
    ("log_size", "I"), ("log_buf", "Q"), ("kern_version", "I"), ("prog_flags", "I"),
    ("prog_name", "16s"), ("prog_ifindex", "I"), ("expected_attach_type", "I"), ("prog_btf_fd", "I"),
    ("func_info_rec_size", "I"), ("func_info", "Q"), ("func_info_cnt", "I"),
    ("line_info_rec_size", "I"), ("line_info", "Q"), ("line_info_cnt", "I"), ("attach_btf_id", "I"),
    ("attach_btf_obj_fd", "I"), ("core_relo_cnt", "I"), ("fd_array", "Q"), ("core_relos", "Q"),
    ("core_relo_rec_size", "I"), ("log_true_size", "I"),
])
BTF_LOAD_ATTR = Layout("", "=", [
    ("btf", "Q"), ("btf_log_buf", "Q"), ("btf_size", "I"), ("btf_log_size", "I"),
    ("btf_log_level", "I"), ("btf_log_true_size", "I"),
])

# ---- struct_ops maps: what the runner resolves before the loader runs -------------------------
# The kernel value of a struct_ops map (struct bpf_struct_ops_<name>) and the member indices its
# programs attach to are only known on the loading machine, from its kernel BTF. For each
# struct_ops map the runner writes in the blob before the run:
#  - in the map's BPF_MAP_CREATE attr: value_size = sizeof(struct bpf_struct_ops_<name>) and
#    btf_vmlinux_value_type_id = that struct's vmlinux BTF id (key_size 4, max_entries 1 and
#    BPF_F_LINK for .struct_ops.link are the generator's);
#  - in each of its programs' BPF_PROG_LOAD attr: attach_btf_id = the id of struct <name> and
#    expected_attach_type = the index of the member the program is stored in.
# The loader creates the map and loads the programs; it writes no value (libbpf's load neither).
# At attach the runner writes key 0: the value laid out for this kernel (data members at their
# kernel offsets, matched by name, sizes equal) with each loaded program's fd at its member's
# offset. That registers a legacy map; a .struct_ops.link map then registers with
# BPF_LINK_CREATE (attach_type BPF_STRUCT_OPS).
BPF_F_LINK = 1 << 13   # map_flags of a .struct_ops.link map

# ---- the context (ctx_in of BPF_PROG_TEST_RUN, copied back after the run) --------------------
# A header, then one descriptor per map (in LoaderProgram.maps order), then one per program.
CTX_HEADER = Layout("bpf_build_loader_ctx", "=", [
    ("sz", "I"),            # total context size
    ("flags", "I"),         # in: CTX_FLAG_*
    ("log_level", "I"),     # in: log level of every BTF and program load
    ("log_size", "I"),      # in: size of the buffer at log_buf
    ("log_buf", "Q"),       # in: user address of the log buffer (0: no log)
    ("error_step", "I"),    # out: number of the last step attempted: the failing one on error
    ("reserved", "I"),
])
MAP_DESC = Layout("bpf_build_map_desc", "=", [
    ("map_fd", "i"),        # out: the map's fd (written on success only); in, for a pinned map
                            # (a reuse_map step): 0 = create it, else the runner's fd of a
                            # compatible pinned map, used as is, never filled nor closed
    ("max_entries", "I"),   # in: 0 = as in the object
    ("initial_value", "Q"),  # in: 0 = the blob's value; else user address of value_size bytes
])
PROG_DESC = Layout("bpf_build_prog_desc", "=", [
    ("prog_fd", "i"),       # out: the program's fd (0: not loaded)
    ("load", "I"),          # in: PROG_LOAD_*
])

CTX_HEADER_SIZE, CTX_MAP_SIZE, CTX_PROG_SIZE = CTX_HEADER.size, MAP_DESC.size, PROG_DESC.size
CTX_FLAGS = CTX_HEADER.offset("flags")
CTX_LOG_LEVEL = CTX_HEADER.offset("log_level")
CTX_LOG_SIZE = CTX_HEADER.offset("log_size")
CTX_LOG_BUF = CTX_HEADER.offset("log_buf")
CTX_ERROR_STEP = CTX_HEADER.offset("error_step")
MAP_DESC_FD = MAP_DESC.offset("map_fd")
MAP_DESC_MAX_ENTRIES = MAP_DESC.offset("max_entries")
MAP_DESC_INITIAL_VALUE = MAP_DESC.offset("initial_value")
PROG_DESC_FD = PROG_DESC.offset("prog_fd")
PROG_DESC_LOAD = PROG_DESC.offset("load")

# ctx.flags bit 0: give the BTF load no log, so a retry for a program's verifier log is not
# filled with the BTF dump (every load the loader makes shares the one buffer).
CTX_FLAG_NO_BTF_LOG = 1
# prog_desc.load
PROG_LOAD_DEFAULT, PROG_LOAD_YES, PROG_LOAD_NO = 0, 1, 2  # default: load unless SEC("?...")
# The kernel bounds a syscall program's context by U16_MAX.
MAX_CTX_SIZE = 65535


def map_desc_offset(map_index: int) -> int:
    return CTX_HEADER_SIZE + CTX_MAP_SIZE * map_index


def prog_desc_offset(nr_maps: int, prog_index: int) -> int:
    return CTX_HEADER_SIZE + CTX_MAP_SIZE * nr_maps + CTX_PROG_SIZE * prog_index


def ctx_size(nr_maps: int, nr_progs: int) -> int:
    return prog_desc_offset(nr_maps, nr_progs)


# ---- steps: error reporting --------------------------------------------------------------------
# Every fallible operation is a numbered step (1, 2, ...); the loader stores the number in
# ctx.error_step before attempting it, and returns -errno of the failed one. The kinds:
STEP_KINDS = ("load_btf", "create_map", "update_map", "freeze_map", "set_slot", "find_btf_id",
              "find_ksym_addr", "load_prog", "reuse_map")
# reuse_map is not a call: a map pinned by name (LIBBPF_PIN_BY_NAME) is taken from the runner
# instead of created when its descriptor's map_fd is non-zero on entry (see MAP_DESC). The step
# is numbered but never attempted, so it never fails; a runner finds the pinned maps by it.
REUSE_STEP_KIND = "reuse_map"
# The only kinds whose failure the kernel explains in the log buffer.
LOGGING_STEP_KINDS = frozenset({"load_btf", "load_prog"})

# ---- the BPFBLDR1 container (LoaderProgram.to_bytes) -------------------------------------------
# header, insns (insn_cnt * 8, target byte order), blob, maps, progs, kconfig, ops, strings
# (NUL-terminated UTF-8; every name field is an offset here), values (raw bytes). Little-endian
# except insns and blob; it only changes with a new magic.
SERIAL_MAGIC = b"BPFBLDR1"
SERIAL_NONE = 0xFFFFFFFF       # kconfig_map and initial_value_off: none
SERIAL_FLAG_BIG_ENDIAN = 1     # header.flags: the target is big-endian
SERIAL_HEADER = Layout("", "<", [
    ("magic", "8s"), ("flags", "I"), ("insn_cnt", "I"), ("blob_size", "I"), ("nr_maps", "I"),
    ("nr_progs", "I"), ("nr_kconfig", "I"), ("nr_ops", "I"), ("kconfig_map", "I"),
    ("strings_size", "I"), ("values_size", "I"),
])
SERIAL_MAP = Layout("", "<", [
    ("name", "I"), ("ident", "I"), ("kind", "I"), ("type", "I"), ("key_size", "I"),
    ("value_size", "I"), ("max_entries", "I"), ("map_flags", "I"), ("frozen", "I"),
    ("initial_value_off", "I"), ("initial_value_size", "I"),
])
SERIAL_PROG = Layout("", "<", [
    ("name", "I"), ("section", "I"), ("attach_target", "I"), ("type", "I"),
    ("expected_attach_type", "I"), ("autoload", "I"), ("insn_cnt", "I"),
])
SERIAL_KCONFIG = Layout("", "<", [
    ("name", "I"), ("kcfg_type", "I"), ("size", "I"), ("offset", "I"), ("signed", "I"), ("weak", "I"),
])
SERIAL_OP = Layout("", "<", [("step", "I"), ("kind", "I"), ("index", "i"), ("text", "I")])
SERIAL_INSN_SIZE = 8
