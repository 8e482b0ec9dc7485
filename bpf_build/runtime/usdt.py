"""USDT probes (``SEC("usdt/...")`` programs built on libbpf's ``<bpf/usdt.bpf.h>``).

A USDT probe is a ``nop`` in a binary plus an ELF note in ``.note.stapsdt`` (type 3, owner
"stapsdt"): the nop's address, the link-time address of ``.stapsdt.base``, the address of an
optional semaphore (a u16 the program tests before preparing costly arguments), then
"provider\\0name\\0args\\0", where args are ``SIZE@LOCATION`` items as the assembler printed
them: ``-4@%eax`` (register), ``8@-16(%rbp)`` (memory at register + offset), ``4@$5`` (constant);
a negative size means signed.

Attaching does what the BPF side of usdt.bpf.h expects: each probe's arguments become a
``struct __bpf_usdt_spec`` in the object's ``__bpf_usdt_specs`` array (filled through the
skeleton's ctypes type of it, so field layout follows the header the object was built with), a
uprobe at the nop's file offset carries the spec's index as its BPF cookie, and the semaphore's
file offset goes to the kernel as the uprobe's reference counter, which then raises it while the
probe is attached. The spec's usdt_cookie is what ``bpf_usdt_cookie()`` returns.

Arguments are decoded for x86-64 (the registers' offsets in ``struct pt_regs``); scaled-index
memory operands (``8@(%rax,%rbx,8)``) and other architectures are refused by name.
"""

from __future__ import annotations

import ctypes
import platform
import re
import struct
import weakref
from typing import TYPE_CHECKING, Any, List, NamedTuple, Optional, Sequence

from . import elfsym
from .errors import AttachError, NotSupportedError
from .links import Link, LinkGroup

if TYPE_CHECKING:
    from .maps import Map
    from .program import Program

    # The object's __bpf_usdt_specs: slot index -> struct __bpf_usdt_spec (the skeleton's ctypes type).
    SpecsMap = Map[int, Any]

NT_STAPSDT = 3
SPECS_MAP = "__bpf_usdt_specs"
ARG_CONST, ARG_REG, ARG_REG_DEREF = 0, 1, 2
MAX_ARGS = 12

# offsetof(struct pt_regs, reg) on x86-64, for every name a register is printed under.
_X86_64_PT_REGS = {"r15": 0, "r14": 8, "r13": 16, "r12": 24, "rbp": 32, "rbx": 40, "r11": 48, "r10": 56,
                   "r9": 64, "r8": 72, "rax": 80, "rcx": 88, "rdx": 96, "rsi": 104, "rdi": 112, "rip": 128,
                   "rsp": 152}
_X86_ALIASES = {"eax": "rax", "ax": "rax", "al": "rax", "ebx": "rbx", "bx": "rbx", "bl": "rbx",
                "ecx": "rcx", "cx": "rcx", "cl": "rcx", "edx": "rdx", "dx": "rdx", "dl": "rdx",
                "esi": "rsi", "si": "rsi", "sil": "rsi", "edi": "rdi", "di": "rdi", "dil": "rdi",
                "ebp": "rbp", "bp": "rbp", "bpl": "rbp", "esp": "rsp", "sp": "rsp", "spl": "rsp"}
_X86_ALIASES.update({f"r{n}{suffix}": f"r{n}" for n in range(8, 16) for suffix in ("d", "w", "b")})

_ARG = re.compile(r"^(-?\d+)@(.+)$")
_DEREF = re.compile(r"^(-?(?:0x[0-9a-fA-F]+|\d+))?\(%(\w+)\)$")


class UsdtNote(NamedTuple):
    provider: str
    name: str
    file_offset: int       # of the nop, for the uprobe
    semaphore_offset: int  # file offset of the u16 semaphore; 0: none
    args: str


class ArgSpec(NamedTuple):
    kind: int              # ARG_CONST / ARG_REG / ARG_REG_DEREF
    value: int             # the constant, or the memory offset from the register
    reg_off: int           # offsetof(struct pt_regs, register)
    signed: bool
    bitshift: int          # 64 - 8 * size: clears (or sign-extends) what the argument does not use


def read_notes(path: str) -> List[UsdtNote]:
    """Every USDT note of the ELF file ``path``."""
    return elfsym.read_elf(path, _notes)


def _notes(data: elfsym.Image, path: str) -> List[UsdtNote]:
    lay, sections, shstrndx = elfsym.section_headers(data, path)
    names = {elfsym.section_name(data, sections, shstrndx, sh): sh for sh in sections}
    note = names.get(".note.stapsdt")
    if note is None:
        return []
    base_section = names.get(".stapsdt.base")
    bo = "<" if data[5] == 1 else ">"
    word = struct.Struct(bo + ("QQQ" if data[4] == 2 else "III"))
    header = struct.Struct(bo + "III")
    out = []
    pos, end = note[4], note[4] + note[5]
    while pos + header.size <= end:
        namesz, descsz, kind = header.unpack_from(data, pos)
        owner_at = pos + header.size
        desc_at = owner_at + (namesz + 3) // 4 * 4
        pos = desc_at + (descsz + 3) // 4 * 4
        if kind != NT_STAPSDT or bytes(data[owner_at:owner_at + namesz]).rstrip(b"\0") != b"stapsdt":
            continue
        address, base, semaphore = word.unpack_from(data, desc_at)
        if base_section is not None and base:
            address += base_section[3] - base  # the binary was prelinked: move with its base
        provider, name, args = bytes(data[desc_at + word.size:desc_at + descsz]).split(b"\0")[:3]
        offset = elfsym.address_to_file_offset(sections, address)
        if offset is None:
            raise AttachError(f"{path}: USDT {provider.decode()}:{name.decode()} at {address:#x} lies in no section")
        out.append(UsdtNote(provider.decode(), name.decode(), offset,
                            elfsym.address_to_file_offset(sections, semaphore) or 0 if semaphore else 0,
                            args.decode()))
    return out


def parse_args(args: str, where: str) -> List[ArgSpec]:
    """The argument string of a note, decoded for this machine's ``struct pt_regs``."""
    if platform.machine() != "x86_64":
        raise NotSupportedError(f"{where}: USDT arguments are decoded for x86-64 only, not {platform.machine()}")
    specs = []
    for item in args.split():
        match = _ARG.match(item)
        if match is None:
            raise NotSupportedError(f"{where}: USDT argument '{item}' is not SIZE@LOCATION")
        size, location = int(match.group(1)), match.group(2)
        if abs(size) not in (1, 2, 4, 8):
            raise NotSupportedError(f"{where}: USDT argument '{item}' has size {size}")
        shift = 64 - 8 * abs(size)
        if location.startswith("$"):
            specs.append(ArgSpec(ARG_CONST, int(location[1:], 0), 0, size < 0, shift))
        elif location.startswith("%"):
            specs.append(ArgSpec(ARG_REG, 0, _reg_off(location[1:], item, where), size < 0, shift))
        else:
            deref = _DEREF.match(location)
            if deref is None:
                raise NotSupportedError(f"{where}: USDT argument '{item}': this memory operand form is not supported")
            offset = int(deref.group(1), 0) if deref.group(1) else 0
            specs.append(ArgSpec(ARG_REG_DEREF, offset, _reg_off(deref.group(2), item, where), size < 0, shift))
    if len(specs) > MAX_ARGS:
        raise NotSupportedError(f"{where}: {len(specs)} USDT arguments, usdt.bpf.h reads at most {MAX_ARGS}")
    return specs


def _reg_off(register: str, item: str, where: str) -> int:
    name = _X86_ALIASES.get(register, register)
    if name not in _X86_64_PT_REGS:
        raise NotSupportedError(f"{where}: USDT argument '{item}': unknown register %{register}")
    return _X86_64_PT_REGS[name]


class _SpecSlots:
    """Slots of one ``__bpf_usdt_specs`` map: handed out by attach, given back when the links close."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.free: List[int] = []
        self.next = 0

    def take(self, where: str) -> int:
        if self.free:
            return self.free.pop()
        if self.next >= self.capacity:
            raise AttachError(f"{where}: all {self.capacity} USDT spec slots are in use "
                              "(BPF_USDT_MAX_SPEC_CNT sizes __bpf_usdt_specs)")
        self.next += 1
        return self.next - 1


_slots: "weakref.WeakKeyDictionary[SpecsMap, _SpecSlots]" = weakref.WeakKeyDictionary()


def write_spec(specs_map: SpecsMap, args: List[ArgSpec], usdt_cookie: int, where: str) -> int:
    """Store one probe's spec in a free slot of ``__bpf_usdt_specs``; returns the slot."""
    spec_type = specs_map.value_type
    if spec_type is None or not hasattr(spec_type, "args"):
        raise AttachError(f"{where}: map '{specs_map.name}' has no struct __bpf_usdt_spec value type")
    slots = _slots.setdefault(specs_map, _SpecSlots(specs_map.max_entries))
    spec = spec_type()
    spec.usdt_cookie = usdt_cookie
    spec.arg_cnt = len(args)
    for slot, arg in zip(spec.args, args):
        slot.val_off = arg.value & (2**64 - 1)
        slot.arg_type = arg.kind
        slot.reg_off = arg.reg_off
        slot.arg_signed = arg.signed
        _set_small_int(slot, "arg_bitshift", arg.bitshift)
    spec_id = slots.take(where)
    specs_map[spec_id] = spec
    return spec_id


def release_specs(specs_map: SpecsMap, spec_ids: List[int]) -> None:
    """The slots of detached probes become free again."""
    slots = _slots.get(specs_map)
    if slots is not None:
        slots.free.extend(spec_ids)


class UsdtLink(LinkGroup):
    """The uprobes of one USDT attach; closing them frees their spec slots."""

    def __init__(self, links: Sequence[Link], spec_ids: List[int], specs_map: SpecsMap, description: str):
        super().__init__(links, description)
        self.spec_ids, self.specs_map = spec_ids, specs_map

    def close(self) -> None:
        super().close()
        release_specs(self.specs_map, self.spec_ids)
        self.spec_ids = []


def _set_small_int(record: Any, field: str, value: int) -> None:
    """A C ``char`` field is ctypes' c_char, which takes one byte, not an int."""
    setattr(record, field, bytes([value]) if dict(type(record)._fields_)[field] is ctypes.c_char else value)


def find_notes(path: str, provider: str, name: str) -> List[UsdtNote]:
    notes = [n for n in read_notes(path) if n.provider == provider and n.name == name]
    if not notes:
        raise AttachError(f"{path}: no USDT probe {provider}:{name}")
    return notes


def specs_map_of(prog: Program, where: str) -> SpecsMap:
    specs: Optional[SpecsMap] = getattr(prog, "usdt_specs", None)
    if specs is None:
        raise AttachError(f"{where}: the program's object has no {SPECS_MAP} map; include <bpf/usdt.bpf.h> "
                          "and load it through its skeleton")
    return specs
