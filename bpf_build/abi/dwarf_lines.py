"""The file table of a unit's line program header: the files DW_AT_decl_file numbers, DWARF 2-5.

A unit of a C library names every header it included (libbpf's units name ~20 each), and bpf-abi
asks for a few of them: the unit's own source and the headers its exported functions and reached
types are declared in. So the table is read in two steps: the header is walked once, keeping where
each file's name and directory index are; a file's path is decoded, joined to its directory and
normalised when it is first asked for (FileTable), which made ~2/3 of reading the tables.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

from .dwarf_forms import Reader, form_size

if TYPE_CHECKING:
    from .dwarf import CompileUnit

DW_LNCT_PATH, DW_LNCT_DIRECTORY_INDEX = 1, 2
# A DWARF 5 entry's field: (form, where its value is), or None when the entry format lacks it.
Field = Optional[Tuple[int, int]]
# A file: where its name is and its directory index (DWARF < 5), its path and directory index
# fields (5), or None (DWARF < 5's file 0).
Entry = Union[None, Tuple[int, int], Tuple[Field, Field]]


class FileTable:
    """DW_AT_decl_file index -> absolute path when the unit says where it was compiled (None for
    DWARF < 5's index 0, which names no file)."""

    def __init__(self, unit: "CompileUnit", comp_dir: str, directories: List[str],
                 entries: List[Entry], version: int, line: Reader):
        self.unit, self.comp_dir, self.directories = unit, comp_dir, directories
        self.entries, self.version, self.line = entries, version, line
        self.paths: Dict[int, Optional[str]] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> Optional[str]:
        """The path of file ``index`` (0 <= index < len(self))."""
        if index in self.paths:
            return self.paths[index]
        path = self.paths[index] = self._path(self.entries[index])
        return path

    def _path(self, entry) -> Optional[str]:
        if entry is None:
            return None
        dirs, comp_dir = self.directories, self.comp_dir
        if self.version < 5:
            name_at, directory = entry
            name = self.line.cstring(name_at)[0]
            return _join(comp_dir, dirs[directory] if directory < len(dirs) else "", name)
        path_field, directory_field = entry
        path, directory = self._value(path_field, b""), self._value(directory_field, 0)
        return _join(comp_dir, dirs[directory] if isinstance(directory, int) and directory < len(dirs) else "", path)

    def _value(self, field: Field, default: Union[bytes, int]):
        return default if field is None else self.unit.form_value(field[0], field[1], 0, self.line)[0]


def read_file_table(line: Reader, offset: int, comp_dir: str, unit: "CompileUnit") -> FileTable:
    r = line
    length, pos = r.uint(offset, 4), offset + 4
    offset_size = 4
    if length == 0xFFFFFFFF:
        pos, offset_size = pos + 8, 8
    del length
    version = r.uint(pos, 2)
    pos += 2
    if version >= 5:
        pos += 2  # address_size, segment_selector_size
    pos += offset_size  # header_length
    pos += 1 + (1 if version >= 4 else 0) + 3  # min_inst_length, max_ops, default_is_stmt, line_base, range
    opcode_base = r.uint(pos, 1)
    pos += opcode_base  # the opcode_base byte and standard_opcode_lengths
    entries: List[Entry] = []
    if version < 5:
        dirs = [comp_dir]
        while True:
            name, pos = r.cstring(pos)
            if not name:
                break
            dirs.append(name.decode("utf-8", "replace"))
        entries.append(None)  # DWARF < 5 counts files from 1
        while True:
            name_at = pos
            name, pos = r.cstring(pos)
            if not name:
                break
            directory, pos = r.uleb(pos)
            _, pos = r.uleb(pos)
            _, pos = r.uleb(pos)
            entries.append((name_at, directory))
        return FileTable(unit, comp_dir, dirs, entries, version, r)
    dir_fields, pos = _entry_fields(r, pos, unit)
    dirs = []
    for path_field, _ in dir_fields:
        path = unit.form_value(path_field[0], path_field[1], 0, r)[0] if path_field is not None else b""
        dirs.append(os.path.join(comp_dir, path.decode("utf-8", "replace")))
    file_fields, pos = _entry_fields(r, pos, unit)
    entries.extend(file_fields)
    return FileTable(unit, comp_dir, dirs, entries, version, r)


def _entry_fields(r: Reader, pos: int, unit: "CompileUnit") -> Tuple[List[Tuple[Field, Field]], int]:
    """A DWARF 5 directory or file name table: its format, then where each entry's path and
    directory index are (a later field of the same kind wins, as when every value was decoded)."""
    format_count = r.uint(pos, 1)
    pos += 1
    formats = []
    for _ in range(format_count):
        content, pos = r.uleb(pos)
        form, pos = r.uleb(pos)
        formats.append((content, form))
    layout = (unit.offset_size, unit.address_size, unit.version, r.endian)
    sizes = [form_size(form, layout) for _, form in formats]
    count, pos = r.uleb(pos)
    entries = []
    for _ in range(count):
        path: Field = None
        directory: Field = None
        for (content, form), size in zip(formats, sizes):
            if content == DW_LNCT_PATH:
                path = (form, pos)
            elif content == DW_LNCT_DIRECTORY_INDEX:
                directory = (form, pos)
            pos = pos + size if size is not None else unit.form_value(form, pos, 0, r)[1]
        entries.append((path, directory))
    return entries, pos


def _join(comp_dir: str, directory: str, name: bytes) -> str:
    text = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
    return os.path.normpath(os.path.join(comp_dir, directory, text))
