"""Reading a loader program back: the bpf() commands it will issue, in order (`loader explain`).

The reader follows the loader's instructions symbolically — registers hold constants, pointers
into the blob, or "the result of operation k" — and decodes every bpf() command from the attr it
passes, so it reads libbpf's loaders (bpftool gen skeleton -L) as well as ours. It also finds the
loader a light skeleton header embeds.
"""

from __future__ import annotations

import re
import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import LoaderError, PathLike
from ..model import btf as B
from ..model.insn import ALU64, DW, JA, JMP, JNE, MOV, PSEUDO_MAP_IDX_VALUE, R1, R2, R3, R4, R6, R10, B as SZ_B, H, W, X
from ..model.insn import Insn, decode
from ..runtime.loader_contract import CTX_HEADER_SIZE, CTX_MAP_SIZE, MAP_DESC_FD
from ..runtime.uapi import BPF_OBJ_NAME_LEN, Cmd, Helper, MapType, ProgType, map_type_name, prog_type_name

Operation = Dict[str, Any]
_ALU, _LDX, _ST, _STX = 0x04, 0x01, 0x02, 0x03
_LOAD_FORMATS: Dict[int, str] = {W: "I", DW: "Q", H: "H", SZ_B: "B"}
# An freplace program's target is a program of the loading machine: no loader step finds it.
_FREPLACE_TARGET = " (attach target: target program fd and function BTF id filled in by the runner)"


STRUCT_OPS_F_LINK = 1 << 13  # BPF_F_LINK: a .struct_ops.link map


def struct_ops_shape(key_size: int, max_entries: int, map_flags: int) -> str:
    """A struct_ops map's shape: its value is the kernel's, so its size is only known at load;
    the runner writes it at attach (the loader only creates the map), which registers a legacy
    map and readies a .struct_ops.link one for its link."""
    attach = "then a link registers it" if map_flags & STRUCT_OPS_F_LINK else "which registers it"
    return f"{map_type_name(MapType.STRUCT_OPS)} {key_size}/(kernel value) x{max_entries}" + \
        (f" flags {map_flags:#x}" if map_flags else "") + \
        f" (value: the runner's, with the programs' fds, written at attach, {attach})"


def arena_shape(max_entries: int, map_flags: int, map_extra: int) -> str:
    """An arena's shape: pages, and where user space sees it (map_extra 0: the runner chooses)."""
    where = f"at {map_extra:#x}" if map_extra else "user address chosen by the runner"
    return f"{map_type_name(MapType.ARENA)} x{max_entries} pages" + \
        (f" flags {map_flags:#x}" if map_flags else "") + f" ({where})"


def kernel_name(name: str) -> str:
    """A map or program name as the kernel keeps it (its NUL takes the last of BPF_OBJ_NAME_LEN
    bytes): the loader's steps name maps this way."""
    return name[:BPF_OBJ_NAME_LEN - 1]


def reuse_text(name: str) -> str:
    """A pinned map's reuse_map step: taken from the runner, if it gives an fd, instead of created."""
    return f"reuse pinned map \"{kernel_name(name)}\" if the runner gives its fd"


class _Sym:
    """What a register or memory slot holds: "const", "blob" (an offset), "result" (an index of
    an earlier operation) or "unknown"."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: int = 0) -> None:
        self.kind, self.value = kind, value


_UNKNOWN = _Sym("unknown")


def describe_loader(insns: Sequence[Insn], blob: bytes, byteorder: str = "little",
                    path: PathLike = None) -> List[str]:
    """The operations a loader performs, in order, one line each (see ``LoaderOp.text``)."""
    return [op["text"] for op in read_loader(insns, blob, byteorder, path)]


def read_loader(insns: Sequence[Insn], blob: bytes, byteorder: str = "little",
                path: PathLike = None) -> List[Operation]:
    """The operations a loader performs, in order: dicts with ``text`` and ``what`` ("btf", "map",
    "update", "freeze", "prog", "btf_id", "ksym", "copy", "reuse"), plus, for maps, ``name``, ``map_type``,
    ``key_size``, ``value_size``, ``max_entries``, ``map_flags``, and for programs ``name``,
    ``prog_type``, ``expected_attach_type``, ``prog_flags``, ``insn_cnt`` — as written in the
    blob (runtime overrides such as a context's max_entries are not seen)."""
    return _LoaderReader(blob, byteorder, path).run(insns)


class _LoaderReader:
    def __init__(self, blob: bytes, byteorder: str, path: PathLike) -> None:
        self.blob, self.path = blob, path
        self.bo = "<" if byteorder == "little" else ">"
        self.regs: Dict[int, _Sym] = {r: _UNKNOWN for r in range(11)}
        self.mem: Dict[Tuple[str, int], _Sym] = {}  # ("blob"|"stack", offset) -> value stored there
        self.results: List[Operation] = []          # per bpf()/lookup call: what it was
        self.lines: List[Operation] = []
        self.pending_copy: Dict[int, bool] = {}     # blob offsets a runner-supplied value lands on
        self.reuse_checked: Dict[int, Operation] = {}  # map index -> its reuse line (named at the end)

    # -- the blob --------------------------------------------------------------------------------
    def u(self, fmt: str, off: int) -> int:
        try:
            return int(struct.unpack_from(self.bo + fmt, self.blob, off)[0])
        except struct.error:
            raise LoaderError(self.path, f"loader reads blob offset {off}, past its {len(self.blob)} bytes") from None

    def field(self, attr_off: int, off: int, fmt: str = "I") -> _Sym:
        stored = self.mem.get(("blob", attr_off + off))
        return stored if stored is not None else _Sym("const", self.u(fmt, attr_off + off))

    def cstr(self, off: int, limit: int = 256) -> str:
        end = self.blob.find(b"\0", off, off + limit)
        return self.blob[off:end if end >= 0 else off + limit].decode(errors="replace")

    def who(self, sym: _Sym) -> Optional[Operation]:
        return self.results[sym.value] if sym.kind == "result" and sym.value < len(self.results) else None

    def map_name(self, sym: _Sym) -> str:
        r = self.who(sym)
        return f"\"{r['name']}\"" if r and r["what"] == "map" else "?"

    # -- bpf() commands --------------------------------------------------------------------------
    def decode_bpf(self, cmd: int, attr: int) -> Operation:
        u = self.u
        if cmd == Cmd.MAP_CREATE:
            mtype, ks, vs, me, fl = (u("I", attr + o) for o in (0, 4, 8, 12, 16))
            name = self.cstr(attr + 28, 16)
            shape = f"{map_type_name(mtype)} {ks}/{vs} x{me}" + (f" flags {fl:#x}" if fl else "")
            if mtype == MapType.STRUCT_OPS:
                shape = struct_ops_shape(ks, me, fl)
            elif mtype == MapType.ARENA:
                shape = arena_shape(me, fl, u("Q", attr + 64))
            return {"what": "map", "name": name, "map_type": mtype, "key_size": ks, "value_size": vs,
                    "max_entries": me, "map_flags": fl, "text": f"create map \"{name}\" {shape}"}
        if cmd == Cmd.MAP_UPDATE_ELEM:
            target = self.field(attr, 0)
            key, value = self.field(attr, 8, "Q"), self.field(attr, 16, "Q")
            k = u("I", key.value) if key.kind == "blob" else "?"
            stored = self.mem.get(("blob", value.value)) if value.kind == "blob" else None
            r = self.who(target)
            v = self.who(stored) if stored is not None else None
            if v:
                what = f"{v['what']} \"{v['name']}\""
            else:
                what = f"{r['value_size']} bytes" if r and r["what"] == "map" else "?"
            return {"what": "update", "text": f"update map {self.map_name(target)} [{k}] = {what}"}
        if cmd == Cmd.MAP_FREEZE:
            return {"what": "freeze", "text": f"freeze map {self.map_name(self.field(attr, 0))}"}
        if cmd == Cmd.PROG_LOAD:
            ptype, cnt = u("I", attr), u("I", attr + 4)
            name = self.cstr(attr + 48, 16)
            return {"what": "prog", "name": name, "prog_type": ptype, "insn_cnt": cnt,
                    "expected_attach_type": u("I", attr + 68), "prog_flags": u("I", attr + 44),
                    "text": f"load prog \"{name}\" {prog_type_name(ptype)} {cnt} insns"
                            + (_FREPLACE_TARGET if ptype == ProgType.EXT else "")}
        if cmd == Cmd.BTF_LOAD:
            return {"what": "btf", "text": f"load BTF ({u('I', attr + 16)} bytes)"}
        return {"what": "bpf", "text": f"bpf command {cmd}"}

    def record(self, op: Operation) -> _Sym:
        self.results.append(op)
        self.lines.append(op)
        return _Sym("result", len(self.results) - 1)

    def call(self, helper: int) -> None:
        regs = self.regs
        if helper == Helper.SYS_BPF and regs[R1].kind == "const" and regs[R2].kind == "blob":
            op = self.decode_bpf(regs[R1].value, regs[R2].value)
            if op["what"] == "update":
                value = self.field(regs[R2].value, 16, "Q")
                if value.kind == "blob" and self.pending_copy.pop(value.value, False):
                    name = op["text"].split(" ")[2]
                    self.lines.append({"what": "copy", "text": f"copy initial value of {name} from the runner"})
            regs[0] = self.record(op)
        elif helper == Helper.BTF_FIND_BY_NAME_KIND and regs[R1].kind == "blob":
            kind = regs[R3].value if regs[R3].kind == "const" else 0
            name = self.cstr(regs[R1].value)
            regs[0] = self.record({"what": "btf_id", "name": name,
                                   "text": f"find kernel BTF id of {B.KIND_NAMES.get(kind, kind)} \"{name}\""})
        elif helper == Helper.KALLSYMS_LOOKUP_NAME and regs[R1].kind == "blob":
            name = self.cstr(regs[R1].value)
            regs[0] = self.record({"what": "ksym", "name": name,
                                   "text": f"find address of ksym \"{name}\" (kallsyms)"})
        else:
            if helper in (Helper.COPY_FROM_USER, Helper.PROBE_READ_KERNEL) and regs[R1].kind == "blob":
                self.pending_copy[regs[R1].value] = True
            regs[0] = _UNKNOWN
        for r in (R1, R2, R3, R4, 5):
            regs[r] = _UNKNOWN

    # -- instructions ----------------------------------------------------------------------------
    def run(self, insns: Sequence[Insn]) -> List[Operation]:
        regs, mem = self.regs, self.mem
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
            elif i.cls in (ALU64, _ALU):
                regs[i.dst] = _UNKNOWN
            elif i.cls == _LDX:
                base = regs[i.src]
                if i.src == R10:
                    regs[i.dst] = mem.get(("stack", i.off), _UNKNOWN)
                elif base.kind == "blob":
                    off = base.value + i.off
                    stored = mem.get(("blob", off))
                    regs[i.dst] = stored if stored is not None else _Sym("const", self.u(_LOAD_FORMATS[i.code & 0x18],
                                                                                        off))
                elif i.src == R6 and i.code & 0x18 == W and i.off >= CTX_HEADER_SIZE \
                        and (i.off - CTX_HEADER_SIZE) % CTX_MAP_SIZE == MAP_DESC_FD:
                    regs[i.dst] = _Sym("ctx_map_fd", (i.off - CTX_HEADER_SIZE) // CTX_MAP_SIZE)
                else:
                    regs[i.dst] = _UNKNOWN
            elif i.cls == JMP and i.op == JNE and not i.code & X and i.imm == 0 \
                    and regs[i.dst].kind == "ctx_map_fd" and regs[i.dst].value not in self.reuse_checked:
                # our loaders' reuse of a pinned map the runner supplies (the first test of its fd)
                self.reuse_checked[regs[i.dst].value] = {"what": "reuse", "text": ""}
                self.lines.append(self.reuse_checked[regs[i.dst].value])
            elif i.cls in (_ST, _STX):
                value = _Sym("const", i.imm) if i.cls == _ST else regs[i.src]
                if i.dst == R10:
                    mem[("stack", i.off)] = value
                elif regs[i.dst].kind == "blob":
                    mem[("blob", regs[i.dst].value + i.off)] = value
            elif i.is_call and i.src == 0:
                self.call(i.imm)
            elif i.is_exit:
                break
            elif i.code == (JMP | JA):
                nxt = pc + 1 + i.off
            pc = nxt
        for index, line in self.reuse_checked.items():  # named by the map created into its fd slot
            created = self.who(mem.get(("blob", 4 * index), _UNKNOWN))
            line["name"] = created["name"] if created else "?"
            line["text"] = reuse_text(line["name"])
        return self.lines


def find_embedded_loader(text: str, path: PathLike = None) -> Tuple[List[Insn], bytes]:
    """The instructions and blob a light skeleton header embeds (ours or bpftool's): the C
    string literals named ``opts_insn`` and ``opts_data``."""

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
