"""freplace programs (BPF_PROG_TYPE_EXT): a program that takes the place of a global function of
another program already in the kernel, as libbpf's ``bpf_program__set_attach_target`` and
``bpf_program__attach_freplace`` do.

The target is only known where the object loads: a program fd and a function of that program.
The caller gives it before load (``skel.progs.NAME.attach_target = (target_prog_fd, "func")``;
``SEC("freplace/func")`` gives the default function name). Before the loader runs, ``func_btf_id``
finds the function in the target program's BTF (BPF_OBJ_GET_INFO_BY_FD gives the program's BTF
id, BPF_BTF_GET_FD_BY_ID opens it, BPF_OBJ_GET_INFO_BY_FD on that fd reads it back) and
``fill_load_attr`` writes the target's fd and the function's id into the program's BPF_PROG_LOAD
attr in the blob, which the loader passes on untouched (attach_prog_fd shares its place with
attach_btf_obj_fd). The kernel then checks the match (a global function of a program with BTF,
the same prototype) and its verifier log says why when it refuses.

An extension only runs while a link holds it: BPF_LINK_CREATE on the program with target_fd =
the target program and target_btf_id = the function (runtime/attach.py ``freplace``). Naming the
target each time lets a program attach again after its link closed, or to another target. The
setting keeps the target's fd number, not the target: it must stay open until then.

Standard library only, Python 3.9.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any, NamedTuple, Optional, Tuple

from . import btf_types as T
from . import syscall
from .errors import BpfRuntimeError
from .loader_contract import PROG_LOAD_ATTR
from .uapi import Cmd

SECTION_PREFIX = "freplace/"
# BPF_PROG_LOAD: attach_prog_fd is the union member that attach_btf_obj_fd also names.
ATTACH_PROG_FD = "attach_btf_obj_fd"


class FreplaceTarget(NamedTuple):
    """What an freplace program replaces: a function of a loaded program."""
    prog_fd: int
    func_name: str
    btf_id: int  # of the function's FUNC in the target program's BTF


def setting(value: Any, where: str) -> Tuple[int, Optional[str]]:
    """The ``attach_target`` setting as (fd, function name or None): a program fd, an object
    with ``fileno()`` (a loaded Program), or a pair of one of those and the function's name."""
    name: Optional[str] = None
    target = value
    if isinstance(value, tuple):
        if len(value) != 2 or not isinstance(value[1], str) or not value[1]:
            raise TypeError(f"{where}: attach_target is (target program or fd, \"function name\"), got {value!r}")
        target, name = value
    if hasattr(target, "fileno"):
        target = target.fileno()
    if isinstance(target, bool) or not isinstance(target, int) or target <= 0:
        raise TypeError(f"{where}: attach_target needs the target program (or its fd), got {target!r}")
    return target, name


def default_func_name(section: str) -> Optional[str]:
    """The function SEC("freplace/NAME") replaces unless the caller names another."""
    if not section.startswith(SECTION_PREFIX):
        return None
    return section[len(SECTION_PREFIX):] or None


def resolve(value: Any, section: str, where: str) -> FreplaceTarget:
    """The target an ``attach_target`` setting (None: not set) names, with its function's BTF id."""
    if value is None:
        raise BpfRuntimeError(f"{where} is an freplace program: set its attach_target = (target_prog_fd, "
                              "\"function\") before load, the program whose function it replaces")
    fd, name = setting(value, where)
    name = name or default_func_name(section)
    if not name:
        raise BpfRuntimeError(f"{where}: attach_target names no function and SEC(\"{section}\") none either: "
                              "set attach_target = (target_prog_fd, \"function\")")
    return FreplaceTarget(fd, name, func_btf_id(fd, name, where))


def read_prog_btf(prog_fd: int, where: str) -> T.BtfTypes:
    """The BTF a loaded program was loaded with, read back from the kernel."""
    info = syscall.ProgInfo()
    syscall.obj_info(prog_fd, info, f"{where}: get info of target program fd {prog_fd}")
    if not info.btf_id:
        raise BpfRuntimeError(f"{where}: the target program (fd {prog_fd}) has no BTF; freplace needs a target "
                              "compiled with -g and loaded with its BTF")
    btf_fd = syscall.get_fd_by_id(Cmd.BTF_GET_FD_BY_ID, info.btf_id, f"{where}: open BTF {info.btf_id} of the target")
    try:
        btf_info = syscall.BtfInfo()
        syscall.obj_info(btf_fd, btf_info, f"{where}: get info of BTF {info.btf_id}")
        data = ctypes.create_string_buffer(btf_info.btf_size)
        btf_info = syscall.BtfInfo(btf=ctypes.addressof(data), btf_size=len(data))
        syscall.obj_info(btf_fd, btf_info, f"{where}: read BTF {info.btf_id}")
    finally:
        os.close(btf_fd)
    return T.BtfTypes(data.raw, f"BTF {info.btf_id} of the target program")


def func_btf_id(prog_fd: int, func_name: str, where: str) -> int:
    """The id of FUNC ``func_name`` in the BTF of the program ``prog_fd`` (libbpf's
    libbpf_find_prog_btf_id)."""
    btf = read_prog_btf(prog_fd, where)
    for type_id in range(1, len(btf)):  # a program's BTF is small: no index
        if btf.kind(type_id) == T.KIND_FUNC and btf.name(type_id) == func_name:
            return type_id
    raise BpfRuntimeError(f"{where}: the target program (fd {prog_fd}) has no function '{func_name}' in its "
                          "BTF (only global functions of programs compiled with -g can be replaced)")


def fill_load_attr(blob: bytearray, attr_offset: int, target: FreplaceTarget) -> None:
    """Write the target into the program's BPF_PROG_LOAD attr in the loader's blob."""
    PROG_LOAD_ATTR.write(blob, attr_offset, ATTACH_PROG_FD, target.prog_fd)
    PROG_LOAD_ATTR.write(blob, attr_offset, "attach_btf_id", target.btf_id)
