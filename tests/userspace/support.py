"""What the user-space load path tests compare: maps and programs as the kernel reports them
(BPF_OBJ_GET_INFO_BY_FD), and libbpf 1.1 loading the same object through ctypes (the oracle for
CO-RE relocation)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
from ctypes import c_char, c_uint32, c_uint64
from typing import Dict, Iterator, List, Tuple

from bpf_build.runtime import syscall
from bpf_build.runtime.uapi import Cmd

LIBBPF = "/usr/lib/x86_64-linux-gnu/libbpf.so.1"


class ProgInfo(ctypes.Structure):
    """struct bpf_prog_info up to nr_line_info (the runtime's own stops at name)."""
    _fields_ = [("type", c_uint32), ("id", c_uint32), ("tag", ctypes.c_uint8 * 8),
                ("jited_prog_len", c_uint32), ("xlated_prog_len", c_uint32),
                ("jited_prog_insns", c_uint64), ("xlated_prog_insns", c_uint64), ("load_time", c_uint64),
                ("created_by_uid", c_uint32), ("nr_map_ids", c_uint32), ("map_ids", c_uint64),
                ("name", c_char * 16), ("ifindex", c_uint32), ("gpl_compatible", c_uint32),
                ("netns_dev", c_uint64), ("netns_ino", c_uint64), ("nr_jited_ksyms", c_uint32),
                ("nr_jited_func_lens", c_uint32), ("jited_ksyms", c_uint64), ("jited_func_lens", c_uint64),
                ("btf_id", c_uint32), ("func_info_rec_size", c_uint32), ("func_info", c_uint64),
                ("nr_func_info", c_uint32), ("nr_line_info", c_uint32)]


def _prog_info(fd: int, **buffers) -> ProgInfo:
    info = ProgInfo(**buffers)
    syscall.obj_info(fd, info, "prog info")
    return info


def map_info(fd: int) -> dict:
    info = syscall.MapInfo()
    syscall.obj_info(fd, info, "map info")
    return {"type": info.type, "key_size": info.key_size, "value_size": info.value_size,
            "max_entries": info.max_entries, "map_flags": info.map_flags, "name": info.name,
            "has_btf": info.btf_id != 0, "btf_key_type_id": info.btf_key_type_id,
            "btf_value_type_id": info.btf_value_type_id}


def _map_info_by_id(map_id: int) -> dict:
    fd = syscall.get_fd_by_id(Cmd.MAP_GET_FD_BY_ID, map_id, "map by id")
    try:
        return map_info(fd)
    finally:
        os.close(fd)


def xlated(fd: int) -> List[Tuple[int, int, int, int, object]]:
    """The program as the verifier left it, one (code, regs, off, imm) per instruction, with map
    references (ids, different on every load) replaced by the map's type and value size."""
    first = _prog_info(fd)
    size, nr_maps = first.xlated_prog_len, first.nr_map_ids
    buf = ctypes.create_string_buffer(size)
    ids = (c_uint32 * max(nr_maps, 1))()
    _prog_info(fd, xlated_prog_len=size, xlated_prog_insns=ctypes.addressof(buf),
               nr_map_ids=nr_maps, map_ids=ctypes.addressof(ids))
    maps = {}
    out = []
    raw = buf.raw[:size]
    for code, regs, off, imm in struct.iter_unpack("<BBhi", raw):
        item: object = imm
        if code == 0x18 and (regs >> 4) in (1, 2) and imm > 0:
            if imm not in maps:
                info = _map_info_by_id(imm)
                maps[imm] = ("map", info["type"], info["value_size"])
            item = maps[imm]
        out.append((code, regs, off, imm if item is imm else 0, item))
    return out


def prog_summary(fd: int) -> dict:
    info = _prog_info(fd)
    return {"type": info.type, "name": info.name, "nr_map_ids": info.nr_map_ids,
            "has_btf": info.btf_id != 0, "nr_func_info": info.nr_func_info,
            "nr_line_info": info.nr_line_info, "gpl_compatible": info.gpl_compatible & 1,
            "xlated": xlated(fd)}


@contextlib.contextmanager
def libbpf_loaded(path: str, btf_custom_path: str = "") -> Iterator[Dict[str, int]]:
    """libbpf 1.1 opens and loads ``path`` (its own CO-RE, against /sys/kernel/btf/vmlinux or
    the raw BTF at ``btf_custom_path``); yields program name -> fd; everything is closed on exit."""
    lib = ctypes.CDLL(LIBBPF)
    lib.libbpf_set_print.argtypes = [ctypes.c_void_p]
    lib.libbpf_set_print(None)
    lib.bpf_object__open_file.restype = ctypes.c_void_p
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.bpf_object__load.argtypes = [ctypes.c_void_p]
    lib.bpf_object__close.argtypes = [ctypes.c_void_p]
    lib.bpf_object__next_program.restype = ctypes.c_void_p
    lib.bpf_object__next_program.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.bpf_program__name.restype = ctypes.c_char_p
    lib.bpf_program__name.argtypes = [ctypes.c_void_p]
    lib.bpf_program__fd.argtypes = [ctypes.c_void_p]
    opts = _OpenOpts(sz=ctypes.sizeof(_OpenOpts), btf_custom_path=btf_custom_path.encode() or None)
    obj = lib.bpf_object__open_file(path.encode(), ctypes.byref(opts))
    if not obj:
        raise OSError(ctypes.get_errno(), f"libbpf cannot open {path}")
    try:
        err = lib.bpf_object__load(obj)
        if err:
            raise OSError(-err, f"libbpf cannot load {path}: {os.strerror(-err)}")
        progs, prog = {}, lib.bpf_object__next_program(obj, None)
        while prog:
            progs[lib.bpf_program__name(prog).decode()] = lib.bpf_program__fd(prog)
            prog = lib.bpf_object__next_program(obj, prog)
        yield progs
    finally:
        lib.bpf_object__close(obj)


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


VM_KERNEL_IMAGES = os.path.join(os.environ.get("BPF_BUILD_VM_CACHE", os.path.expanduser("~/.cache/bpf-build/vm-kernels")))


def kernel_images() -> Dict[str, str]:
    """Kernel series -> vmlinuz that scripts/vmtest.py fetched (Debian's 5.10, 6.1, 6.12)."""
    import glob
    found = {}
    for path in sorted(glob.glob(os.path.join(VM_KERNEL_IMAGES, "*", "package", "boot", "vmlinuz-*"))):
        found[path.split(os.sep)[-4]] = path
    return found


def btf_of_kernel_image(vmlinuz: str) -> bytes:
    """The .BTF section of a compressed kernel image (bzImage: xz or zstd payload, then ELF)."""
    import lzma
    import subprocess
    with open(vmlinuz, "rb") as f:
        image = f.read()
    xz, zstd = image.find(b"\xfd7zXZ\x00"), image.find(b"\x28\xb5\x2f\xfd")
    if xz >= 0:
        elf = lzma.LZMADecompressor().decompress(image[xz:])
    elif zstd >= 0:
        elf = subprocess.run(["zstd", "-dcq"], input=image[zstd:], capture_output=True).stdout
    else:
        raise ValueError(f"{vmlinuz}: no xz or zstd payload")
    assert elf[:4] == b"\x7fELF", f"{vmlinuz}: the payload is not an ELF image"
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]
    for name_off, _, _, _, offset, size in headers:
        name = elf[names_at + name_off:elf.index(b"\0", names_at + name_off)]
        if name == b".BTF":
            return elf[offset:offset + size]
    raise ValueError(f"{vmlinuz}: no .BTF section")


class _OpenOpts(ctypes.Structure):
    """struct bpf_object_open_opts of libbpf 1.1."""
    _fields_ = [("sz", ctypes.c_size_t), ("object_name", ctypes.c_char_p), ("relaxed_maps", ctypes.c_bool),
                ("pin_root_path", ctypes.c_char_p), ("_removed", c_uint32), ("kconfig", ctypes.c_char_p),
                ("btf_custom_path", ctypes.c_char_p), ("kernel_log_buf", ctypes.c_char_p),
                ("kernel_log_size", ctypes.c_size_t), ("kernel_log_level", c_uint32)]
