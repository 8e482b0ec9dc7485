"""vmlinux.h from the running kernel's BTF: compiles, reproduces the kernel's layouts, matches
bpftool's set and order of types, and serves a real CO-RE program that loads and runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from bpf_build.btf.c import CWriter, render_header

from tests.btf_c.btfc_helpers import VMLINUX, clang_check, layout_asserts, short_way_spells_as_the_general_walk
from tests.skel_c import userland


def test_header_compiles_for_bpf_with_every_layout_as_in_btf(vmlinux_btf, vmlinux_render, vmlinux_h_dir):
    writer, _ = vmlinux_render
    asserts = layout_asserts(vmlinux_btf, writer)
    assert asserts.count("_Static_assert") > 50000  # every struct and member of a real kernel
    clang_check('#include "vmlinux.h"\n' + asserts, vmlinux_h_dir, name="layout_asserts")


def test_header_shape(vmlinux_h_dir):
    text = open(os.path.join(vmlinux_h_dir, "vmlinux.h")).read()
    assert text.startswith("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n")
    assert ("#pragma clang attribute push (__attribute__((preserve_access_index)), "
            "apply_to = record)") in text
    assert text.endswith("#pragma clang attribute pop\n#endif\n\n#endif /* __VMLINUX_H__ */\n")
    assert re.search(r"^struct task_struct \{$", text, re.M)
    # Kernel BTF has bitfields, packed structs and 1-byte enums; all are spelled out.
    assert re.search(r"^\t[a-z_ ]+ [a-z_0-9]+: \d+;$", text, re.M)
    assert "} __attribute__((packed));" in text


def test_kfuncs_are_declared_weak_and_only_kfuncs(vmlinux_btf, vmlinux_h_dir):
    """Every FUNC the kernel tags "bpf_kfunc" (that C can spell) is an extern __weak __ksym, inside
    BPF_NO_KFUNC_PROTOTYPES, and nothing untagged is."""
    from bpf_build.model import btf as B
    text = open(os.path.join(vmlinux_h_dir, "vmlinux.h")).read()
    declared = re.findall(r"^extern .*?\b(\w+)\(.*\) __weak __ksym;$", text, re.M)
    tagged = {vmlinux_btf.types[t.type - vmlinux_btf.start_id].name for _, t in vmlinux_btf.items()
              if t.kind == B.DECL_TAG and t.name == "bpf_kfunc" and t.component_idx == -1}
    assert declared and set(declared) <= tagged and len(declared) == len(set(declared))
    assert len(declared) >= len(tagged) - 5  # only prototypes C cannot spell (address_space tags) are left out
    block = text[text.index("#ifndef BPF_NO_KFUNC_PROTOTYPES"):]
    assert all(re.search(rf"\b{name}\(", block) for name in declared)
    assert "do_sys_openat2(" not in block


def test_cli_writes_the_same_header_deterministically(vmlinux_h_dir, tmp_path):
    out = tmp_path / "vmlinux.h"
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "vmlinux", "-o", str(out)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "123"})
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == open(os.path.join(vmlinux_h_dir, "vmlinux.h"), "rb").read()


_DEFINITION = re.compile(r"^(?:(struct|union|enum) (\w+) \{|typedef .*?(\w+)(?:\)\(.*\))?(?:\[\d+\])*;$)", re.M)


def named_definitions(text: str):
    """Top-level definitions in order: ('struct', 'task_struct'), ('typedef', 'u32'), ..."""
    found = []
    for m in _DEFINITION.finditer(text):
        if m.group(1):
            found.append((m.group(1), m.group(2)))
        else:
            found.append(("typedef", m.group(3)))
    return found


@pytest.mark.oracle
def test_same_named_types_in_the_same_order_as_bpftool(vmlinux_h_dir, tmp_path):
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        pytest.skip("bpftool not installed (oracle)")
    proc = subprocess.run([bpftool, "btf", "dump", "file", VMLINUX, "format", "c"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    ours = named_definitions(open(os.path.join(vmlinux_h_dir, "vmlinux.h")).read())
    theirs = named_definitions(proc.stdout)
    assert len(ours) > 10000
    assert set(ours) == set(theirs)
    assert ours == theirs


CORE_PROGRAM = r"""
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_core_read.h>
    #include <bpf/bpf_tracing.h>

    __u64 seen_tgid;
    __u64 seen_comm_len;
    __u64 raw_calls;

    SEC("tracepoint/syscalls/sys_enter_getpid")
    int on_getpid(void *ctx)
    {
        struct task_struct *task = (struct task_struct *)bpf_get_current_task();
        char comm[16];

        seen_tgid = BPF_CORE_READ(task, group_leader, tgid);
        BPF_CORE_READ_STR_INTO(&comm, task, comm);
        seen_comm_len = bpf_core_field_size(task->comm);
        return comm[0] ? 0 : 1;
    }

    SEC("raw_tp/sys_enter")
    int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
    {
        if (id == 39 && (bpf_get_current_pid_tgid() >> 32) == seen_tgid)
            __sync_fetch_and_add(&raw_calls, 1);
        return 0;
    }

    char LICENSE[] SEC("license") = "GPL";
"""

# A generic libbpf loader: open, load, attach every program, call getpid(), print .bss (read with
# a map lookup: libbpf before 1.2 maps global data into user memory only for skeletons).
LOADER = r"""
    #include <bpf/libbpf.h>
    #include <stdio.h>
    #include <string.h>
    #include <sys/syscall.h>
    #include <unistd.h>

    int main(int argc, char **argv)
    {
        struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
        struct bpf_program *prog;
        struct bpf_map *map;
        unsigned long long bss[3] = {0};
        int key = 0, found = 0;

        if (!obj || bpf_object__load(obj)) {
            fprintf(stderr, "open/load failed\n");
            return 1;
        }
        bpf_object__for_each_program(prog, obj) {
            if (!bpf_program__attach(prog)) {
                fprintf(stderr, "attach %s failed\n", bpf_program__name(prog));
                return 1;
            }
        }
        syscall(SYS_getpid);
        syscall(SYS_getpid);
        bpf_object__for_each_map(map, obj) {
            const char *name = bpf_map__name(map);
            if (strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".bss"))
                found = !bpf_map__lookup_elem(map, &key, sizeof(key), bss, sizeof(bss), 0);
        }
        if (!found || bpf_map__value_size(bpf_object__find_map_by_name(obj, ".bss")) != sizeof(bss))
            return 1;
        printf("pid=%d tgid=%llu comm_len=%llu raw_calls=%llu\n", getpid(), bss[0], bss[1], bss[2]);
        return 0;
    }
"""


@pytest.mark.kernel
def test_core_program_on_vmlinux_h_loads_and_runs(vmlinux_h_dir, compile_c, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("loading BPF programs needs root")
    userland.ensure_tracefs()
    obj = compile_c(CORE_PROGRAM, name="core_vmlinux", cflags=[f"-I{vmlinux_h_dir}"])
    loader = userland.gcc_build(LOADER, str(tmp_path), "loader")
    values = userland.parse_key_values(userland.run_program(loader, obj))
    assert values["tgid"] == values["pid"]
    assert values["comm_len"] == 16
    assert values["raw_calls"] >= 1


def test_cli_renders_from_words_without_a_parsed_model():
    """bpf-build vmlinux reads the BTF as words and renders from them: its peak is the words,
    names and the writer's caches (~38 MiB with the interpreter for a 5 MiB vmlinux BTF), where
    parsing into records took ~110 MiB. Measured from a small parent (a child's peak counts the
    parent's size when it forked)."""
    if not os.path.exists(VMLINUX):
        pytest.skip(f"{VMLINUX} not present (kernel without BTF)")
    measure = ("import resource, subprocess, sys\n"
               "subprocess.run([sys.executable, '-m', 'bpf_build.cli.main', 'vmlinux'],"
               " stdout=subprocess.DEVNULL, check=True)\n"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    peak_kib = int(subprocess.run([sys.executable, "-c", measure], capture_output=True, text=True,
                                  check=True).stdout)
    btf_mib = os.path.getsize(VMLINUX) / (1 << 20)  # sysfs gives the BTF's size
    assert peak_kib / 1024 < 20 + 6 * btf_mib, f"peak RSS {peak_kib / 1024:.1f} MiB for {btf_mib:.1f} MiB of BTF"


def test_module_split_btf_adds_module_types(tmp_path, vmlinux_btf):
    """Split BTF from pahole on top of vmlinux, as kernel modules carry it."""
    pahole, gcc = shutil.which("pahole"), shutil.which("gcc")
    if not pahole or not gcc:
        pytest.skip("pahole and gcc are needed to make split BTF")
    (tmp_path / "mod.c").write_text(
        "struct task_struct;\n"
        "struct my_mod_state { struct task_struct *owner; int refs; unsigned flags:3;\n"
        "                      struct my_link { void *next, *prev; } link; };\n"
        "enum my_mod_mode { MOD_IDLE, MOD_BUSY = 7 };\n"
        "typedef struct my_mod_state my_mod_state_t;\n"
        "my_mod_state_t mod_state; enum my_mod_mode mod_mode;\n")
    subprocess.run([gcc, "-g", "-c", str(tmp_path / "mod.c"), "-o", str(tmp_path / "mod.o")], check=True)
    subprocess.run([pahole, f"--btf_encode_detached={tmp_path / 'mod.btf'}", f"--btf_base={VMLINUX}",
                    str(tmp_path / "mod.o")], check=True, capture_output=True)
    out = tmp_path / "mod_vmlinux.h"
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "vmlinux", "--module",
                           str(tmp_path / "mod.btf"), "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "struct my_mod_state {" in text and "struct task_struct {" in text
    assert "\tunsigned int flags: 3;" in text
    clang_check('#include "mod_vmlinux.h"\n'
                "int use(my_mod_state_t *s) { return s->refs + MOD_BUSY + s->owner->pid; }\n",
                tmp_path)


def test_unknown_module_is_one_line_error(tmp_path):
    out = tmp_path / "x.h"
    proc = subprocess.run([sys.executable, "-m", "bpf_build.cli.main", "vmlinux", "--module",
                           "no_such_module_xyz", "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr == ("error: /sys/kernel/btf/no_such_module_xyz: no BTF for module "
                           "'no_such_module_xyz' (is the module loaded?)\n")
    assert not out.exists()


def test_render_subset_of_vmlinux_types(vmlinux_btf, tmp_path):
    """A header for a few types carries exactly what they need and compiles on its own."""
    from bpf_build.model.btf import STRUCT
    roots = [vmlinux_btf.find("sk_buff", STRUCT), vmlinux_btf.find("file_operations", STRUCT)]
    text = render_header(vmlinux_btf, roots, guard="__SUBSET_H__")
    assert "struct sk_buff {" in text and "struct file_operations {" in text
    # struct sock is only reached through pointers: declared, not defined.
    assert "struct sock;" in text and "struct sock {" not in text
    (tmp_path / "subset.h").write_text(text)
    clang_check('#include "subset.h"\nint f(struct sk_buff *s) { return s->len; }\n', tmp_path)


def test_usual_declarations_spell_as_the_general_walk(vmlinux_btf):
    """Plain types, arrays of them and pointers to functions returning one are spelled without the
    general declarator walk: for every kernel type both ways agree (see the helper)."""
    assert short_way_spells_as_the_general_walk(vmlinux_btf, VMLINUX) > 10000  # tens of thousands


def test_struct_bodies_written_the_short_way_as_the_general_loop(vmlinux_btf, vmlinux_render):
    """Bodies without bitfields and with good member names are written by a loop that leaves out
    those tests (BodyWriter._plain_members); a writer taking the general loop (_members) for every
    body writes the same header."""
    general = CWriter(vmlinux_btf, VMLINUX)
    bodies = general._decl
    taken = []

    def general_loop(names, types, offsets, packed, lvl):
        taken.append(len(types))
        return bodies._members(0, names, types, offsets, bytes(len(types)), packed, lvl)
    setattr(bodies, "_plain_members", general_loop)
    assert render_header(vmlinux_btf, path=VMLINUX, writer=general) == vmlinux_render[1]
    assert len(taken) > 5000 and sum(taken) > 30000  # most of a kernel's structs and members
