"""A minimal runner for loader programs, written from the contract in bpf_build/gen_loader.py.

Test-only: the real runtimes are bpf_build.runtime (Python) and the C header. Everything here goes
through the raw bpf() syscall with ctypes so tests see exactly what the kernel does.
"""

from __future__ import annotations

import ctypes
import gzip
import os
import re
import platform
import struct
import time
from typing import Dict, List, Optional

from bpf_build.loader.gen import (
    CTX_ERROR_STEP,
    CTX_FLAG_NO_BTF_LOG,
    CTX_FLAGS,
    CTX_LOG_LEVEL,
    LoaderProgram,
    map_desc_offset,
    prog_desc_offset,
)

NR_BPF = {"x86_64": 321, "aarch64": 280}[platform.machine()]
BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_PROG_LOAD = 0, 1, 2, 5
BPF_PROG_TEST_RUN, BPF_MAP_FREEZE, BPF_OBJ_GET_INFO_BY_FD = 10, 22, 15
BPF_PROG_GET_NEXT_ID, BPF_MAP_GET_NEXT_ID = 11, 12
BPF_RAW_TRACEPOINT_OPEN, BPF_LINK_CREATE = 17, 28

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class BpfError(OSError):
    pass


def sys_bpf(cmd: int, attr: bytearray) -> int:
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    ret = _libc.syscall(NR_BPF, ctypes.c_int(cmd), buf, ctypes.c_uint(len(attr)))
    if ret < 0:
        err = ctypes.get_errno()
        raise BpfError(err, f"bpf({cmd}): {os.strerror(err)}")
    return ret


def _addr(buf) -> int:
    return ctypes.addressof(buf)


class LoadFailed(Exception):
    def __init__(self, errno_: int, step: int, op, log: str):
        self.errno, self.step, self.op, self.log = errno_, step, op, log
        super().__init__(f"loader failed at step {step} ({op.text if op else '?'}): "
                         f"{os.strerror(errno_)}\n{log}")


class Loaded:
    def __init__(self, loader: LoaderProgram, map_fds: Dict[str, int], prog_fds: Dict[str, int]):
        self.loader, self.map_fds, self.prog_fds = loader, map_fds, prog_fds

    def close(self):
        for fd in list(self.map_fds.values()) + list(self.prog_fds.values()):
            if fd > 0:
                os.close(fd)
        self.map_fds, self.prog_fds = {}, {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def map_create(map_type: int, key_size: int, value_size: int, max_entries: int, name: bytes = b"") -> int:
    attr = bytearray(72)
    struct.pack_into("IIII", attr, 0, map_type, key_size, value_size, max_entries)
    attr[28:28 + len(name[:15])] = name[:15]
    return sys_bpf(BPF_MAP_CREATE, attr)


def map_update(fd: int, key: bytes, value: bytes, flags: int = 0) -> None:
    kb = ctypes.create_string_buffer(key, len(key))
    vb = ctypes.create_string_buffer(value, len(value))
    attr = bytearray(32)
    struct.pack_into("IIQQQ", attr, 0, fd, 0, _addr(kb), _addr(vb), flags)
    sys_bpf(BPF_MAP_UPDATE_ELEM, attr)


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes:
    kb = ctypes.create_string_buffer(key, len(key))
    vb = ctypes.create_string_buffer(value_size)
    attr = bytearray(32)
    struct.pack_into("IIQQ", attr, 0, fd, 0, _addr(kb), _addr(vb))
    sys_bpf(BPF_MAP_LOOKUP_ELEM, attr)
    return vb.raw


def prog_load(prog_type: int, insns: bytes, license: bytes, fd_array: Optional[List[int]] = None,
              flags: int = 0, name: bytes = b"", log_size: int = 0):
    ib = ctypes.create_string_buffer(insns, len(insns))
    lb = ctypes.create_string_buffer(license)
    fa = (ctypes.c_int * max(1, len(fd_array or [])))(*(fd_array or []))
    log = ctypes.create_string_buffer(log_size) if log_size else None
    attr = bytearray(144)
    struct.pack_into("IIQQIIQII", attr, 0, prog_type, len(insns) // 8, _addr(ib), _addr(lb),
                     1 if log else 0, log_size, _addr(log) if log else 0, 0, flags)
    attr[48:48 + len(name[:15])] = name[:15]
    if fd_array:
        struct.pack_into("Q", attr, 120, _addr(fa))
    try:
        return sys_bpf(BPF_PROG_LOAD, attr)
    except BpfError as e:
        if log is not None:
            e.log = log.value.decode(errors="replace")
        raise


def prog_test_run(prog_fd: int, ctx: Optional[bytearray] = None, data: bytes = b"", repeat: int = 0):
    """BPF_PROG_TEST_RUN; returns (retval, data_out)."""
    attr = bytearray(80)
    din = ctypes.create_string_buffer(data, len(data)) if data else None
    dout = ctypes.create_string_buffer(len(data) + 256) if data else None
    cb = (ctypes.c_char * len(ctx)).from_buffer(ctx) if ctx is not None else None
    struct.pack_into("II", attr, 0, prog_fd, 0)
    if data:
        struct.pack_into("IIQQ", attr, 8, len(data), len(data) + 256, _addr(din), _addr(dout))
    struct.pack_into("I", attr, 32, repeat)
    if ctx is not None:
        struct.pack_into("I", attr, 40, len(ctx))
        struct.pack_into("Q", attr, 48, _addr(cb))
    sys_bpf(BPF_PROG_TEST_RUN, attr)
    retval, = struct.unpack_from("I", attr, 4)
    out = b""
    if data:
        out_size, = struct.unpack_from("I", attr, 12)
        out = dout.raw[:out_size]
    return retval, out


def obj_info(fd: int, size: int = 256) -> bytes:
    info = ctypes.create_string_buffer(size)
    attr = bytearray(16)
    struct.pack_into("IIQ", attr, 0, fd, size, _addr(info))
    sys_bpf(BPF_OBJ_GET_INFO_BY_FD, attr)
    return info.raw


def map_info(fd: int) -> dict:
    raw = obj_info(fd, 88)
    t, ident, ks, vs, me, fl = struct.unpack_from("IIIIII", raw, 0)
    name = raw[24:40].split(b"\0", 1)[0].decode()
    return {"type": t, "id": ident, "key_size": ks, "value_size": vs, "max_entries": me,
            "map_flags": fl, "name": name}


def prog_info(fd: int) -> dict:
    raw = obj_info(fd, 232)
    t, ident = struct.unpack_from("II", raw, 0)
    xlated_len, = struct.unpack_from("I", raw, 20)
    name = raw[64:80].split(b"\0", 1)[0].decode()
    return {"type": t, "id": ident, "xlated_insns": xlated_len // 8, "name": name}


# -- kconfig on the machine that loads -----------------------------------------------------------

def read_kconfig() -> Dict[str, str]:
    release = os.uname().release
    for path in (f"/boot/config-{release}", "/proc/config.gz"):
        try:
            raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
        except OSError:
            continue
        out = {}
        for line in raw.decode(errors="replace").splitlines():
            if line.startswith("CONFIG_") and "=" in line:
                k, v = line.split("=", 1)
                out[k] = v
        return out
    return {}


def kernel_version_code() -> int:
    # libbpf reads "%u.%u.%u" off the release: Debian's 6.12.57+deb13-amd64 is 6.12.57, not the
    # digits of "57+deb13"
    a, b, c = (int(x or 0) for x in re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", os.uname().release).groups())
    return (a << 16) | (b << 8) | min(c, 255)


def resolve_kconfig(loader: LoaderProgram, kconfig: Optional[Dict[str, str]] = None) -> Optional[bytes]:
    """The .kconfig map value for this machine (or for ``kconfig`` if given), per the contract."""
    if loader.kconfig_map is None:
        return None
    m = loader.maps[loader.kconfig_map]
    buf = bytearray(m.initial_value or bytes(m.value_size))
    values = read_kconfig() if kconfig is None else kconfig
    bo = "<" if loader.byteorder == "little" else ">"
    for v in loader.kconfig:
        if v.name == "LINUX_KERNEL_VERSION":
            val: object = kernel_version_code()
        elif v.name == "LINUX_HAS_BPF_COOKIE":
            val = 1
        elif v.name == "LINUX_HAS_SYSCALL_WRAPPER":
            val = 1
        elif v.name in values:
            val = values[v.name]
        elif v.kcfg_type in ("bool", "tristate"):
            val = "n"
        elif v.weak:
            continue
        else:
            raise LookupError(f"kconfig {v.name} not found on this machine")
        if isinstance(val, str):
            if v.kcfg_type in ("bool", "tristate", "char") and val in ("y", "n", "m"):
                val = {"bool": {"y": 1, "n": 0}, "tristate": {"n": 0, "y": 1, "m": 2},
                       "char": {"y": ord("y"), "n": ord("n"), "m": ord("m")}}[v.kcfg_type][val]
            elif v.kcfg_type == "char_array":
                s = val.strip('"').encode()[:v.size - 1]
                buf[v.offset:v.offset + v.size] = s.ljust(v.size, b"\0")
                continue
            else:
                val = int(val, 0)
        fmt = {1: "b", 2: "h", 4: "i", 8: "q"}[v.size]
        fmt = fmt if v.signed else fmt.upper()
        struct.pack_into(bo + fmt, buf, v.offset, val)
    return bytes(buf)


def possible_cpus() -> int:
    text = open("/sys/devices/system/cpu/possible").read().strip()
    n = 0
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        n += int(hi or lo) - int(lo) + 1
    return n


def run_loader(loader: LoaderProgram, *, load: Optional[Dict[str, int]] = None,
               max_entries: Optional[Dict[str, int]] = None,
               initial_values: Optional[Dict[str, bytes]] = None,
               kconfig: Optional[Dict[str, str]] = None, log_size: int = 1 << 20) -> Loaded:
    """Run ``loader`` per the contract; on failure rerun with a log and raise LoadFailed."""
    try:
        return _run(loader, load, max_entries, initial_values, kconfig, 0)
    except LoadFailed as e:
        btf_failed = e.op is not None and e.op.kind == "load_btf"
    return _run(loader, load, max_entries, initial_values, kconfig, log_size, no_btf_log=not btf_failed)


def run_raw_loader(insns: bytes, blob: bytes, ctx: bytearray) -> int:
    """Steps 1, 2, 5 and 6 of the contract (the same for libbpf's loaders): returns retval."""
    map_fd = map_create(2, 4, len(blob), 1, b"__loader.map")
    prog_fd = -1
    try:
        map_update(map_fd, b"\0\0\0\0", blob)
        attr = bytearray(8)
        struct.pack_into("I", attr, 0, map_fd)
        sys_bpf(BPF_MAP_FREEZE, attr)
        prog_fd = prog_load(31, insns, b"Dual BSD/GPL", [map_fd], flags=1 << 4,
                            name=b"__loader.prog", log_size=1 << 22)
        retval, _ = prog_test_run(prog_fd, ctx)
        return struct.unpack("i", struct.pack("I", retval))[0]
    finally:
        os.close(map_fd)
        if prog_fd >= 0:
            os.close(prog_fd)


def _run(loader, load, max_entries, initial_values, kconfig, log_size, no_btf_log=False) -> Loaded:
    keep = []
    ctx = bytearray(loader.ctx_size)
    struct.pack_into("I", ctx, 0, loader.ctx_size)
    log = ctypes.create_string_buffer(log_size) if log_size else None
    if log is not None:
        struct.pack_into("IIQ", ctx, CTX_LOG_LEVEL, 1, log_size, _addr(log))
    if no_btf_log:
        struct.pack_into("I", ctx, CTX_FLAGS, CTX_FLAG_NO_BTF_LOG)
    for i, m in enumerate(loader.maps):
        me = (max_entries or {}).get(m.name)
        if me is None and m.type == 4 and m.max_entries == 0:
            me = possible_cpus()
        if me:
            struct.pack_into("I", ctx, map_desc_offset(i) + 4, me)
        value = (initial_values or {}).get(m.name)
        if value is None and i == loader.kconfig_map:
            value = resolve_kconfig(loader, kconfig)
        if value is not None:
            b = ctypes.create_string_buffer(value, len(value))
            keep.append(b)
            struct.pack_into("Q", ctx, map_desc_offset(i) + 8, _addr(b))
    for j, p in enumerate(loader.progs):
        if load and p.name in load:
            struct.pack_into("I", ctx, prog_desc_offset(len(loader.maps), j) + 4, load[p.name])
    ret = run_raw_loader(loader.insns_bytes(), loader.blob, ctx)
    if ret < 0:
        step, = struct.unpack_from("I", ctx, CTX_ERROR_STEP)
        raise LoadFailed(-ret, step, loader.op_for_step(step),
                         log.value.decode(errors="replace") if log is not None else "")
    maps = {m.name: struct.unpack_from("i", ctx, map_desc_offset(i))[0] for i, m in enumerate(loader.maps)}
    progs = {p.name: struct.unpack_from("i", ctx, prog_desc_offset(len(loader.maps), j))[0]
             for j, p in enumerate(loader.progs)}
    return Loaded(loader, maps, progs)


def run_libbpf_loader(insns: bytes, blob: bytes, nr_maps: int, nr_progs: int):
    """Run a loader generated by libbpf (bpftool gen skeleton -L): its context is a 24-byte header,
    16 bytes per map and 4 per program. Returns (retval, map fds, prog fds)."""
    size = 24 + 16 * nr_maps + 4 * nr_progs
    ctx = bytearray(size)
    struct.pack_into("I", ctx, 0, size)
    ret = run_raw_loader(insns, blob, ctx)
    maps = [struct.unpack_from("i", ctx, 24 + 16 * i)[0] for i in range(nr_maps)]
    progs = [struct.unpack_from("i", ctx, 24 + 16 * nr_maps + 4 * j)[0] for j in range(nr_progs)]
    return ret, maps, progs


def kernel_ids() -> Dict[str, set]:
    """Ids of every map and program now in the kernel (listing takes no reference)."""
    out = {}
    for kind, cmd in (("maps", BPF_MAP_GET_NEXT_ID), ("progs", BPF_PROG_GET_NEXT_ID)):
        ids, cur = set(), 0
        while True:
            attr = bytearray(12)
            struct.pack_into("I", attr, 0, cur)
            try:
                sys_bpf(cmd, attr)
            except BpfError:
                break
            cur, = struct.unpack_from("I", attr, 4)
            ids.add(cur)
        out[kind] = ids
    return out


def _name_of(kind: str, ident: int) -> Optional[str]:
    attr = bytearray(12)
    struct.pack_into("I", attr, 0, ident)
    try:
        fd = sys_bpf(14 if kind == "maps" else 13, attr)  # BPF_{MAP,PROG}_GET_FD_BY_ID
    except BpfError:
        return None
    try:
        return (map_info if kind == "maps" else prog_info)(fd)["name"]
    finally:
        os.close(fd)


def leftover_objects(before: Dict[str, set], names, wait: float = 10.0) -> list:
    """Maps/programs created since ``before`` that carry one of ``names`` and do not go away.

    The kernel frees closed programs after an RCU grace period (sleepable ones after an
    RCU-tasks-trace one) and their maps with them, so we first wait for the new ids to vanish,
    touching none of them: taking an fd by id on a PROG_ARRAY that is being released races with
    its deferred clean-up in the kernel and leaks it. Only ids still there after ``wait`` seconds
    (other processes' objects, or real leaks) are looked up by name."""
    wanted = {n[:15] for n in names}
    deadline = time.monotonic() + wait
    while True:
        now = kernel_ids()
        new = {kind: now[kind] - before[kind] for kind in now}
        if not any(new.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return [(kind, i, n) for kind in new for i in sorted(new[kind])
            if (n := _name_of(kind, i)) in wanted]


def open_fds() -> set:
    return set(os.listdir("/proc/self/fd"))


def raw_tracepoint_open(name: Optional[bytes], prog_fd: int) -> int:
    nb = ctypes.create_string_buffer(name) if name is not None else None
    attr = bytearray(16)
    struct.pack_into("QI", attr, 0, _addr(nb) if nb is not None else 0, prog_fd)
    return sys_bpf(BPF_RAW_TRACEPOINT_OPEN, attr)


def map_by_ident(opened, ident: str):
    return next(m for m in opened.maps if m.ident == ident)


def global_vars(opened, ident: str) -> Dict[str, tuple]:
    """{variable: (offset, size)} of a global-data map (``bss``, ``rodata``, ...), from BTF."""
    sec = opened.btf.get(map_by_ident(opened, ident).value_type_id)
    return {opened.btf.type(v.type).name: (v.offset, v.size) for v in sec.secinfo}


def read_globals(loaded: "Loaded", opened, ident: str) -> Dict[str, bytes]:
    m = map_by_ident(opened, ident)
    value = map_lookup(loaded.map_fds[m.name], bytes(4), m.value_size)
    return {n: value[o:o + s] for n, (o, s) in global_vars(opened, ident).items()}


def with_global(opened, ident: str, **values: bytes) -> bytes:
    """The initial value of a global-data map with some variables replaced."""
    m = map_by_ident(opened, ident)
    buf = bytearray(m.initial_value)
    layout = global_vars(opened, ident)
    for name, raw in values.items():
        off, size = layout[name]
        buf[off:off + size] = raw.ljust(size, b"\0")
    return bytes(buf)


def u64(b: bytes) -> int:
    return int.from_bytes(b[:8], "little")


def s32(b: bytes) -> int:
    return int.from_bytes(b[:4], "little", signed=True)
