"""Light skeletons: generation time and load time, ours next to bpftool's, in one run.

1. Generating ``X.lskel.h``: ``generate()`` in process, ``bpf-build skel --light`` as a process,
   and ``bpftool gen skeleton -L`` as a process, on the same object.
2. Loading (``X__open_and_load()``, timed inside a C program, many rounds, destroyed between):
   our light skeleton, bpftool's light skeleton, and libbpf's regular skeleton (``bpftool gen
   skeleton``, linked with -lbpf), all for the same object.
3. Size of what each light skeleton embeds (loader instructions + blob).

Needs root (loads into the kernel), clang, gcc, bpftool and libbpf-dev.

Run: python3 bench/loader_bench.py [--case maps] [--repeat 10] [--rounds 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.common import median_seconds, report, time_command  # noqa: E402
from bpf_build.project.compile import compile_bpf  # noqa: E402
from bpf_build.model.elf import Object  # noqa: E402
from bpf_build.loader.gen import find_embedded_loader  # noqa: E402
from bpf_build.headers import include_dir  # noqa: E402
from bpf_build.skel.light_c import generate  # noqa: E402

CORPUS = os.path.join(REPO, "tests", "corpus")

# One C driver for the three skeleton kinds: every round opens and loads the skeleton, prints how
# long that took, and destroys it (not timed: freeing map-in-map maps waits for RCU grace periods).
DRIVER = r"""
#include <errno.h>
#include <stdio.h>
#include <time.h>
#include SKEL_HEADER

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int rounds = atoi(argv[1]), i;

	for (i = 0; i < rounds; i++) {
		long long t = now_ns(), elapsed;
		struct SKEL *skel = SKEL_PREFIX(open_and_load)();

		elapsed = now_ns() - t;
		if (!skel) {
			fprintf(stderr, "open_and_load failed\n");
			return 1;
		}
		SKEL_PREFIX(destroy)(skel);
		printf("%lld\n", elapsed);
	}
	return 0;
}
"""


def build_driver(tmp: str, tag: str, header: str, name: str, extra_flags) -> str:
    src = os.path.join(tmp, f"driver_{tag}.c")
    with open(src, "w") as f:
        f.write(DRIVER)
    exe = os.path.join(tmp, f"driver_{tag}")
    subprocess.run(["gcc", "-O2", "-I", include_dir(), "-I", tmp, f"-DSKEL_HEADER=\"{header}\"",
                    f"-DSKEL={name}", f"-DSKEL_PREFIX(f)={name}__##f", src, "-o", exe, *extra_flags],
                   check=True)
    return exe


def load_times(exe: str, rounds: int, repeat: int) -> float:
    """Median seconds per open_and_load over ``repeat`` processes of ``rounds`` rounds
    (the first round of each process is dropped: it pays for page faults)."""
    samples = []
    for _ in range(repeat):
        out = subprocess.run([exe, str(rounds)], capture_output=True, text=True, check=True).stdout
        samples += [int(x) for x in out.split()[1:]]
    return statistics.median(samples) / 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="maps", help="corpus case (tests/corpus/<case>.bpf.c)")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=50)
    args = ap.parse_args(argv)
    name = f"{args.case}_bpf"
    with tempfile.TemporaryDirectory(prefix="loader-bench-") as tmp:
        obj_path = os.path.join(tmp, f"{args.case}.bpf.o")
        compile_bpf(os.path.join(CORPUS, f"{args.case}.bpf.c"), obj_path)
        obj = Object.read(obj_path)

        ours_h = os.path.join(tmp, "ours.lskel.h")
        with open(ours_h, "w") as f:
            f.write(generate(obj, name))
        bpftool_h = os.path.join(tmp, "bpftool.lskel.h")
        with open(bpftool_h, "w") as f:
            f.write(subprocess.run(["bpftool", "gen", "skeleton", "-L", obj_path, "name", name],
                                   capture_output=True, text=True, check=True).stdout)
        libbpf_h = os.path.join(tmp, "libbpf.skel.h")
        with open(libbpf_h, "w") as f:
            f.write(subprocess.run(["bpftool", "gen", "skeleton", obj_path, "name", name],
                                   capture_output=True, text=True, check=True).stdout)

        print(f"object: tests/corpus/{args.case}.bpf.c ({os.path.getsize(obj_path)} bytes)\n")
        print("generating the light skeleton (median of", args.repeat, "runs)")
        in_process = median_seconds(lambda: generate(Object.read(obj_path), name), args.repeat)
        ours_cli = time_command([sys.executable, "-m", "bpf_build.cli.main", "skel", "--light", obj_path,
                                 "-o", os.path.join(tmp, "cli.lskel.h")], args.repeat)
        theirs_cli = time_command(["bpftool", "gen", "skeleton", "-L", obj_path, "name", name], args.repeat)
        report([("generate() in process vs bpftool -L", in_process, theirs_cli),
                ("bpf-build skel --light vs bpftool -L", ours_cli, theirs_cli)])

        print(f"\nloading: open_and_load (median over {args.repeat} x {args.rounds} rounds)")
        ours_exe = build_driver(tmp, "ours", "ours.lskel.h", name, [])
        bpftool_exe = build_driver(tmp, "bpftool", "bpftool.lskel.h", name, [])
        libbpf_exe = build_driver(tmp, "libbpf", "libbpf.skel.h", name, ["-lbpf", "-lelf", "-lz"])
        ours_load = load_times(ours_exe, args.rounds, args.repeat)
        bpftool_load = load_times(bpftool_exe, args.rounds, args.repeat)
        libbpf_load = load_times(libbpf_exe, args.rounds, args.repeat)
        for label, t in (("our light skeleton", ours_load), ("bpftool's light skeleton", bpftool_load),
                         ("libbpf's skeleton (-lbpf)", libbpf_load)):
            print(f"  {label:<28} {t * 1e3:9.3f} ms   ours/this = {ours_load / t:5.2f}x")

        print("\nembedded loader (instructions + blob bytes)")
        for tag, path in (("ours", ours_h), ("bpftool", bpftool_h)):
            with open(path) as f:
                insns, blob = find_embedded_loader(f.read(), path)
            print(f"  {tag:<8} {len(insns):5d} insns + {len(blob):6d} blob = {8 * len(insns) + len(blob):6d} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
