"""Names from an object never become code: hostile names in real objects, all three skeleton kinds.

Objects are compiled by clang (section names can hold anything) or rewritten in memory with our
own ELF/BTF model (map, program, variable and BTF names). A name either becomes a checked
identifier, or an escaped string or comment, or the skeleton is refused with one error naming the
file, the entity and the name. What is generated is compiled (gcc; the light header as C and C++)
or imported, and a payload that would create a marker file proves nothing ran.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys

import pytest

from bpf_build.model.elf import Object
from bpf_build.errors import BpfBuildError
from bpf_build.skel import c as c_skel
from bpf_build.skel import light_c, python as py_skel
from bpf_build.headers import include_dir

GENERATORS = {"c": c_skel.generate, "light": light_c.generate, "python": py_skel.generate}
CLI_KIND = {"c": [], "light": ["--light"], "python": ["--lang", "python"]}
SUFFIX = {"c": ".skel.h", "light": ".lskel.h", "python": "_skel.py"}

# Each would break out of an identifier, a string, a comment or a docstring if pasted raw.
HOSTILE = ["id\nprint(9)#", 'x"y', "a*/b", 't"""u', "caf\u00e9", "bad\udcff", "1abc", "x y"]

PLAIN_C = r"""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>

    enum color { RED, GREEN };
    struct event { int pid; char comm[8]; enum color color; };

    struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, 8);
        __type(key, __u32);
        __type(value, struct event);
    } events SEC(".maps");

    int counter;
    struct { int inner_x; } anon_global;
    extern unsigned int CONFIG_HZ __kconfig __weak;

    SEC("tracepoint/syscalls/sys_enter_getpid")
    int on_getpid(void *ctx)
    {
        __u32 key = 0;
        struct event *e = bpf_map_lookup_elem(&events, &key);

        if (e) {
            counter += e->pid;
            e->color = GREEN;
        }
        anon_global.inner_x += CONFIG_HZ;
        return 0;
    }

    char LICENSE[] SEC("license") = "GPL";
"""


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bpf_build.cli.main", *args],
                          capture_output=True, text=True, cwd=cwd)


def compile_header(header: str, tmp_path, lang: str, include_dirs=()) -> None:
    """The header compiles on its own, warnings as errors (as C, or as C++)."""
    compiler = shutil.which("gcc" if lang == "c" else "g++")
    if compiler is None:
        pytest.skip(f"{'gcc' if lang == 'c' else 'g++'} not installed")
    src = tmp_path / ("use.c" if lang == "c" else "use.cpp")
    src.write_text(f'#include "{header}"\nint main(void) {{ return 0; }}\n')
    proc = subprocess.run([compiler, "-fsyntax-only", "-Wall", "-Werror", "-Wno-unused-function",
                           *(f"-I{d}" for d in include_dirs), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def import_module(path, tmp_path) -> subprocess.CompletedProcess:
    """Import the generated module in a fresh interpreter (what a user of the package does)."""
    name = os.path.basename(path)[:-3]
    return subprocess.run([sys.executable, "-c", f"import {name}; print(repr({name}.__doc__))"],
                          cwd=os.path.dirname(path), capture_output=True, text=True)


def in_memory(obj_path: str, tmp_path) -> Object:
    """The object read back, renamed so that errors and the embedded ELF come from the model."""
    obj = Object.read(obj_path)
    obj.path = str(tmp_path / "hostile.bpf.o")
    return obj


# -- strings and comments: section names (clang writes any bytes into a section name) ---------------

@pytest.fixture
def payload_object(compile_c, tmp_path):
    marker = tmp_path / "PWNED"
    payload = f"\\n\\\"\\\"\\\"*/ import os; os.system('touch {marker}') # \\\\ ??/ */"
    source = PLAIN_C.replace('SEC("tracepoint/syscalls/sys_enter_getpid")',
                             f'SEC("tracepoint/syscalls/sys_enter_getpid{payload}")')
    source = source.replace('char LICENSE', 'SEC("raw_tp/x\\"y\\nimport os")\n'
                            "    int on_raw(void *ctx) { return counter; }\n\n    char LICENSE")
    return compile_c(source, name="payload"), marker


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_section_names_are_escaped_and_nothing_runs(kind, payload_object, tmp_path):
    obj_path, marker = payload_object
    out = tmp_path / f"payload{SUFFIX[kind]}"
    proc = run_cli("skel", *CLI_KIND[kind], obj_path, "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="ascii")  # every escape is ASCII
    if kind == "python":
        got = subprocess.run([sys.executable, "-c", "import payload_skel as m; "
                              "print(ascii([p.section for p in m.payload_bpf._loader_.progs]))"],
                             cwd=tmp_path, capture_output=True, text=True)
        assert got.returncode == 0, got.stderr
        sections = [s.name for s in Object.read(obj_path).sections if s.name.startswith(("tracepoint/", "raw_tp/"))]
        assert got.stdout.strip() == ascii(sections)     # the strings read back exactly
    elif kind == "light":
        assert '"syscalls/sys_enter_getpid\\012\\"\\"\\"*/' in text   # C escapes, not raw bytes
        compile_header(str(out), tmp_path, "c", [include_dir()])
        compile_header(str(out), tmp_path, "c++", [include_dir()])
    else:
        compile_header(str(out), tmp_path, "c")
    assert not marker.exists()


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_section_and_file_names_that_are_not_utf8_are_escaped(kind, compile_c, tmp_path):
    """A name read with surrogate escapes (a byte that is not UTF-8) is written as that byte's
    escape, never as a surrogate the output encoding cannot write."""
    obj = in_memory(compile_c(PLAIN_C, name="plain"), tmp_path)
    obj.path = str(tmp_path / "bad\udcfe.bpf.o")
    for section in obj.sections:
        if "tracepoint/" in section.name:
            section.name += '\udcff"\n'
    text = GENERATORS[kind](obj, "plain_bpf")
    text.encode("ascii")
    if kind == "light":
        assert '"syscalls/sys_enter_getpid\\377\\"\\012"' in text
    if kind == "python":
        assert "'tracepoint/syscalls/sys_enter_getpid\\udcff\"\\n'" in text


def test_hostile_object_file_name_in_the_docstring(compile_c, tmp_path):
    marker = tmp_path / "PWNED"
    weird = tmp_path / 'x"""\nimport os; os.system("touch PWNED")#.bpf.o'  # imported with cwd=tmp_path
    shutil.copy(compile_c(PLAIN_C, name="plain"), weird)
    out = tmp_path / "weird_skel.py"
    proc = run_cli("skel", "--lang", "python", str(weird), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    got = import_module(str(out), tmp_path)
    assert got.returncode == 0, got.stderr
    assert not marker.exists()
    assert "import os" in got.stdout  # the name is in the docstring, as text


# -- identifiers: names rewritten in the object are refused ---------------------------------------

def rename_symbol(obj: Object, old: str, new: str) -> None:
    sym = obj.symbol(old)
    assert sym is not None, old
    sym.name = new


def rename_btf(obj: Object, old: str, new: str) -> None:
    found = False
    for t in obj.btf.types:
        if t.name == old:
            t.name, found = new, True
        for m in getattr(t, "members", None) or []:
            if m.name == old:
                m.name, found = new, True
        for e in getattr(t, "enums", None) or []:
            if e.name == old:
                e.name, found = new, True
    assert found, old


def rename_program(obj, name):
    rename_symbol(obj, "on_getpid", name)


def rename_map(obj, name):
    rename_symbol(obj, "events", name)
    rename_btf(obj, "events", name)


def rename_variable(obj, name):
    rename_symbol(obj, "counter", name)
    rename_btf(obj, "counter", name)


def rename_anonymous_member(obj, name):
    rename_btf(obj, "inner_x", name)


def rename_struct(obj, name):
    rename_btf(obj, "event", name)


def rename_enumerator(obj, name):
    rename_btf(obj, "GREEN", name)


def rename_member(obj, name):
    rename_btf(obj, "comm", name)


# entity -> (rewrite, kinds that render it, words the error names it by)
ENTITIES = {
    "program": (rename_program, ("c", "light", "python"), "program"),
    "map": (rename_map, ("c", "light", "python"), "map"),
    "variable": (rename_variable, ("c", "light", "python"), "variable"),
    "anonymous member": (rename_anonymous_member, ("c", "light", "python"), "member"),
    "struct": (rename_struct, ("python",), "type"),
    "member": (rename_member, ("python",), "member"),
    "enumerator": (rename_enumerator, ("python",), "enumerator"),
}
CASES = [(e, k) for e, (_, kinds, _) in ENTITIES.items() for k in kinds]


@pytest.mark.parametrize("entity, kind", CASES, ids=[f"{e}-{k}" for e, k in CASES])
def test_hostile_names_are_refused_naming_file_entity_and_name(entity, kind, compile_c, tmp_path):
    rewrite, _, word = ENTITIES[entity]
    base = in_memory(compile_c(PLAIN_C, name="plain"), tmp_path)
    for name in HOSTILE:
        obj = copy.deepcopy(base)
        rewrite(obj, name)
        with pytest.raises(BpfBuildError) as info:
            GENERATORS[kind](obj, "plain_bpf")
        message = info.value.one_line()
        assert message.startswith(f"{obj.path}: "), message
        assert repr(name) in message and word in message, message
        assert "\n" not in message


def test_cli_refuses_a_hostile_program_name_in_one_line(compile_c, tmp_path):
    obj = Object.read(compile_c(PLAIN_C, name="plain"))
    rename_program(obj, "id\nprint(9)#")
    hostile = tmp_path / "hostile.bpf.o"
    obj.write(str(hostile))
    for kind in GENERATORS:
        out = tmp_path / f"hostile{SUFFIX[kind]}"
        proc = run_cli("skel", *CLI_KIND[kind], str(hostile), "-o", str(out))
        assert proc.returncode == 1, (kind, proc.stdout)
        assert proc.stderr.startswith(f"error: {hostile}: ") and proc.stderr.count("\n") == 1, proc.stderr
        assert "'id\\nprint(9)#'" in proc.stderr and "Traceback" not in proc.stderr
        assert not out.exists()


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_hostile_skeleton_name_is_refused(kind, compile_c, tmp_path):
    obj_path = compile_c(PLAIN_C, name="plain")
    out = tmp_path / f"x{SUFFIX[kind]}"
    proc = run_cli("skel", *CLI_KIND[kind], obj_path, "--name", "x; import os", "-o", str(out))
    assert proc.returncode == 1
    assert proc.stderr == f"error: {obj_path}: skeleton name 'x; import os' is not a valid " \
                          f"{'identifier' if kind == 'python' else 'C identifier'}\n"
    assert not out.exists()


# -- keywords and leading underscores: valid names that must still give working output -------------

@pytest.mark.parametrize("file_name", ["int.bpf.o", "class.bpf.o", "__x.bpf.o", "int.o", "class.o", "__x.o"])
def test_keyword_and_underscore_object_names_build(file_name, compile_c, tmp_path):
    obj = tmp_path / file_name
    shutil.copy(compile_c(PLAIN_C, name="plain"), obj)
    for kind in GENERATORS:
        out = tmp_path / f"out_{kind}{SUFFIX[kind]}"
        proc = run_cli("skel", *CLI_KIND[kind], str(obj), "-o", str(out))
        assert proc.returncode == 0, proc.stderr
        if kind == "python":
            got = import_module(str(out), tmp_path)
            assert got.returncode == 0, got.stderr
        elif kind == "light":
            compile_header(str(out), tmp_path, "c", [include_dir()])
            compile_header(str(out), tmp_path, "c++", [include_dir()])
        else:
            compile_header(str(out), tmp_path, "c")
            compile_header(str(out), tmp_path, "c++")


@pytest.mark.parametrize("kind, name", [("c", "int"), ("light", "int"), ("c", "class"), ("light", "new")])
def test_keyword_given_as_c_skeleton_name_is_refused(kind, name, compile_c, tmp_path):
    obj_path = compile_c(PLAIN_C, name="plain")
    proc = run_cli("skel", *CLI_KIND[kind], obj_path, "--name", name)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith(f"error: {obj_path}: skeleton name '{name}' is a C")


def test_python_keyword_skeleton_name_gets_an_underscore(compile_c, tmp_path):
    out = tmp_path / "kw_skel.py"
    proc = run_cli("skel", "--lang", "python", compile_c(PLAIN_C, name="plain"), "--name", "class", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    got = subprocess.run([sys.executable, "-c", "import kw_skel; print(kw_skel.class_._name_)"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert got.returncode == 0 and got.stdout == "class\n", got.stderr
