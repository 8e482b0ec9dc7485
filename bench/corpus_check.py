"""The three skeleton kinds over public BPF programs, as a new user would try them; prints a table.

    .venv/bin/python bench/corpus_check.py --bootstrap DIR --libbpf-tools DIR --work DIR
        [--only a,b,c] [--seconds 3] [--skip-bpftool]

Not part of CI, and no third-party code is committed: whoever runs it fetches libbpf-bootstrap
(its examples/c as --bootstrap) and bcc (its libbpf-tools as --libbpf-tools) and points the
script at them. Everything is built under --work. For every program that has a user-space C file:

  build    bpf-build compile (vmlinux.h from `bpf-build vmlinux`) + bpf-link, as libbpf-bootstrap's
           Makefile does with clang + `bpftool gen object`
  C        `bpf-build skel`, compiled with the upstream user program and -lbpf, run for --seconds
           while this script causes activity (exec, open, fsync, TCP to localhost), then SIGINT.
           The same user program is built against `bpftool gen skeleton` and run the same way:
           a failure both skeletons share is the kernel's or the program's, not ours.
  light    `bpf-build skel --light`, compiled with a tiny main as C and as C++, X__open_and_load +
           X__destroy. A program the kernel refuses to load (fentry/fexit/lsm: EPERM on hosts
           without those) is switched off (progs.X.load = BPF_BUILD_LOAD_NO, as the upstream tools
           choose kprobes over fentry) and the load is tried again, so the rest is still checked.
  python   `bpf-build skel --lang python`, imported in a child process, opened, loaded (same
           switch-off rule), attached program by program, run for --seconds, every map and
           global-data section read, closed.

A cell is "ok", "kernel: why" (the kernel's doing: kprobes off, fentry EPERM...; or the
program's, when bpftool's skeleton fails the same way) or "FAIL: why" (a bug of ours to report).
Results also go to WORK/results.json.

To check committed code only while others edit the checkout, run it on a snapshot:

    rm -rf /tmp/snap && mkdir /tmp/snap && git archive HEAD bpf_build | tar -x -C /tmp/snap
    PYTHONPATH=/tmp/snap .venv/bin/python bench/corpus_check.py ...

--libbpf-include DIR: libbpf's BPF-side headers (bpf/bpf_helpers.h, bpf_tracing.h, usdt.bpf.h of
a libbpf checkout: both corpora vendor a newer libbpf than Debian 12's 1.1) used when a program
does not compile with the system's (BPF_URETPROBE, bpf_ksym_exists...). The user side always
links the system's libbpf.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

# Through this interpreter, so PYTHONPATH can point every step at a snapshot of the committed code
# (the checkout is edited by several people at once; see the docstring).
BPF_BUILD = [sys.executable, "-m", "bpf_build.cli.main"]
BPF_LINK = [sys.executable, "-m", "bpf_build.cli.link"]

# Sections whose programs this kind of host refuses (fentry & co: EPERM without the kernel's
# trampoline support here; kprobes: CONFIG_KPROBES off). Load or attach failures of these are the
# kernel's; anything else failing is ours until shown otherwise.
KERNEL_REFUSED_LOAD = ("fentry", "fexit", "fmod_ret", "lsm", "fentry.s", "fexit.s", "fmod_ret.s", "lsm.s")
KERNEL_REFUSED_ATTACH = KERNEL_REFUSED_LOAD + ("kprobe", "kretprobe", "ksyscall", "kretsyscall",
                                               "kprobe.multi", "kretprobe.multi")

# libbpf-tools helpers linked into every tool (its Makefile's COMMON_OBJ, without blazesym).
TOOLS_HELPERS = ["trace_helpers", "syscall_helpers", "errno_helpers", "map_helpers", "uprobe_helpers",
                 "btf_helpers", "compat", "path_helpers"]

# Arguments a tool needs to do anything at all (upstream usage examples).
TOOL_ARGS = {
    "fsdist": ["-t", "ext4"], "fsslower": ["-t", "ext4"], "funclatency": ["vfs_read"],
    "ksnoop": ["trace", "vfs_read"], "javagc": ["-p", "1"], "memleak": ["-p", "1"],
    "gethostlatency": [], "runqlen": [], "llcstat": [], "profile": [],
}
# Programs whose user side cannot be built here by design (needs blazesym, a Rust library).
NEEDS_BLAZESYM = {"bootstrap": {"profile"}, "libbpf-tools": set()}


@dataclass
class Program:
    corpus: str           # "bootstrap" | "libbpf-tools"
    name: str
    src_dir: Path
    cells: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)


def run(cmd, timeout=300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)


def one_line(text: str, limit: int = 160) -> str:
    """The most telling line of an error output: one naming a failure, else the last one."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if any(ln.startswith("Traceback") for ln in lines):
        return ("traceback: " + lines[-1])[:limit]  # the exception, not the banner
    for ln in lines:
        if re.search(r"\berror\b|failed|fail|refused|Traceback|No such|denied", ln, re.I) and "warning" not in ln:
            return ln[:limit]
    return (lines[-1] if lines else "(no output)")[:limit]


# -- activity the tools can see ------------------------------------------------------------------

class Activity:
    """Exec, open/read, stat, write+fsync, TCP connect/accept on localhost, signals: what most
    tracing tools of the corpora count, caused in a thread while a tool runs."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.stop = threading.Event()
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.server.settimeout(0.2)

    def _accept(self):
        while not self.stop.is_set():
            try:
                c, _ = self.server.accept()
                c.close()
            except OSError:
                pass

    def _work(self):
        path = self.scratch / "activity.txt"
        while not self.stop.is_set():
            subprocess.run(["/bin/true"])
            with open("/etc/passwd") as f:
                f.read()
            os.stat("/etc/hostname")
            with open(path, "w") as f:
                f.write("x" * 4096)
                f.flush()
                os.fsync(f.fileno())
            try:
                s = socket.create_connection(self.server.getsockname(), timeout=1)
                s.sendall(b"ping")
                s.close()
            except OSError:
                pass
            os.kill(os.getpid(), 0)
            os.getpid()
            time.sleep(0.05)

    def __enter__(self):
        self.threads = [threading.Thread(target=self._accept, daemon=True),
                        threading.Thread(target=self._work, daemon=True)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(5)
        self.server.close()


def run_briefly(argv, seconds: float, scratch: Path, cwd: Path):
    """Start argv, cause activity for `seconds`, SIGINT, wait. -> (ok, reason, output)."""
    with open(cwd / "out.txt", "w+") as out, open(cwd / "err.txt", "w+") as err:
        proc = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=err, cwd=cwd)
        with Activity(scratch):
            deadline = time.time() + seconds
            while time.time() < deadline and proc.poll() is None:
                time.sleep(0.1)
        early = proc.poll() is not None
        if not early:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                return False, "did not stop on SIGINT", ""
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    # libbpf-bootstrap's lsm main exits 0 after its own load failed: its message decides
    load_failed = re.search(r"failed to (open and )?load BPF skeleton", stderr, re.I)
    if (proc.returncode == 0 or (not early and proc.returncode == -signal.SIGINT)) and not load_failed:
        return True, "", stdout  # done, or ran until SIGINT ended it (no handler)
    when = "exited" if early else "after SIGINT exited"
    return False, f"{when} {proc.returncode}: {one_line(stderr or stdout)}", stderr + stdout


# -- build ---------------------------------------------------------------------------------------

def build_bpf(p: Program, work: Path, include: Path, libbpf_include: Optional[Path]) -> Optional[str]:
    d = work / p.name
    d.mkdir(parents=True, exist_ok=True)
    src = p.src_dir / f"{p.name}.bpf.c"
    tmp, obj = d / f"{p.name}.tmp.o", d / f"{p.name}.bpf.o"
    flags = ["-I", include, "-I", p.src_dir]
    # The upstream Makefiles pass -D__TARGET_ARCH_$(ARCH); `bpf-build compile` targets this
    # machine by default and must define it itself (PT_REGS/BPF_KPROBE users need it).
    cflags = ["--cflags=-mcpu=v3"] if p.name == "softirqs" else []  # BPFCFLAGS_softirqs upstream
    r = run(BPF_BUILD + ["compile", src, "-o", tmp, "-j", "1", *flags, *cflags])
    if r.returncode != 0 and libbpf_include is not None:
        first = one_line(r.stderr)
        r = run(BPF_BUILD + ["compile", src, "-o", tmp, "-j", "1", "-I", libbpf_include, *flags, *cflags])
        if r.returncode == 0:
            p.notes.append(f"BPF side needs libbpf headers newer than the system's 1.1 ({first})")
    if r.returncode != 0:
        return f"compile: {one_line(r.stderr)}"
    r = run(BPF_LINK + [tmp, "-o", obj])
    if r.returncode != 0:
        return f"bpf-link: {one_line(r.stderr)}"
    return None


def build_tools_helpers(tools_dir: Path, work: Path, include_ref: Path) -> List[Path]:
    """libbpf-tools' helper objects, built once (they do not depend on any skeleton)."""
    out = work / "_helpers"
    out.mkdir(parents=True, exist_ok=True)
    objs = []
    for h in TOOLS_HELPERS:
        o = out / f"{h}.o"
        if not o.exists():
            r = run(["gcc", "-g", "-O1", "-I", tools_dir, "-I", include_ref, "-c", tools_dir / f"{h}.c", "-o", o])
            if r.returncode != 0:
                raise SystemExit(f"helper {h}.c does not build: {one_line(r.stderr)}")
        objs.append(o)
    return objs


def user_program(p: Program, skel_dir: Path, exe: Path, helpers: List[Path]) -> Optional[str]:
    cmd = ["gcc", "-g", "-O1", "-I", skel_dir, "-I", p.src_dir, p.src_dir / f"{p.name}.c", *helpers,
           "-lbpf", "-lelf", "-lz", "-o", exe]
    r = run(cmd)
    if r.returncode != 0:
        return f"user program does not compile: {one_line(r.stderr)}"
    return None


def check_c(p: Program, work: Path, helpers: List[Path], seconds: float, skip_bpftool: bool) -> None:
    d = work / p.name
    obj = d / f"{p.name}.bpf.o"
    if p.name in NEEDS_BLAZESYM[p.corpus]:
        p.cells["c"] = "program: user side needs blazesym (Rust), not built here"
        return
    results = {}
    for who in ("ours", "bpftool"):
        if who == "bpftool" and (skip_bpftool or results["ours"][0]):
            continue  # the reference run only explains a failure of ours
        sd = d / f"c_{who}"
        sd.mkdir(exist_ok=True)
        header = sd / f"{p.name}.skel.h"
        if who == "ours":
            r = run(BPF_BUILD + ["skel", obj, "-o", header])
        else:
            r = run(["bpftool", "gen", "skeleton", obj])
            if r.returncode == 0:
                header.write_text(r.stdout)
        if r.returncode != 0:
            results[who] = (False, f"skel: {one_line(r.stderr)}")
            continue
        exe = sd / p.name
        err = user_program(p, sd, exe, helpers)
        if err:
            results[who] = (False, err)
            continue
        ok, reason, _ = run_briefly([exe, *TOOL_ARGS.get(p.name, [])], seconds, sd, sd)
        results[who] = (ok, reason)
    if (d / "c_ours" / f"{p.name}.skel.h").exists():
        strict = strict_compile_check(p, d / "c_ours")
        if strict:  # only ours to blame when bpftool's header passes the same flags
            ref_dir = d / "c_bpftool"
            ref_dir.mkdir(exist_ok=True)
            (ref_dir / f"{p.name}.skel.h").write_text(run(["bpftool", "gen", "skeleton", obj]).stdout)
            ref_strict = strict_compile_check(p, ref_dir)
            p.notes.append(f"upstream CFLAGS (-Wall -Werror...): {'FAIL' if not ref_strict else 'both fail'}: "
                           f"{strict} (bpftool's: {ref_strict or 'compiles'})")
        ours_cxx = cxx_syntax_check(p, d / "c_ours")
        if ours_cxx:  # compare with bpftool's header as C++ before calling it ours
            ref_dir = d / "c_bpftool"
            ref_dir.mkdir(exist_ok=True)
            r = run(["bpftool", "gen", "skeleton", obj])
            (ref_dir / f"{p.name}.skel.h").write_text(r.stdout)
            ref_cxx = cxx_syntax_check(p, ref_dir)
            p.notes.append(f"C skeleton as C++: {'FAIL' if not ref_cxx else 'both fail'}: {ours_cxx}"
                           f" (bpftool's: {ref_cxx or 'compiles'})")
    ours_ok, ours_reason = results["ours"]
    if ours_ok:
        p.cells["c"] = "ok"
        return
    ref = results.get("bpftool")
    if ref is None:
        p.cells["c"] = f"?: {ours_reason}"
    elif not ref[0] and _same_failure(ours_reason, ref[1]) and "after SIGINT" in ours_reason + ref[1] \
            and "fail" not in ours_reason.lower():
        p.cells["c"] = f"ok (program's own exit status on SIGINT, bpftool's the same: {ours_reason})"
    elif not ref[0] and _same_failure(ours_reason, ref[1]):
        p.cells["c"] = f"kernel/program (bpftool's skeleton fails the same): {ours_reason}"
    elif not ref[0]:
        p.cells["c"] = f"FAIL: {ours_reason} (bpftool's: {ref[1]})"
    else:
        p.cells["c"] = f"FAIL: {ours_reason} (bpftool's skeleton runs)"


# libbpf-tools' and libbpf-bootstrap's CFLAGS for the user side.
UPSTREAM_CFLAGS = {"libbpf-tools": ["-Wall", "-Wmissing-field-initializers", "-Werror", "-Werror=undef"],
                   "bootstrap": ["-Wall"]}


def strict_compile_check(p: Program, skel_dir: Path) -> str:
    """'' when the upstream user file compiles with upstream's warning flags against this header."""
    r = run(["gcc", "-fsyntax-only", "-O1", *UPSTREAM_CFLAGS[p.corpus], "-I", skel_dir, "-I", p.src_dir,
             p.src_dir / f"{p.name}.c"])
    return "" if r.returncode == 0 else one_line(r.stderr)


def cxx_syntax_check(p: Program, skel_dir: Path) -> str:
    """'' when the skeleton header compiles as C++ after the tool's own header (bpftool's have
    extern "C" ... C++ support); else the first error."""
    tu = skel_dir / "cxx_check.cpp"
    tool_header = p.src_dir / f"{p.name}.h"
    tu.write_text("#include <stdbool.h>\n#include <linux/types.h>\n#include <sys/types.h>\n"
                  + (f'#include "{tool_header}"\n' if tool_header.exists() else "")
                  + f'#include "{p.name}.skel.h"\nint main() {{ return 0; }}\n')
    r = run(["g++", "-fsyntax-only", "-I", skel_dir, "-I", p.src_dir, tu])
    return "" if r.returncode == 0 else one_line(r.stderr)


def _same_failure(a: str, b: str) -> bool:
    """The same error, whenever it came (a slow attach may outlive the run and meet SIGINT)."""
    def strip(s: str) -> str:
        s = re.sub(r"^(after SIGINT )?exited -?\d+: ", "", s)
        return re.sub(r"\d+", "N", s)
    return strip(a) == strip(b)


LIGHT_MAIN = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#ifdef TOOL_HEADER
#include <stdbool.h>	/* what upstream mains include before their own header */
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>
#include TOOL_HEADER	/* the types the BPF side shares (struct hist...), as upstream mains do */
#endif
#include "NAME.lskel.h"

int main(void)
{
	struct NAME_bpf *skel;
	int err;
#ifdef SWITCH_OFF
	skel = NAME_bpf__open();
	if (!skel) {
		fprintf(stderr, "open failed: errno %d\n", errno);
		return 1;
	}
	SWITCH_OFF
	errno = 0;
	err = NAME_bpf__load(skel);
	if (err) {
		fprintf(stderr, "load failed: %d errno %d\n", err, errno);
		NAME_bpf__destroy(skel);
		return 1;
	}
#else
	errno = 0;
	skel = NAME_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "open_and_load failed: errno %d\n", errno);
		return 1;
	}
#endif
	NAME_bpf__destroy(skel);
	printf("loaded\n");
	return 0;
}
"""


def prog_sections(obj: Path) -> Dict[str, str]:
    code = ("import json,sys\nfrom bpf_build.model.elf import Object\no=Object.read(sys.argv[1])\n"
            "print(json.dumps({y.name: o.sections[y.shndx].name for y in o.symbols"
            " if y.type == 2 and y.bind == 1 and 0 < y.shndx < len(o.sections)"
            " and o.sections[y.shndx].is_code and o.sections[y.shndx].name != '.text'}))")
    r = run([sys.executable, "-c", code, obj])
    if r.returncode != 0:
        return {}
    return json.loads(r.stdout)


def refused_by_kernel(section: str) -> bool:
    return section.split("/", 1)[0] in KERNEL_REFUSED_LOAD


def check_light(p: Program, work: Path, sections: Dict[str, str]) -> None:
    from bpf_build.headers import include_dir
    d = work / p.name / "light"
    d.mkdir(parents=True, exist_ok=True)
    obj = work / p.name / f"{p.name}.bpf.o"
    r = run(BPF_BUILD + ["skel", "--light", obj, "-o", d / f"{p.name}.lskel.h"])
    if r.returncode != 0:
        p.cells["light_c"] = p.cells["light_cxx"] = f"FAIL: skel --light: {one_line(r.stderr)}"
        return
    (d / "main.c").write_text(LIGHT_MAIN.replace("NAME", p.name))
    tool_header = p.src_dir / f"{p.name}.h"
    header_flags = [f'-DTOOL_HEADER="{tool_header}"'] if tool_header.exists() else []
    for lang, cc, xflags in (("light_c", "gcc", []), ("light_cxx", "g++", ["-x", "c++"])):
        switched_off: List[str] = []
        sized_maps: List[str] = []
        alternates_off: List[str] = []
        for _attempt in range(len(sections) + 8):
            exe = d / f"main_{lang}"
            defs = []
            if switched_off or sized_maps:
                defs = ["-DSWITCH_OFF=" + " ".join(
                    [f"skel->progs.{n}.load = BPF_BUILD_LOAD_NO;" for n in switched_off]
                    + [f"skel->maps.{n}.max_entries = 10240;" for n in sized_maps])]
            r = run([cc, "-O1", "-Wall", "-I", include_dir(), "-I", d, "-I", p.src_dir, *header_flags, *defs,
                     *xflags, d / "main.c", "-o", exe])
            if r.returncode != 0:
                first = one_line(r.stderr)
                if first.startswith(str(p.src_dir)):  # the error is in the tool's own header
                    p.cells[lang] = f"program: its header does not compile here: {first}"
                else:
                    p.cells[lang] = f"FAIL: does not compile: {first}"
                break
            ran = run([exe], timeout=60)
            if ran.returncode == 0:
                kernel_off = [n for n in switched_off if n not in alternates_off]
                p.cells[lang] = "ok" + (f" (kernel refused {', '.join(kernel_off)}: switched off)" if kernel_off else "") \
                    + (f" (fallback variants switched off as upstream: {', '.join(alternates_off)})" if alternates_off else "") \
                    + (f" (sized before load as upstream: {', '.join(sized_maps)})" if sized_maps else "")
                break
            unsized = re.search(r'create map \\?"(\w+)\\?" \w+ \d+/(\d+) x0\b', ran.stderr)
            if unsized and unsized.group(1) not in sized_maps and unsized.group(2) != "0":
                sized_maps.append(unsized.group(1))  # upstream mains call bpf_map__set_max_entries
                continue
            m = re.search(r'(?:load prog|attach target of) \\?"(\w+)\\?"(?: (\w+))?', ran.stderr)
            errno_m = re.search(r"errno (\d+)", ran.stderr)
            failed = _full_prog_name(m.group(1), sections, switched_off, m.group(2)) if m else None
            if errno_m and errno_m.group(1) == "0":
                p.notes.append(f"{lang}: load failed but errno is 0")
            if failed and refused_by_kernel(sections.get(failed, "")) and failed not in switched_off:
                switched_off.append(failed)
                continue
            if failed and failed not in switched_off and has_alternate(failed, sections):
                switched_off.append(failed)  # a fallback variant upstream switches off
                alternates_off.append(failed)
                continue
            p.cells[lang] = classify_load_failure(one_line(ran.stderr))
            break


def has_alternate(name: str, sections: Dict[str, str]) -> bool:
    """Another program named as a variant of this one (tcp_probe / tcp_probe_btf)."""
    return any(o != name and (o.startswith(name) or name.startswith(o)) for o in sections)


def classify_load_failure(reason: str) -> str:
    """Failures that are the program's: map sizes the upstream user program sets before load
    (bpf_map__set_value_size/set_max_entries on a map declared without them)."""
    if re.search(r'create map \\?"\w+\\?" \w+ \d+/0 x', reason):
        return f"program: value size set by its user program (set_value_size; no light skeleton has it): {reason}"
    return f"FAIL: {reason}"


# Section kind -> the program type a light skeleton's step text names.
SECTION_PROG_TYPES = {"raw_tp": "RAW_TRACEPOINT", "raw_tracepoint": "RAW_TRACEPOINT", "tp_btf": "TRACING",
                      "fentry": "TRACING", "fexit": "TRACING", "fmod_ret": "TRACING", "iter": "TRACING",
                      "lsm": "LSM", "kprobe": "KPROBE", "kretprobe": "KPROBE", "uprobe": "KPROBE",
                      "uretprobe": "KPROBE", "usdt": "KPROBE", "ksyscall": "KPROBE", "tracepoint": "TRACEPOINT",
                      "tp": "TRACEPOINT", "perf_event": "PERF_EVENT"}


def _full_prog_name(kernel_name: str, sections: Dict[str, str], switched_off: List[str],
                    prog_type: Optional[str] = None) -> Optional[str]:
    """Step texts carry the kernel's 15-byte name (and the program type); find the program."""
    if kernel_name in sections:
        return kernel_name
    candidates = [name for name in sections if name[:15] == kernel_name]
    typed = [n for n in candidates if SECTION_PROG_TYPES.get(sections[n].split("/")[0]) == prog_type]
    if prog_type and typed:
        candidates = typed
    # Several programs may share the 15-byte prefix: the first not yet switched off failed.
    fresh = [name for name in candidates if name not in switched_off]
    refused = [name for name in fresh if refused_by_kernel(sections[name])]
    return (refused or fresh or candidates or [None])[0]


PY_CHILD = r"""
import importlib.util, json, re, sys, time, traceback
path, cls_name, seconds, refused = sys.argv[1], sys.argv[2], float(sys.argv[3]), tuple(sys.argv[4].split(","))
res = {"stage": "import"}
def done():
    print("RESULT " + json.dumps(res)); sys.exit(0)
def err(e):
    return f"{type(e).__name__}: {e}"[:300]
try:
    spec = importlib.util.spec_from_file_location("skel_under_test", path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    cls = getattr(mod, cls_name)
except BaseException as e:
    res["error"] = err(e); res["tb"] = traceback.format_exc()[-600:]; done()
sections = {p.name: p.section for p in cls._loader_.progs}
PERF_EVENT_ARRAY, STACK_TRACE, PERF_MAX_STACK_DEPTH = 4, 7, 127
def size_maps_like_upstream(skel):
    # What upstream mains do before load for maps declared without a size (bpf_map__set_max_entries
    # on cpudist's `start`, set_value_size on profile's stack map), through the skeleton's knobs.
    from bpf_build.runtime.skeleton import attribute_name
    done = []
    for m in cls._loader_.maps:
        if m.type == PERF_EVENT_ARRAY:
            continue  # max_entries 0: one slot per CPU, as libbpf does, without the user
        if m.max_entries == 0 or (m.type == STACK_TRACE and m.value_size == 0):
            handle = getattr(skel.maps, attribute_name(m.ident))
            if m.max_entries == 0:
                handle.max_entries = 10240
            if m.type == STACK_TRACE and m.value_size == 0:
                handle.value_size = PERF_MAX_STACK_DEPTH * 8
            done.append(m.ident)
    return done
switched_off = []
res["stage"] = "load"
for _ in range(len(sections) + 1):
    skel = cls.open()
    try:
        sized = size_maps_like_upstream(skel)
        for n in switched_off:
            skel.set_autoload(n, False)
        skel.load()
        break
    except BaseException as e:
        m = re.search(r"program '(\w+)'|attach target of \"(\w+)\"", str(e))
        name = (m.group(1) or m.group(2)) if m else None
        skel.close()
        if name and sections.get(name, "").split("/")[0] in refused and getattr(e, "errno", None) in (1, 2, 95, 524) and name not in switched_off:
            switched_off.append(name); continue
        if name and name not in switched_off and any(o != name and (o.startswith(name) or name.startswith(o)) for o in sections):
            # a fallback variant (tcppktlat's raw_tp/tcp_probe beside tp_btf tcp_probe_btf) the
            # upstream main switches off when the preferred one loads
            switched_off.append(name); res.setdefault("alternates_off", []).append(name); continue
        res["error"] = err(e); done()
res["switched_off"] = switched_off
res["sized"] = sized
res["stage"] = "attach"
attached, attach_failed = [], {}
try:
    skel.attach()
    attached = [n for n, _ in skel.links]
except BaseException as e:
    res["attach_error"] = err(e)
    from bpf_build.runtime import attach as _attach
    skel.detach()
    for p in cls._loader_.progs:
        prog = vars(skel.progs).get(p.name)
        if prog is None:
            continue
        try:
            link = _attach.attach_by_section(prog, p.section)
            if link is not None:
                setattr(skel.links, p.name, link); attached.append(p.name)
        except BaseException as e2:
            attach_failed[p.name] = (p.section, err(e2))
res["attached"] = attached; res["attach_failed"] = attach_failed
time.sleep(seconds)
res["stage"] = "read"
read = {}
for name, m in skel.maps:
    try:
        if getattr(m.type, "name", str(m.type)) in ("PERF_EVENT_ARRAY", "RINGBUF", "PROG_ARRAY", "STACK_TRACE", "CGROUP_ARRAY", "USER_RINGBUF", "QUEUE", "STACK", "ARRAY_OF_MAPS", "HASH_OF_MAPS", "SOCKMAP", "SOCKHASH", "DEVMAP", "CPUMAP", "XSKMAP"):
            read[name] = "skipped " + getattr(m.type, "name", str(m.type)); continue
        read[name] = sum(1 for _ in m.items())
    except BaseException as e:
        read[name] = "ERROR " + err(e)
for ident in cls._section_types_:
    try:
        read["section " + ident] = len(bytes(getattr(skel, ident)))
    except BaseException as e:
        read["section " + ident] = "ERROR " + err(e)
res["read"] = read
res["stage"] = "close"
try:
    skel.close()
    res["closed"] = True
except BaseException as e:
    res["error"] = err(e)
done()
"""


def check_python(p: Program, work: Path, seconds: float) -> None:
    d = work / p.name / "py"
    d.mkdir(parents=True, exist_ok=True)
    obj = work / p.name / f"{p.name}.bpf.o"
    out = d / f"{p.name}_skel.py"
    r = run(BPF_BUILD + ["skel", "--lang", "python", obj, "-o", out])
    if r.returncode != 0:
        p.cells["python"] = f"FAIL: skel --lang python: {one_line(r.stderr)}"
        return
    with Activity(d):
        r = run([sys.executable, "-c", PY_CHILD, out, f"{p.name}_bpf", str(seconds), ",".join(KERNEL_REFUSED_LOAD)],
                timeout=120)
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if line is None:
        p.cells["python"] = f"FAIL: child died ({r.returncode}): {one_line(r.stderr)}"
        return
    res = json.loads(line[len("RESULT "):])
    (d / "result.json").write_text(json.dumps(res, indent=1))
    if "error" in res:
        p.cells["python"] = classify_load_failure(f"at {res['stage']}: {res['error']}")
        return
    notes = []
    if res.get("sized"):
        notes.append(f"sized before load as upstream: {', '.join(res['sized'])}")
    alternates = res.get("alternates_off", [])
    kernel_off = [n for n in res.get("switched_off", []) if n not in alternates]
    if kernel_off:
        notes.append(f"kernel refused {', '.join(kernel_off)}: switched off")
    if alternates:
        notes.append(f"fallback variants switched off as upstream: {', '.join(alternates)}")
    # targets this host lacks: tracepoints of other arches/kernels, USDT notes Debian's libc lacks
    absent = sorted(n for n, (sec, e) in res["attach_failed"].items()
                    if "does not exist" in e or "no USDT probe" in e)
    ours = {n: e for n, (sec, e) in res["attach_failed"].items()
            if sec.split("/")[0] not in KERNEL_REFUSED_ATTACH and "/proc/self/exe" not in sec and n not in absent}
    if absent:  # upstream mains switch these off after checking (tracepoint_exists...)
        notes.append(f"program's: targets absent on this host: {', '.join(absent)}")
    kernels = sorted(n for n, (sec, e) in res["attach_failed"].items() if sec.split("/")[0] in KERNEL_REFUSED_ATTACH)
    own_binary = sorted(n for n, (sec, e) in res["attach_failed"].items() if "/proc/self/exe" in sec)
    if kernels:
        notes.append(f"attach refused by kernel: {', '.join(kernels)}")
    if own_binary:  # SEC("uprobe//proc/self/exe:f"): f lives in the upstream binary, not in python
        notes.append(f"program's: {', '.join(own_binary)} probe the upstream binary itself")
    read_errors = {k: v for k, v in res["read"].items() if isinstance(v, str) and v.startswith("ERROR")}
    if ours or read_errors:
        bad = "; ".join([f"attach {n}: {e}" for n, e in ours.items()] + [f"read {k}: {v}" for k, v in read_errors.items()])
        p.cells["python"] = f"FAIL: {bad}"
    else:
        entries = sum(v for v in res["read"].values() if isinstance(v, int))
        p.cells["python"] = f"ok (attached {len(res['attached'])}, read {entries} entries/bytes)" + (
            f"; {'; '.join(notes)}" if notes else "")


# -- driver --------------------------------------------------------------------------------------

def discover(corpus: str, d: Path) -> List[Program]:
    progs = []
    for src in sorted(d.glob("*.bpf.c")):
        name = src.name[:-len(".bpf.c")]
        if (d / f"{name}.c").exists():
            progs.append(Program(corpus, name, d))
    return progs


def table(programs: List[Program]) -> str:
    cols = [("c", "C skel compiles and runs"), ("light_c", "light skel C: compiles, loads"),
            ("light_cxx", "light skel C++: compiles, loads"), ("python", "Python skel loads and runs")]
    rows = ["| program | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for p in programs:
        cells = [p.cells.get(k, "-").replace("|", "/") for k, _ in cols]
        rows.append(f"| {p.corpus}/{p.name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def short(cell: str) -> str:
    """A table cell in a few words (the full reasons stay in results.json)."""
    if cell.startswith("ok"):
        extras = []
        if "kernel refused" in cell:
            extras.append("fentry/lsm progs off: EPERM")
        if "fallback variants" in cell:
            extras.append("raw_tp fallbacks off as upstream")
        if "attach refused by kernel" in cell:
            extras.append("kprobe attach: kernel")
        if "sized before load" in cell:
            extras.append("sized as upstream")
        if "targets absent" in cell or "probe the upstream binary" in cell:
            extras.append("absent targets: program's")
        if "exit status on SIGINT" in cell:
            extras.append("own exit status")
        return "ok" + (f" ({'; '.join(extras)})" if extras else "")
    low = cell.lower()
    if cell.startswith("kernel/program"):
        if "kprobe" in low:
            return "kernel: kprobes off"
        if "operation not permitted" in low:
            return "kernel: fentry/lsm EPERM"
        return "program/host: " + cell.split(": ", 2)[-1][:60]
    if cell.startswith("program: value size"):
        return "program: needs set_value_size (no light API)"
    if cell.startswith("program: its header"):
        return "program: its header is not C++"
    if cell.startswith("program"):
        return cell[:70]
    return cell[:110]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", type=Path, help="libbpf-bootstrap's examples/c")
    ap.add_argument("--libbpf-tools", type=Path, help="bcc's libbpf-tools")
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--only", default="", help="comma-separated program names")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--skip-bpftool", action="store_true", help="no reference run with bpftool's skeleton")
    ap.add_argument("--steps", default="c,light,python")
    ap.add_argument("--libbpf-include", type=Path, help="newer libbpf BPF-side headers (dir holding bpf/)")
    ap.add_argument("--report", action="store_true", help="only print WORK/results.json as a short table")
    args = ap.parse_args(argv)
    if args.report:
        rows = json.loads((args.work / "results.json").read_text())
        programs = [Program(r["corpus"], r["name"], Path("."), {k: short(v) for k, v in r["cells"].items()},
                            r["notes"]) for r in rows]
        print(table(programs))
        return 0
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    include = work / "_include"
    include.mkdir(exist_ok=True)
    if not (include / "vmlinux.h").exists():
        r = run(BPF_BUILD + ["vmlinux", "-o", include / "vmlinux.h"])
        if r.returncode != 0:
            raise SystemExit(f"bpf-build vmlinux: {one_line(r.stderr)}")
    programs: List[Program] = []
    if args.bootstrap:
        programs += discover("bootstrap", args.bootstrap.resolve())
    if args.libbpf_tools:
        programs += discover("libbpf-tools", args.libbpf_tools.resolve())
    only = set(filter(None, args.only.split(",")))
    if only:
        programs = [p for p in programs if p.name in only]
    steps = set(args.steps.split(","))
    helpers = build_tools_helpers(args.libbpf_tools.resolve(), work, include) if args.libbpf_tools else []
    for p in programs:
        t0 = time.time()
        pwork = work / p.corpus
        err = build_bpf(p, pwork, include, args.libbpf_include)
        if err:
            p.cells = {k: f"FAIL: {err}" for k in ("c", "light_c", "light_cxx", "python")}
        else:
            sections = prog_sections(pwork / p.name / f"{p.name}.bpf.o")
            if "c" in steps:
                check_c(p, pwork, helpers if p.corpus == "libbpf-tools" else [], args.seconds, args.skip_bpftool)
            if "light" in steps:
                check_light(p, pwork, sections)
            if "python" in steps:
                check_python(p, pwork, args.seconds)
        print(f"{p.corpus}/{p.name} ({time.time() - t0:.0f}s): {json.dumps(p.cells)}"
              + (f" notes: {p.notes}" if p.notes else ""), flush=True)
    (work / "results.json").write_text(json.dumps(
        [{"corpus": p.corpus, "name": p.name, "cells": p.cells, "notes": p.notes} for p in programs], indent=1))
    print()
    print(table(programs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
