"""Fuzz harness: mutated BPF objects through every command that reads one, each case in its own
process with a time and memory cap.

A *worker* (``python -m tests.fuzz.harness --worker``) imports every command once, then forks one
child per case: the child caps its address space and CPU time (``resource.setrlimit``), arms an
alarm for the wall-clock limit, and runs the console-script entry point (``bpf-build`` or
``bpf-link``) exactly as the installed script would, an uncaught exception printing Python's own
traceback and exiting 1. Forking a pre-imported worker costs milliseconds where a fresh
interpreter per case costs ~0.3 s, which is what makes 10,000 mutants affordable; the worker
runs no threads of pytest or hypothesis, so its children fork from a clean single-threaded
process.

A case passes when the command exits 0, or exits 1 printing exactly one line
``error: <input file>: <reason>`` on stderr and writing no output; a traceback, another exit
status, a kill by the alarm or the CPU limit (a hang), a ``MemoryError`` or a peak RSS above the
cap (a blow-up), or a ``.tmp-*`` file left in the output directory fails it.

Mutants are reproducible from (corpus object, seed): ``mutate(data, regions, seed)``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIR = REPO / "tests" / "corpus"

# Per case: CPU seconds, wall seconds, address-space growth allowed over the worker's own.
CPU_LIMIT = 10
WALL_LIMIT = 20
MEMORY_HEADROOM = 768 << 20
# A case peaking above this is a blow-up even if it stayed under the cap (objects here are KiB).
BLOWUP_RSS = 384 << 20
# The exit status of a child whose harness code itself failed (e.g. out of memory while
# reporting a MemoryError).
CHILD_FAILED = 99

INPUT_NAME = "fuzz.bpf.o"
RAW_BTF_NAME = "fuzz.btf"


# ----------------------------------------------------------------------------------------------
# Commands: every command that reads an object. argv is relative to the case directory.

@dataclass(frozen=True)
class Command:
    label: str
    entry: str            # "bpf-build" or "bpf-link"
    argv: Tuple[str, ...]
    raw_btf: bool = False  # reads the raw .BTF blob instead of the object


COMMANDS: Tuple[Command, ...] = (
    Command("link", "bpf-link", (INPUT_NAME, "-o", "out/linked.o")),
    Command("inspect", "bpf-build", ("inspect", INPUT_NAME)),
    Command("btf-dump", "bpf-build", ("btf", "dump", INPUT_NAME)),
    Command("vmlinux-obj", "bpf-build", ("vmlinux", "--btf", INPUT_NAME, "-o", "out/vmlinux.h")),
    Command("loader-explain", "bpf-build", ("loader", "explain", INPUT_NAME)),
    Command("skel-c", "bpf-build", ("skel", INPUT_NAME, "-o", "out/fuzz.skel.h")),
    Command("skel-subskel", "bpf-build", ("skel", "--subskeleton", INPUT_NAME, "-o", "out/fuzz.subskel.h")),
    Command("skel-light", "bpf-build", ("skel", "--light", INPUT_NAME, "-o", "out/fuzz.lskel.h")),
    Command("skel-python", "bpf-build", ("skel", "--lang", "python", INPUT_NAME, "-o", "out/fuzz_skel.py")),
    Command("btf-dump-raw", "bpf-build", ("btf", "dump", RAW_BTF_NAME), raw_btf=True),
    Command("vmlinux-raw", "bpf-build", ("vmlinux", "--btf", RAW_BTF_NAME, "-o", "out/vmlinux.h"),
            raw_btf=True),
)
OBJECT_COMMANDS = tuple(c for c in COMMANDS if not c.raw_btf)
RAW_BTF_COMMANDS = tuple(c for c in COMMANDS if c.raw_btf)


# ----------------------------------------------------------------------------------------------
# Corpus: real objects compiled from tests/corpus with the real clang.

CI_CASES = ("maps", "globals", "core", "subprogs", "externs")
ALL_CASES = ("tracepoint", "raw_tp", "kprobe", "tracing", "xdp", "tc", "socket", "syscall",
             "subprogs", "globals", "maps", "tailcall", "core", "externs", "optional", "rejected")


@dataclass
class Seed:
    """A valid object to mutate, with the file ranges worth aiming at."""
    name: str
    data: bytes
    regions: Dict[str, Tuple[int, int]] = field(default_factory=dict)  # section name -> (offset, size)


def section_regions(data: bytes) -> Dict[str, Tuple[int, int]]:
    """File ranges of the interesting parts of a valid object (read with pyelftools, not with the
    code under test)."""
    import io

    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(data))
    regions = {"elf-header": (0, 64),
               "section-headers": (elf.header["e_shoff"], elf.num_sections() * elf.header["e_shentsize"])}
    for sec in elf.iter_sections():
        if sec.header["sh_type"] != "SHT_NOBITS" and sec.header["sh_size"] and not sec.name.startswith(".debug"):
            regions[sec.name] = (sec.header["sh_offset"], sec.header["sh_size"])
    return regions


def build_corpus(out_dir: str, cases: Sequence[str] = CI_CASES, targets: Sequence[str] = ("bpfel", "bpfeb")
                 ) -> List[Seed]:
    """Compile the corpus cases for every target, plus bpf-link's output of linked_a + linked_b
    (so linker-written objects are mutated too)."""
    from bpf_build.project.compile import compile_bpf
    from bpf_build.link.linker import link

    seeds = []
    for target in targets:
        paths = []
        for case in cases:
            out = os.path.join(out_dir, f"{case}.{target}.bpf.o")
            compile_bpf(str(CORPUS_DIR / f"{case}.bpf.c"), out, target=target)
            paths.append(out)
        parts = []
        for part in ("linked_a", "linked_b"):
            out = os.path.join(out_dir, f"{part}.{target}.bpf.o")
            compile_bpf(str(CORPUS_DIR / f"{part}.bpf.c"), out, target=target)
            parts.append(out)
        linked = os.path.join(out_dir, f"linked.{target}.bpf.o")
        link(parts).write(linked)
        paths.append(linked)
        for p in paths:
            data = Path(p).read_bytes()
            seeds.append(Seed(os.path.basename(p)[:-len(".bpf.o")], data, section_regions(data)))
    return seeds


# ----------------------------------------------------------------------------------------------
# Mutations

INTERESTING_U32 = (0, 1, 2, 3, 4, 7, 8, 0x10, 0x1F, 0x20, 0x3F, 0x40, 0x7F, 0x80, 0xFF, 0x100,
                   0x7FFF, 0x8000, 0xFFFF, 0x10000, 0xFFFFFF, 0x1000000, 0x7FFFFFFF, 0x80000000,
                   0xFFFFFFF0, 0xFFFFFFFE, 0xFFFFFFFF)


def mutate(seed: Seed, seed_value: int) -> Tuple[bytes, List[str]]:
    """One mutant of ``seed`` and the edits made (for reports). Two seed values in five edit
    the object model (mutate_model: well-formed files with odd contents, which get past the
    readers to the linker, loader generator and skeletons); the others edit bytes
    (mutate_bytes: what the readers must refuse)."""
    if seed_value % 5 < 2 and seed.data[:4] == b"\x7fELF":
        mutant = mutate_model(seed, seed_value)
        if mutant is not None:
            return mutant
    return mutate_bytes(seed, seed_value)


def mutate_model(seed: Seed, seed_value: int) -> Optional[Tuple[bytes, List[str]]]:
    """Edit one to three fields of the object as the model holds it, and write it back with the
    model's writer (which does not validate): a BTF field (type ids, sizes, offsets, counts,
    linkage, kind_flag, names swapped), a symbol (value, size, section, binding, type), a
    relocation (offset, symbol, type) or a section (flags, type). None if the writer cannot
    encode the result."""
    from bpf_build.model.elf import Object

    rng = random.Random(seed_value)
    obj = Object.read(seed.data, path="seed")
    btf = obj.btf
    edits: List[str] = []
    small = (0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 64, 255, 4096, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)
    for _ in range(rng.choice((1, 1, 2, 3))):
        target = rng.choice(("btf", "btf", "btf", "symbol", "reloc", "section"))
        if target == "btf" and btf is not None and btf.types:
            tid = rng.randrange(1, len(btf))
            t = btf.get(tid)
            ids = (0, rng.randrange(len(btf)), rng.randrange(len(btf)), len(btf), tid)
            entries = t.members or t.params or t.secinfo or t.enums
            if entries and rng.random() < 0.6:
                e = rng.choice(entries)
                fields = [f for f in ("type", "offset", "size", "bitfield_size", "value", "name")
                          if hasattr(e, f)]
                f = rng.choice(fields)
                if f == "name":
                    value = rng.choice([x.name for x in btf.types] + ["", "x y", "int", "__x"])
                elif f == "type":
                    value = rng.choice(ids)
                else:
                    value = rng.choice(small)
                setattr(e, f, value)
                edits.append(f"btf[{tid}].{type(e).__name__}.{f}={value!r}")
            else:
                f = rng.choice(("type", "size", "kflag", "linkage", "nelems", "index_type",
                                "int_bits", "int_offset", "int_encoding", "component_idx", "name",
                                "kind", "drop-entry"))
                if f == "type" or f == "index_type":
                    value = rng.choice(ids)
                elif f == "kflag":
                    value = not t.kflag
                elif f == "name":
                    value = rng.choice([x.name for x in btf.types] + ["", "x y", "struct"])
                elif f == "kind":
                    value = rng.randrange(1, 20)
                elif f == "drop-entry":
                    for lst in (t.members, t.params, t.secinfo, t.enums):
                        if lst:
                            del lst[rng.randrange(len(lst))]
                            break
                    edits.append(f"btf[{tid}].drop-entry")
                    continue
                elif f in ("int_bits", "int_offset"):
                    value = rng.choice((0, 1, 7, 8, 32, 64, 128, 255))
                elif f == "int_encoding":
                    value = rng.choice((0, 1, 2, 4))
                elif f == "component_idx":
                    value = rng.choice((-1, 0, 1, 5))
                else:
                    value = rng.choice(small)
                setattr(t, f, value)
                edits.append(f"btf[{tid}].{f}={value!r}")
        elif target == "symbol" and len(obj.symbols) > 1:
            i = rng.randrange(1, len(obj.symbols))
            sym = obj.symbols[i]
            f = rng.choice(("value", "size", "shndx", "bind", "type", "visibility"))
            value = {"value": rng.choice(small), "size": rng.choice(small),
                     "shndx": rng.randrange(len(obj.sections)), "bind": rng.randrange(3),
                     "type": rng.randrange(5), "visibility": rng.randrange(4)}[f]
            setattr(sym, f, value)
            edits.append(f"symbol[{sym.name}].{f}={value}")
        elif target == "reloc":
            rels = [x for x in obj.sections if x.type in (4, 9) and x.relocs and not x.name.startswith(".rel.debug")]
            if not rels:
                continue
            sec = rng.choice(rels)
            r = rng.choice(sec.relocs)
            f = rng.choice(("offset", "symbol", "type"))
            value = {"offset": r.offset + rng.choice((-8, 8, 4, 1 << 20)) if f == "offset" else 0,
                     "symbol": rng.randrange(len(obj.symbols)), "type": rng.choice((0, 1, 2, 3, 4, 10, 99))}[f]
            setattr(r, f, max(value, 0))
            edits.append(f"{sec.name}.reloc.{f}={value}")
        elif target == "section":
            i = rng.randrange(1, len(obj.sections))
            sec = obj.sections[i]
            f = rng.choice(("flags", "type"))
            value = rng.choice((0, 1, 2, 4, 6, 8)) if f == "type" and sec.type in (1, 8) else \
                rng.choice((0, 2, 3, 6)) if f == "flags" else None
            if value is None:
                continue
            if f == "type" and value == 8 and sec.type != 8:
                sec.nobits_size = len(sec.data)
            setattr(sec, f, value)
            edits.append(f"section[{sec.name}].{f}={value}")
    try:
        return obj.to_bytes(), edits or ["none"]
    except Exception:  # the model holds what its writer cannot encode (a value past 32 bits)
        return None


def mutate_bytes(seed: Seed, seed_value: int) -> Tuple[bytes, List[str]]:
    """A few edits, each aimed at a random region (a section, the headers, or anywhere), of one
    of: random byte, bit flip, interesting 32-bit value at an aligned offset, small add to a
    32-bit word, 64-bit word from interesting values, copy of a chunk from elsewhere,
    truncation."""
    rng = random.Random(seed_value)
    buf = bytearray(seed.data)
    bo = "<" if buf[5] == 1 else ">"
    names = sorted(seed.regions)
    edits: List[str] = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
        if not buf:
            break
        if rng.random() < 0.8 and names:
            region = rng.choice(names)
            start, size = seed.regions[region]
            start, size = min(start, len(buf) - 1), max(1, min(size, len(buf) - start))
        else:
            region, start, size = "file", 0, len(buf)
        op = rng.choice(("byte", "bit", "u32", "u32", "u32", "add", "u64", "chunk", "truncate"))
        pos = start + rng.randrange(size)
        if op == "byte":
            buf[pos] = rng.randrange(256)
        elif op == "bit":
            buf[pos] ^= 1 << rng.randrange(8)
        elif op in ("u32", "add"):
            pos = start + (rng.randrange(size) & ~3)
            if pos + 4 > len(buf):
                continue
            if op == "u32":
                value = rng.choice(INTERESTING_U32)
            else:
                value = (struct.unpack_from(bo + "I", buf, pos)[0] + rng.choice((-8, -4, -1, 1, 4, 8, 16, 64))) & 0xFFFFFFFF
            struct.pack_into(bo + "I", buf, pos, value)
        elif op == "u64":
            pos = start + (rng.randrange(size) & ~7)
            if pos + 8 > len(buf):
                continue
            struct.pack_into(bo + "Q", buf, pos, rng.choice((0, 1 << 32, 1 << 63, (1 << 64) - 1, 0x7FFFFFFF_FFFFFFFF)))
        elif op == "chunk":
            n = rng.randrange(1, 33)
            src = rng.randrange(len(buf))
            chunk = buf[src:src + n]
            buf[pos:pos + len(chunk)] = chunk
        else:
            del buf[pos:]
        edits.append(f"{op}@{region}+{pos - start:#x}")
    return bytes(buf), edits


def raw_btf_of(data: bytes) -> Optional[bytes]:
    """The .BTF section of a valid object (the seed of raw-BTF mutants)."""
    import io

    from elftools.elf.elffile import ELFFile

    sec = ELFFile(io.BytesIO(data)).get_section_by_name(".BTF")
    return sec.data() if sec is not None else None


# ----------------------------------------------------------------------------------------------
# Verdicts

@dataclass
class Outcome:
    command: str
    status: int            # exit status, or -signal
    stderr: str
    maxrss_kb: int
    seconds: float
    litter: List[str]      # temp files left in the output directory
    outputs: List[str]     # files written to the output directory

    def problem(self, inputs: Sequence[str]) -> Optional[str]:
        """Why this outcome breaks the contract, or None."""
        err = self.stderr
        if ("MemoryError" in err or self.status in (-signal.SIGKILL, -signal.SIGSEGV)
                or self.maxrss_kb * 1024 > BLOWUP_RSS):
            return "blow-up"
        if self.status in (-signal.SIGALRM, -signal.SIGXCPU):
            return "hang"
        if "Traceback (most recent call last)" in err:
            return "traceback"
        if self.status < 0:
            return f"killed by signal {-self.status}"
        if self.status == CHILD_FAILED:
            return "the case's process died before reporting"
        if self.litter:
            return "litter"
        if self.status == 0:
            return None
        if self.status != 1:
            return f"exit status {self.status}"
        if self.outputs:
            return "output written despite the error"
        lines = err.splitlines()
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return "not one error line"
        if not any(lines[0].startswith(f"error: {p}: ") for p in inputs):
            return "error does not name the input file"
        return None


# ----------------------------------------------------------------------------------------------
# The worker: forks one capped child per case.

def _entry(name: str):
    if name == "bpf-link":
        from bpf_build.cli.link import main
    elif name == "self-test":
        main = _misbehave
    else:
        from bpf_build.cli.main import main
    return main


def _misbehave(argv: List[str]) -> int:
    """The "self-test" entry: misbehaves as told, to show the verdicts catch each kind."""
    import time

    if argv == ["--raise"]:
        raise ValueError("raised on purpose")
    if argv == ["--hang"]:
        time.sleep(3600)
    if argv == ["--allocate"]:
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
    return 0


def _preload() -> None:
    """Import everything a command may import lazily, so children only fork."""
    import bpf_build.cli.link  # noqa: F401
    import bpf_build.cli.main as cli_main
    import bpf_build.loader.gen
    import bpf_build.link.linker
    import bpf_build.btf.c
    import bpf_build.skel.c  # noqa: F401
    import bpf_build.skel.light_c  # noqa: F401
    import bpf_build.skel.python  # noqa: F401
    import bpf_build.btf.dedup  # noqa: F401
    import elftools.elf.elffile  # noqa: F401
    import elftools.elf.enums  # noqa: F401
    for command in cli_main.COMMANDS:  # each command's module, with what it imports
        cli_main.build_parser(command.name)


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _child(entry: str, argv: List[str], case_dir: str, memory_cap: int, wall: int) -> None:
    import io
    import traceback

    os.chdir(case_dir)
    resource = __import__("resource")
    resource.setrlimit(resource.RLIMIT_AS, (memory_cap, memory_cap))
    cpu = min(CPU_LIMIT, wall)
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    signal.alarm(wall)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(out, fd)
        os.close(out)
    # As the interpreter sets them up under a UTF-8 locale: stderr escapes what it cannot encode.
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=True)
    sys.argv = [entry] + argv
    code = 1
    try:
        # What the console script does: sys.exit(main()); an uncaught exception prints Python's
        # traceback and exits 1.
        code = _entry(entry)(argv)
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code if isinstance(code, int) else 1)


def run_in_child(entry: str, argv: List[str], case_dir: str, memory_cap: int,
                 wall: int = WALL_LIMIT) -> Tuple[int, int, float]:
    """(status or -signal, peak RSS in KiB, seconds) of one capped child."""
    import time

    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            _child(entry, argv, case_dir, memory_cap, wall)
        finally:
            os._exit(CHILD_FAILED)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - t
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return code, usage.ru_maxrss, seconds


def _serve() -> None:
    """Worker loop: one JSON request per line on stdin, one JSON result per line on stdout."""
    _preload()
    base = _address_space()
    out = sys.stdout
    for line in sys.stdin:
        # A request is a list of cases, run one after the other: one round trip per mutant.
        replies = [_serve_case(req, base) for req in json.loads(line)]
        try:
            out.write(json.dumps(replies) + "\n")
            out.flush()
        except BrokenPipeError:
            return  # the driver is gone (interrupted): nothing to report to


def _serve_case(req: dict, base: int) -> dict:
    case_dir = req["dir"]
    out_dir = os.path.join(case_dir, "out")
    os.makedirs(out_dir, exist_ok=True)
    status, rss, seconds = run_in_child(req["entry"], req["argv"], case_dir,
                                        base + req.get("headroom", MEMORY_HEADROOM),
                                        req.get("wall", WALL_LIMIT))
    with open(os.path.join(case_dir, "stderr"), errors="replace") as f:
        err = f.read()
    written = os.listdir(out_dir)
    for n in written:
        os.unlink(os.path.join(out_dir, n))
    return {"status": status, "stderr": err[-4000:], "rss": rss, "seconds": seconds,
            "litter": [n for n in written if ".tmp-" in n],
            "outputs": [n for n in written if ".tmp-" not in n]}


class Worker:
    """A worker process; ``run(command, case_dir)`` runs one case in a fresh child."""

    def __init__(self):
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.fuzz.harness", "--worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=str(REPO), env=env)

    def run(self, command: Command, case_dir: str, wall: int = WALL_LIMIT,
            headroom: int = MEMORY_HEADROOM) -> Outcome:
        """One case; ``wall`` (seconds) and ``headroom`` (bytes of address space over the
        worker's) cap it."""
        return self.run_many([command], case_dir, wall, headroom)[0]

    def run_many(self, commands: Sequence[Command], case_dir: str, wall: int = WALL_LIMIT,
                 headroom: int = MEMORY_HEADROOM) -> List[Outcome]:
        """``run`` for each command, in one request to the worker."""
        reqs = [{"entry": c.entry, "argv": list(c.argv), "dir": case_dir, "wall": wall,
                 "headroom": headroom} for c in commands]
        self.proc.stdin.write(json.dumps(reqs) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("fuzz worker died")
        return [Outcome(c.label, r["status"], r["stderr"], r["rss"], r["seconds"], r["litter"],
                        r["outputs"]) for c, r in zip(commands, json.loads(line))]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@dataclass
class Finding:
    seed: str
    seed_value: int
    edits: List[str]
    command: str
    problem: str
    stderr: str


def run_mutant(worker: Worker, seed: Seed, seed_value: int, case_dir: str,
               commands: Sequence[Command] = COMMANDS) -> Tuple[List[Outcome], List[Finding]]:
    """Every command on one mutant of ``seed`` (raw-BTF commands on a mutant of its .BTF)."""
    data, edits = mutate(seed, seed_value)
    Path(case_dir, INPUT_NAME).write_bytes(data)
    raw = raw_btf_of(seed.data)
    if raw is not None:
        raw_seed = Seed(seed.name + ".BTF", raw, {"btf": (0, len(raw)), "header": (0, 24)})
        raw_data, raw_edits = mutate(raw_seed, seed_value)
        Path(case_dir, RAW_BTF_NAME).write_bytes(raw_data)
    findings = []
    commands = [c for c in commands if raw is not None or not c.raw_btf]
    outcomes = worker.run_many(commands, case_dir)
    for command, outcome in zip(commands, outcomes):
        inputs = (RAW_BTF_NAME,) if command.raw_btf else (INPUT_NAME,)
        problem = outcome.problem(inputs)
        if problem:
            findings.append(Finding(seed.name, seed_value, raw_edits if command.raw_btf else edits,
                                    command.label, problem, outcome.stderr))
    return outcomes, findings


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        _serve()
    else:
        sys.exit("usage: python -m tests.fuzz.harness --worker (see bench/fuzz.py)")
