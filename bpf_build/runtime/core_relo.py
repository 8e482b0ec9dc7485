"""CO-RE relocation in user space: patch a program's instructions for the running kernel's BTF.

Kernels before 5.17 cannot apply an object's CO-RE records themselves (``core_relos`` in
BPF_PROG_LOAD), so the user-space load path applies them here, with the semantics of libbpf's
relo_core.c (the kernel runs the same rules), so that the patched program is the one libbpf or
the kernel would load:

* candidates: target types whose name equals the local type's without its ``___flavor``, of a
  compatible kind; every matching candidate must give the same answer, else the relocation is
  ambiguous and refused;
* field relocations follow the access string ("0:1:2") through named members (anonymous
  members are searched recursively), array indices and flexible arrays; byte offset, byte size,
  existence, signedness and the two shifts of a bitfield read;
* type relocations (local/target id, existence, size, "matches") and enumerator relocations
  (existence, value);
* an unresolvable relocation turns its instruction into a call of the nonexistent helper
  0xbad2310: dead code the verifier drops, or a load that fails at that instruction.

Field and type answers on the object's side are checked against the value the compiler put in
the instruction before it is replaced (a mismatch means the records do not describe this code).
"""

from __future__ import annotations

import struct
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

from .btf_types import (INT_SIGNED, KIND_ARRAY, KIND_ENUM, KIND_ENUM64, KIND_FLOAT, KIND_FUNC_PROTO,
                        KIND_FWD, KIND_INT, KIND_NAMES, KIND_PTR, KIND_STRUCT, KIND_UNION, KIND_UNKN,
                        BtfTypes, essential_name)
from .errors import LoaderError
from .ints import s32 as _s32

(FIELD_BYTE_OFFSET, FIELD_BYTE_SIZE, FIELD_EXISTS, FIELD_SIGNED, FIELD_LSHIFT_U64, FIELD_RSHIFT_U64,
 TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, ENUMVAL_EXISTS, ENUMVAL_VALUE,
 TYPE_MATCHES) = range(13)

RELO_KIND_NAMES = ("byte_off", "byte_sz", "field_exists", "signed", "lshift_u64", "rshift_u64",
                   "local_type_id", "target_type_id", "type_exists", "type_size", "enumval_exists",
                   "enumval_value", "type_matches")
FIELD_KINDS = frozenset(range(FIELD_BYTE_OFFSET, FIELD_RSHIFT_U64 + 1))
TYPE_KINDS = frozenset({TYPE_ID_LOCAL, TYPE_ID_TARGET, TYPE_EXISTS, TYPE_SIZE, TYPE_MATCHES})
ENUMVAL_KINDS = frozenset({ENUMVAL_EXISTS, ENUMVAL_VALUE})

POISON_HELPER = 0xBAD2310   # "bad relo": the verifier names it if the instruction is reachable
MAX_SPEC_LEN = 64           # access string depth libbpf and the kernel accept
MAX_TYPE_DEPTH = 32         # recursion limit of the type comparisons

_CLASS_LD, _CLASS_LDX, _CLASS_ST, _CLASS_STX, _CLASS_ALU, _CLASS_ALU64 = 0x00, 0x01, 0x02, 0x03, 0x04, 0x07
_LD_IMM64 = 0x18
_CALL = 0x85
_SIZE_BYTES = {0x00: 4, 0x08: 2, 0x10: 1, 0x18: 8}
_BYTES_SIZE = {v: k for k, v in _SIZE_BYTES.items()}
_INSN = struct.Struct("<BBhi")

# (essential name, which target kinds are compatible) -> [(BTF to read it in, type id)]
ModuleCandidates = Callable[[str, Callable[[int], bool]], List[Tuple["BtfTypes", int]]]


class CoreRelo(NamedTuple):
    """One ``struct bpf_core_relo`` record: instruction byte offset, local type, access string."""
    insn_off: int
    type_id: int
    access_str_off: int
    kind: int


class _Access(NamedTuple):
    type_id: int         # the composite holding the member, or the array element type
    idx: int             # member number, array index or enumerator number
    name: Optional[str]  # member name; None for an array index


class _Spec:
    """Where an access string leads in one BTF: its named/indexed steps and the bit offset."""

    def __init__(self, btf: BtfTypes, root: int, kind: int):
        self.btf, self.root, self.kind = btf, root, kind
        self.access: List[_Access] = []
        self.raw: List[int] = []
        self.bit_offset = 0


class _Result(NamedTuple):
    orig: int
    new: int
    poison: bool = False
    validate: bool = True
    bad_size_change: bool = False   # only an LDX/ST/STX cares
    orig_size: int = 0
    new_size: int = 0


class _Unresolved(Exception):
    """The target has no answer: poison the instruction."""


class CoreError(LoaderError):
    pass


# -- type comparisons ---------------------------------------------------------------------------

def _any_enum(kind: int) -> bool:
    return kind in (KIND_ENUM, KIND_ENUM64)


def _kinds_compatible(a: int, b: int) -> bool:
    return a == b or (_any_enum(a) and _any_enum(b))


def _composite(kind: int) -> bool:
    return kind in (KIND_STRUCT, KIND_UNION)


def _names_compatible(local: BtfTypes, lid: int, target: BtfTypes, tid: int) -> bool:
    """Enums and forward declarations: equal essential names, or one of them anonymous."""
    a, b = essential_name(local.name(lid)), essential_name(target.name(tid))
    return not a or not b or a == b


def fields_compatible(local: BtfTypes, lid: int, target: BtfTypes, tid: int) -> bool:
    for _ in range(MAX_TYPE_DEPTH):
        lid, tid = local.skip_mods_and_typedefs(lid), target.skip_mods_and_typedefs(tid)
        lk, tk = local.kind(lid), target.kind(tid)
        if _composite(lk) and _composite(tk):
            return True
        if not _kinds_compatible(lk, tk):
            return False
        if lk in (KIND_PTR, KIND_FLOAT):
            return True
        if lk in (KIND_FWD, KIND_ENUM, KIND_ENUM64):
            return _names_compatible(local, lid, target, tid)
        if lk == KIND_INT:  # size and signedness may differ; old bitfield-style ints may not
            return local.int_offset(lid) == 0 and target.int_offset(tid) == 0
        if lk == KIND_ARRAY:
            lid, tid = local.array(lid)[0], target.array(tid)[0]
            continue
        return False
    raise CoreError(f"{local.what}: type {lid} nests too deeply to compare")


def types_compatible(local: BtfTypes, lid: int, target: BtfTypes, tid: int, level: int = MAX_TYPE_DEPTH) -> bool:
    if not _kinds_compatible(local.kind(lid), target.kind(tid)):
        return False
    for _ in range(MAX_TYPE_DEPTH):
        lid, tid = local.skip_mods_and_typedefs(lid), target.skip_mods_and_typedefs(tid)
        lk, tk = local.kind(lid), target.kind(tid)
        if not _kinds_compatible(lk, tk):
            return False
        if lk in (KIND_UNKN, KIND_STRUCT, KIND_UNION, KIND_ENUM, KIND_ENUM64, KIND_FWD):
            return True
        if lk == KIND_INT:
            return local.int_offset(lid) == 0 and target.int_offset(tid) == 0
        if lk == KIND_PTR:
            lid, tid = local.size_or_type(lid), target.size_or_type(tid)
        elif lk == KIND_ARRAY:
            lid, tid = local.array(lid)[0], target.array(tid)[0]
        elif lk == KIND_FUNC_PROTO:
            lparams, tparams = local.params(lid), target.params(tid)
            if len(lparams) != len(tparams):
                return False
            if level <= 0:
                raise CoreError(f"{local.what}: function type {lid} nests too deeply to compare")
            for lp, tp in zip(lparams, tparams):
                if not types_compatible(local, local.skip_mods_and_typedefs(lp), target,
                                        target.skip_mods_and_typedefs(tp), level - 1):
                    return False
            lid, tid = local.size_or_type(lid), target.size_or_type(tid)
        else:
            return False
    raise CoreError(f"{local.what}: type {lid} nests too deeply to compare")


def _names_match(lname: str, tname: str) -> bool:
    """types_match's name rule: both anonymous, or equal without their flavors."""
    if not tname:
        return not lname
    return essential_name(lname) == essential_name(tname)


def types_match(local: BtfTypes, lid: int, target: BtfTypes, tid: int, behind_ptr: bool = False,
                level: int = MAX_TYPE_DEPTH) -> bool:
    """bpf_core_type_matches(): a stricter, structural comparison (sizes, signedness, members by
    name, enumerators by name, array lengths, parameter lists)."""
    if level <= 0:
        raise CoreError(f"{local.what}: type {lid} nests too deeply to compare")
    for _ in range(MAX_TYPE_DEPTH):
        lid, tid = local.skip_mods_and_typedefs(lid), target.skip_mods_and_typedefs(tid)
        if not _names_match(local.name(lid), target.name(tid)):
            return False
        lk, tk = local.kind(lid), target.kind(tid)
        if lk == KIND_UNKN:
            return tk == KIND_UNKN
        if lk == KIND_FWD:
            union = local.kflag(lid)
            if tk == KIND_FWD:
                return union == target.kflag(tid)
            return behind_ptr and ((tk == KIND_STRUCT and not union) or (tk == KIND_UNION and union))
        if _any_enum(lk):
            if not _any_enum(tk) or local.size_or_type(lid) != target.size_or_type(tid):
                return False
            their_names = [e.name for e in target.enumerators(tid)]
            return all(any(_names_match(e.name, t) for t in their_names)
                       for e in local.enumerators(lid))
        if _composite(lk):
            if behind_ptr:
                return lk == tk or (tk == KIND_FWD and (lk == KIND_UNION) == target.kflag(tid))
            if lk != tk:
                return False
            theirs = target.members(tid)
            for m in local.members(lid):
                if not any(_names_match(m.name, t.name)
                           and types_match(local, m.type, target, t.type, behind_ptr, level - 1)
                           for t in theirs):
                    return False
            return True
        if lk != tk:
            return False
        if lk == KIND_INT:
            return (local.size_or_type(lid) == target.size_or_type(tid)
                    and local.int_encoding(lid) & INT_SIGNED == target.int_encoding(tid) & INT_SIGNED)
        if lk == KIND_PTR:
            behind_ptr = True
            lid, tid = local.size_or_type(lid), target.size_or_type(tid)
        elif lk == KIND_ARRAY:
            (lelem, _, ln), (telem, _, tn) = local.array(lid), target.array(tid)
            if ln != tn:
                return False
            lid, tid = lelem, telem
        elif lk == KIND_FUNC_PROTO:
            lparams, tparams = local.params(lid), target.params(tid)
            if len(lparams) != len(tparams):
                return False
            if not all(types_match(local, lp, target, tp, behind_ptr, level - 1)
                       for lp, tp in zip(lparams, tparams)):
                return False
            lid, tid = local.size_or_type(lid), target.size_or_type(tid)
        else:
            return False
    raise CoreError(f"{local.what}: type {lid} nests too deeply to compare")


# -- access specs -------------------------------------------------------------------------------

def _is_flex_array(btf: BtfTypes, outer: Optional[_Access], nelems: int) -> bool:
    """A zero-length array as the last member of its struct may be indexed past its end."""
    if outer is None or outer.name is None or nelems > 0:
        return False
    return outer.idx == btf.vlen(outer.type_id) - 1


def parse_spec(btf: BtfTypes, relo: CoreRelo) -> _Spec:
    access_str = btf.string(relo.access_str_off)
    spec = _Spec(btf, relo.type_id, relo.kind)
    btf.check(relo.type_id)
    if not access_str or access_str.startswith(":"):
        raise CoreError(f"bad access string {access_str!r}")
    if relo.kind in TYPE_KINDS:
        if access_str != "0":
            raise CoreError(f"type relocation with access string {access_str!r} (expected \"0\")")
        return spec
    try:
        spec.raw = [int(part) for part in access_str.split(":")]
    except ValueError:
        raise CoreError(f"bad access string {access_str!r}") from None
    if len(spec.raw) > MAX_SPEC_LEN:
        raise CoreError(f"access string {access_str!r} is deeper than {MAX_SPEC_LEN}")
    type_id = btf.skip_mods_and_typedefs(relo.type_id)
    first = spec.raw[0]
    if relo.kind in ENUMVAL_KINDS:
        if not _any_enum(btf.kind(type_id)) or len(spec.raw) > 1 or not 0 <= first < btf.vlen(type_id):
            raise CoreError(f"enumerator access {access_str!r} into type {relo.type_id}")
        spec.access.append(_Access(type_id, first, btf.enumerators(type_id)[first].name))
        return spec
    if relo.kind not in FIELD_KINDS:
        raise CoreError(f"unknown CO-RE relocation kind {relo.kind}")
    spec.access.append(_Access(type_id, first, None))
    spec.bit_offset = first * btf.resolve_size(type_id) * 8
    for index in spec.raw[1:]:
        type_id = btf.skip_mods_and_typedefs(type_id)
        kind = btf.kind(type_id)
        if _composite(kind):
            if not 0 <= index < btf.vlen(type_id):
                raise CoreError(f"member {index} of type {type_id} out of range in {access_str!r}")
            member = btf.members(type_id)[index]
            spec.bit_offset += member.bit_offset
            if member.name:
                spec.access.append(_Access(type_id, index, member.name))
            type_id = member.type
        elif kind == KIND_ARRAY:
            elem, _, nelems = btf.array(type_id)
            elem = btf.skip_mods_and_typedefs(elem)
            if not _is_flex_array(btf, spec.access[-1], nelems) and index >= nelems:
                raise CoreError(f"index {index} past array type {type_id} in {access_str!r}")
            spec.access.append(_Access(elem, index, None))
            spec.bit_offset += index * btf.resolve_size(elem) * 8
            type_id = elem
        else:
            raise CoreError(f"access string {access_str!r} steps into type {type_id} ({KIND_NAMES[kind]})")
    return spec


def _match_member(local: BtfTypes, access: _Access, target: BtfTypes, tid: int, spec: _Spec) -> Optional[int]:
    """Find the local member named by ``access`` in target composite ``tid`` (through anonymous
    members); extends ``spec`` and returns the member's type id, or None."""
    tid = target.skip_mods_and_typedefs(tid)
    if not _composite(target.kind(tid)):
        return None
    local_member = local.members(access.type_id)[access.idx]
    for i, m in enumerate(target.members(tid)):
        if len(spec.raw) >= MAX_SPEC_LEN:
            raise CoreError(f"target type {tid} nests deeper than {MAX_SPEC_LEN}")
        spec.bit_offset += m.bit_offset
        spec.raw.append(i)
        if not m.name:
            found = _match_member(local, access, target, m.type, spec)
            if found is not None:
                return found
        elif m.name == local_member.name:
            if fields_compatible(local, local_member.type, target, m.type):
                spec.access.append(_Access(tid, i, m.name))
                return m.type
            return None
        spec.bit_offset -= m.bit_offset
        spec.raw.pop()
    return None


def match_spec(local: _Spec, target: BtfTypes, tid: int) -> Optional[_Spec]:
    """The target spec of candidate ``tid`` for a local spec, or None if it does not match."""
    spec = _Spec(target, tid, local.kind)
    if local.kind in TYPE_KINDS:
        matches = types_match if local.kind == TYPE_MATCHES else types_compatible
        return spec if matches(local.btf, local.root, target, tid) else None
    if local.kind in ENUMVAL_KINDS:
        tid = target.skip_mods_and_typedefs(tid)
        if not _any_enum(target.kind(tid)):
            return None
        wanted = essential_name(local.access[0].name or "")
        for i, e in enumerate(target.enumerators(tid)):
            if essential_name(e.name) == wanted:
                spec.access.append(_Access(tid, i, e.name))
                spec.raw.append(i)
                return spec
        return None
    for n, access in enumerate(local.access):
        tid = target.skip_mods_and_typedefs(tid)
        if access.name is not None:
            found = _match_member(local.btf, access, target, tid, spec)
            if found is None:
                return None
            tid = found
            continue
        if n > 0:
            if target.kind(tid) != KIND_ARRAY:
                return None
            elem, _, nelems = target.array(tid)
            if not _is_flex_array(target, spec.access[-1] if spec.access else None, nelems) \
                    and access.idx >= nelems:
                return None
            tid = target.skip_mods_and_typedefs(elem)
        if len(spec.raw) >= MAX_SPEC_LEN:
            raise CoreError(f"target type {tid} nests deeper than {MAX_SPEC_LEN}")
        spec.access.append(_Access(tid, access.idx, None))
        spec.raw.append(access.idx)
        spec.bit_offset += access.idx * target.resolve_size(tid) * 8
    return spec


# -- values -------------------------------------------------------------------------------------

def _field_value(kind: int, spec: Optional[_Spec]) -> Tuple[int, int, int, bool]:
    """(value, load size, type id of the loaded field, whether the instruction must already
    hold the local value) of a field relocation in one BTF."""
    if kind == FIELD_EXISTS:
        return (1 if spec else 0), 0, 0, True
    if spec is None:
        raise _Unresolved()
    btf, last = spec.btf, spec.access[-1]
    if last.name is None:  # the field is an array element
        if kind == FIELD_BYTE_OFFSET:
            return spec.bit_offset // 8, btf.resolve_size(last.type_id), last.type_id, True
        if kind == FIELD_BYTE_SIZE:
            return btf.resolve_size(last.type_id), 0, 0, True
        raise CoreError(f"{RELO_KIND_NAMES[kind]} relocation of an array element")
    member = btf.members(last.type_id)[last.idx]
    field_type = btf.skip_mods_and_typedefs(member.type)
    bit_off, bit_size = spec.bit_offset, member.bitfield_size
    if bit_size:
        byte_size = btf.size_or_type(field_type)
        byte_off = bit_off // 8 // byte_size * byte_size
        while bit_off + bit_size - byte_off * 8 > byte_size * 8:
            if byte_size >= 8:
                raise CoreError(f"bitfield at bit {bit_off} cannot be read with one 64-bit load")
            byte_size *= 2
            byte_off = bit_off // 8 // byte_size * byte_size
    else:
        byte_size = btf.resolve_size(field_type)
        byte_off = bit_off // 8
        bit_size = byte_size * 8
    exact = not member.bitfield_size  # bitfield layouts are the compiler's guess: not checked
    if kind == FIELD_BYTE_OFFSET:
        return byte_off, (0 if member.bitfield_size else byte_size), (0 if member.bitfield_size else field_type), exact
    if kind == FIELD_BYTE_SIZE:
        return byte_size, 0, 0, exact
    if kind == FIELD_SIGNED:
        fk = btf.kind(field_type)
        signed = (_any_enum(fk) and btf.kflag(field_type)) or \
            (fk == KIND_INT and bool(btf.int_encoding(field_type) & INT_SIGNED))
        return int(signed), 0, 0, True
    if kind == FIELD_LSHIFT_U64:  # little-endian hosts only (the runtime loads on this machine)
        return 64 - (bit_off + bit_size - byte_off * 8), 0, 0, exact
    return 64 - bit_size, 0, 0, True  # FIELD_RSHIFT_U64


def _type_value(kind: int, spec: Optional[_Spec]) -> int:
    if spec is None:
        return 0
    if kind == TYPE_ID_TARGET:
        return spec.root
    if kind in (TYPE_EXISTS, TYPE_MATCHES):
        return 1
    return spec.btf.resolve_size(spec.root)  # TYPE_SIZE


def _enum_value(kind: int, spec: Optional[_Spec]) -> int:
    if kind == ENUMVAL_EXISTS:
        return 1 if spec else 0
    if spec is None:
        raise _Unresolved()
    access = spec.access[0]
    value = spec.btf.enumerators(access.type_id)[access.idx].value
    if spec.btf.kind(access.type_id) == KIND_ENUM:
        value = _s32(value)  # a 32-bit enumerator is an s32 to libbpf and the kernel, whatever the kflag says
    return value


def _unsigned_int(btf: BtfTypes, type_id: int) -> bool:
    return btf.kind(type_id) == KIND_INT and btf.int_encoding(type_id) != INT_SIGNED


def _result(kind: int, local: _Spec, target: Optional[_Spec]) -> _Result:
    try:
        if kind in FIELD_KINDS:
            orig, orig_size, orig_type, validate = _field_value(kind, local)
            new, new_size, new_type, _ = _field_value(kind, target)
            bad = False
            if orig_size != new_size and target is not None:
                # a smaller load is right for pointers (32-bit kernels) and unsigned integers
                # (zero extension keeps the value); anything else would read a wrong value
                lt, tt = local.btf, target.btf
                both_ptr = lt.kind(orig_type) == KIND_PTR and tt.kind(new_type) == KIND_PTR
                both_unsigned = _unsigned_int(lt, orig_type) and _unsigned_int(tt, new_type)
                bad = not (both_ptr or both_unsigned)
            return _Result(orig, new, False, validate, bad, orig_size, new_size)
        if kind in TYPE_KINDS:
            return _Result(_type_value(kind, local), _type_value(kind, target), validate=kind != TYPE_ID_TARGET)
        return _Result(_enum_value(kind, local), _enum_value(kind, target))
    except _Unresolved:
        return _Result(0, 0, poison=True)


def calc_relocation(relo: CoreRelo, local: BtfTypes, target: BtfTypes,
                    candidates: Dict[int, List[Tuple[BtfTypes, int]]],
                    modules: Optional[ModuleCandidates] = None) -> _Result:
    """What one record changes in its instruction. ``candidates`` caches, per local type id, the
    target types still in the running (pruned to the ones that matched, as libbpf does). Where
    ``target`` has none, ``modules`` is asked (kernel modules' BTF; the kernel's order too)."""
    local_spec = parse_spec(local, relo)
    if relo.kind == TYPE_ID_LOCAL:
        return _Result(relo.type_id, relo.type_id, validate=False)
    name = local.name(relo.type_id)
    if not name:
        raise CoreError(f"{RELO_KIND_NAMES[relo.kind]} relocation of an anonymous type ({relo.type_id}) "
                        "has no name to look up in the kernel")
    cands = candidates.get(relo.type_id)
    if cands is None:
        lkind = local.kind(relo.type_id)
        essential = essential_name(name)
        cands = [(target, t) for t in target.ids_with_essential_name(essential)
                 if _kinds_compatible(target.kind(t), lkind)]
        if not cands and modules is not None:
            cands = modules(essential, lambda kind: _kinds_compatible(kind, lkind))
        candidates[relo.type_id] = cands
    chosen: Optional[Tuple[_Result, _Spec]] = None
    matched = []
    for cand_btf, cand in cands:
        spec = match_spec(local_spec, cand_btf, cand)
        if spec is None:
            continue
        res = _result(relo.kind, local_spec, spec)
        if chosen is None:
            chosen = (res, spec)
        elif spec.bit_offset != chosen[1].bit_offset:
            raise CoreError(f"ambiguous: kernel types {chosen[1].root} and {cand} put the field at bit "
                            f"offsets {chosen[1].bit_offset} and {spec.bit_offset}")
        elif res.poison != chosen[0].poison or res.new != chosen[0].new:
            raise CoreError(f"ambiguous: kernel types {chosen[1].root} and {cand} give {chosen[0].new} "
                            f"and {res.new}")
        matched.append((cand_btf, cand))
    if chosen is None:
        return _result(relo.kind, local_spec, None)
    candidates[relo.type_id] = matched
    return chosen[0]


# -- patching -----------------------------------------------------------------------------------

def _poison(insns: bytearray, at: int) -> None:
    _INSN.pack_into(insns, at, _CALL, 0, 0, POISON_HELPER)


def patch_insn(insns: bytearray, index: int, res: _Result) -> None:
    """Apply one relocation result to instruction ``index`` (8-byte little-endian instructions)."""
    at = 8 * index
    if at + 8 > len(insns):
        raise CoreError(f"instruction #{index} is past the program's end")
    code, regs, off, imm = _INSN.unpack_from(insns, at)
    cls = code & 0x07
    if res.poison:
        if code == _LD_IMM64 and at + 16 <= len(insns):
            _poison(insns, at + 8)  # its second half too: "unknown opcode 00" would hide the cause
        _poison(insns, at)
        return
    if cls in (_CLASS_ALU, _CLASS_ALU64):
        if code & 0x08:
            raise CoreError(f"instruction #{index} (ALU) takes a register, not an immediate to relocate")
        if res.validate and imm & 0xFFFFFFFF != res.orig & 0xFFFFFFFF:
            raise CoreError(f"instruction #{index} (ALU) holds {imm}, the object's BTF says {res.orig}")
        _INSN.pack_into(insns, at, code, regs, off, _s32(res.new))
    elif cls in (_CLASS_LDX, _CLASS_ST, _CLASS_STX):
        if res.validate and off != res.orig:
            raise CoreError(f"instruction #{index} (memory access) has offset {off}, the object's BTF "
                            f"says {res.orig}")
        if res.new > 0x7FFF:
            raise CoreError(f"instruction #{index}: offset {res.new} does not fit an instruction")
        if res.bad_size_change:
            _poison(insns, at)  # loading a field of another type and size would read garbage
            return
        if res.new_size != res.orig_size:
            if _SIZE_BYTES[code & 0x18] != res.orig_size:
                raise CoreError(f"instruction #{index} loads {_SIZE_BYTES[code & 0x18]} bytes, the "
                                f"field has {res.orig_size}")
            if res.new_size not in _BYTES_SIZE:
                raise CoreError(f"instruction #{index}: the kernel's field has {res.new_size} bytes, "
                                "no load has that size")
            code = (code & ~0x18) | _BYTES_SIZE[res.new_size]
        _INSN.pack_into(insns, at, code, regs, res.new, imm)
    elif code == _LD_IMM64:
        if at + 16 > len(insns):
            raise CoreError(f"instruction #{index} (LD_IMM64) is cut short")
        code2, regs2, off2, imm2 = _INSN.unpack_from(insns, at + 8)
        if regs & 0xF0 or off or code2 or regs2 or off2:
            raise CoreError(f"instruction #{index} (LD_IMM64) has an unexpected form")
        value = (imm & 0xFFFFFFFF) | (imm2 & 0xFFFFFFFF) << 32
        if res.validate and value != res.orig & 0xFFFFFFFFFFFFFFFF:
            raise CoreError(f"instruction #{index} (LD_IMM64) holds {value}, the object's BTF says {res.orig}")
        new = res.new & 0xFFFFFFFFFFFFFFFF
        _INSN.pack_into(insns, at, code, regs, off, _s32(new & 0xFFFFFFFF))
        _INSN.pack_into(insns, at + 8, 0, 0, 0, _s32(new >> 32))
    else:
        raise CoreError(f"instruction #{index} (code {code:#x}) cannot be relocated")


def relocate(insns: bytearray, relos: Sequence[CoreRelo], local: BtfTypes, target: BtfTypes,
             what: str = "program", modules: Optional[ModuleCandidates] = None) -> None:
    """Apply every record to ``insns`` in place; raises CoreError naming the failing record.
    ``modules``: where to look when ``target`` (vmlinux) has no candidate for a type
    (module_btf.find_candidates for the running kernel)."""
    candidates: Dict[int, List[Tuple[BtfTypes, int]]] = {}
    for n, relo in enumerate(relos):
        if relo.insn_off % 8:
            raise CoreError(f"{what}: CO-RE record #{n} points inside an instruction ({relo.insn_off})")
        try:
            res = calc_relocation(relo, local, target, candidates, modules)
            patch_insn(insns, relo.insn_off // 8, res)
        except CoreError as e:
            kind = RELO_KIND_NAMES[relo.kind] if 0 <= relo.kind < len(RELO_KIND_NAMES) else str(relo.kind)
            raise CoreError(f"{what}: CO-RE relocation #{n} ({kind} of type [{relo.type_id}] "
                            f"{local.name(relo.type_id) or '<anon>'}, instruction #{relo.insn_off // 8}): "
                            f"{e.reason}") from None
