#!/usr/bin/env python3
"""Run a command (by default pytest) inside another kernel: Debian's stock kernels booted under
QEMU by virtme-ng, sharing this machine's root filesystem read-only.

    python scripts/vmtest.py KERNEL [-- pytest args]        # KERNEL: 6.1 | 6.12 | 5.10 | a vmlinuz path
    python scripts/vmtest.py KERNEL --shell 'uname -r'       # any shell command instead of pytest
    python scripts/vmtest.py KERNEL --fetch-only             # download and unpack the kernel, no boot

Kernels are Debian's ``linux-image-*-amd64-unsigned`` packages, downloaded with apt-get (never
installed: nothing in /boot or /lib/modules changes) and unpacked into a cache
(``$BPF_BUILD_VM_CACHE``, default ~/.cache/bpf-build/vm-kernels). 5.10 comes from Debian 11,
through a private source list made from this machine's own Debian mirror; the host's apt
configuration is not touched.

Facts this relies on (each verified on these machines):
- /dev/kvm here is a paravirtual host that cannot boot stock kernels; QEMU's TCG can. KVM is used
  only when the CPU flags show vmx/svm and no kvm_pvm module is loaded.
- The guest's udev would load modules for the whole rule set (10-13 s under TCG). Only the rule
  naming virtio ports is needed (virtme-ng's exit-status channel), so the rules directories are
  bind-mounted over with that one rule inside a private mount namespace (``unshare -m``).
- QEMU re-opens /proc/self/fd/1 and /2, so guest output must reach us through pipes.

The exit status is the guest command's; a kernel that cannot be fetched or booted is exit 125,
so CI fails rather than skipping it.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# not under /var, /tmp, /usr...: virtme-ng lays overlays over those in the guest
CACHE = Path(os.environ.get("BPF_BUILD_VM_CACHE", Path.home() / ".cache/bpf-build/vm-kernels"))
BOOT_FAILED = 125

# Debian suite and package name pattern of each kernel series we test on.
SERIES = {
    "6.1": ("bookworm", r"linux-image-6\.1\.0-[0-9]+-amd64-unsigned"),
    "6.12": ("bookworm", r"linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned"),
    "5.10": ("bullseye", r"linux-image-5\.10\.0-[0-9]+-amd64-unsigned"),
}

UDEV_RULE = 'SUBSYSTEM=="virtio-ports", KERNEL=="vport*", ATTR{name}=="?*", SYMLINK+="virtio-ports/$attr{name}"\n'


class VmError(Exception):
    pass


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def _host_mirrors() -> list:
    """The Debian archive URIs this machine's apt already uses (deb822 or one-line format)."""
    uris = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if not path.is_file() or path.name.endswith((".disabled", ".save")) or "disabled" in path.name:
            continue
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            m = re.match(r"URIs:\s*(\S+)", line) or re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)", line)
            if m and m.group(1) not in uris:
                uris.append(m.group(1))
    return uris


def _apt_options(suite: str, workdir: Path) -> list:
    """apt-get options that read package lists for ``suite`` only, from a private state directory."""
    if suite == "bookworm":
        return []
    lists = workdir / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    sources = workdir / "sources.list"
    mirrors = [u for u in _host_mirrors() if not u.rstrip("/").endswith("-security")]
    if not mirrors:
        raise VmError("no Debian mirror found in /etc/apt to fetch a %s kernel from" % suite)
    sources.write_text("".join(f"deb [trusted=yes] {u} {suite} main\n" for u in mirrors))
    opts = ["-o", f"Dir::Etc::sourcelist={sources}", "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State::Lists={lists}", "-o", "APT::Get::List-Cleanup=0"]
    _run(["apt-get", *opts, "update", "-qq"])
    return opts


def _newest_package(pattern: str, apt_opts: list) -> str:
    out = _run(["apt-cache", *apt_opts, "search", "--names-only", f"^{pattern}$"]).stdout
    names = [line.split()[0] for line in out.splitlines() if re.fullmatch(pattern, line.split()[0])]
    if not names:
        # the default lists may be stale on a fresh machine
        if not apt_opts:
            _run(["apt-get", "update", "-qq"])
            out = _run(["apt-cache", "search", "--names-only", f"^{pattern}$"]).stdout
            names = [line.split()[0] for line in out.splitlines()]
        if not names:
            raise VmError(f"no package matching {pattern} in the Debian archive")

    def version_key(name):
        return [int(x) for x in re.findall(r"\d+", name)]
    return max(names, key=version_key)


def fetch_kernel(series: str) -> Path:
    """The unpacked package root of the newest kernel of ``series``, downloading it if needed."""
    if series not in SERIES:
        raise VmError(f"unknown kernel series {series!r} (known: {', '.join(SERIES)})")
    suite, pattern = SERIES[series]
    CACHE.mkdir(parents=True, exist_ok=True, mode=0o755)
    done = CACHE / series / "package"
    if (done / ".complete").exists() and not os.environ.get("BPF_BUILD_VM_REFRESH"):
        return done
    with tempfile.TemporaryDirectory(dir=CACHE, prefix=f".fetch-{series}-") as tmp:
        work = Path(tmp)
        opts = _apt_options(suite, work)
        package = _newest_package(pattern, opts)
        _run(["apt-get", *opts, "download", "-qq", package], cwd=work)
        deb = next(work.glob("*.deb"))
        root = work / "package"
        _run(["dpkg-deb", "-x", str(deb), str(root)])
        release = next((root / "lib/modules").iterdir()).name
        _run(["depmod", "-b", str(root), release])
        (root / ".complete").write_text(f"{package}\n{release}\n")
        if done.exists():
            shutil.rmtree(done)
        done.parent.mkdir(exist_ok=True)
        os.rename(root, done)
    return done


def kernel_image(root: Path) -> Path:
    images = sorted((root / "boot").glob("vmlinuz-*"))
    if not images:
        raise VmError(f"{root}: no boot/vmlinuz-* in the kernel package")
    return images[0]


def use_kvm() -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    flags = Path("/proc/cpuinfo").read_text()
    if not re.search(r"\b(vmx|svm)\b", flags):
        return False
    modules = Path("/proc/modules").read_text() if Path("/proc/modules").exists() else ""
    return not re.search(r"^kvm_pvm\b", modules, re.M)


def guest_script(command: str, env: dict, boot_dir: Path = None) -> str:
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(env.items()))
    # /boot/config-$(uname -r) is where libbpf and our runtime find kconfig on Debian kernels
    # (they have no /proc/config.gz): show the guest its own package's /boot, as if installed.
    boot = f"mount --bind {shlex.quote(str(boot_dir))} /boot\n" if boot_dir else ""
    # Kernels before 5.18 may block getrandom() for minutes at boot under emulation (Python's
    # os.urandom waits for it): the boot line trusts the CPU's RDRAND and a virtio RNG counts as
    # entropy. udev is trimmed, so its module is loaded here.
    rng = "modprobe virtio-rng 2>/dev/null || true\n"
    return ("set -e\n" + boot + rng +
            "grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf\n"
            "[ -e /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing\n"
            "ip link set lo up 2>/dev/null || true\n"
            f"{exports}cd {shlex.quote(str(REPO))}\n"
            "set +e\n"
            f"{command}\n")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def boot(image: Path, command: str, env: dict, memory: str = "2G", cpus: int = 2,
         rwdirs=(), timeout: float = 3600) -> int:
    """Boot ``image``, run ``command`` in the guest as root in the repository; its exit status."""
    vng = shutil.which("vng", path=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if vng is None:
        raise VmError("vng (virtme-ng) not found: run scripts/setup.sh")
    with tempfile.TemporaryDirectory(prefix="bpf-build-vm-") as tmp:
        rules = Path(tmp) / "rules"
        rules.mkdir()
        (rules / "50-virtio-ports.rules").write_text(UDEV_RULE)
        script = Path(tmp) / "guest.sh"
        script.write_text(guest_script(command, env, image.parent))
        vng_cmd = [vng, "--run", str(image), "--memory", memory, "--cpus", str(cpus),
                   "--qemu-opts=-device virtio-rng-pci", "--append", "random.trust_cpu=on rng_core.default_quality=1000",
                   "--exec", f"sh {script}"]
        if not use_kvm():
            vng_cmd.insert(1, "--disable-kvm")
        if os.environ.get("BPF_BUILD_VM_VERBOSE"):  # the guest kernel's console too (boot, panics)
            vng_cmd.insert(1, "--verbose")
        for d in rwdirs:
            vng_cmd += ["--rwdir", str(d)]
        binds = "".join(f"mount --bind {shlex.quote(str(rules))} {d} && "
                        for d in ("/usr/lib/udev/rules.d", "/etc/udev/rules.d") if Path(d).is_dir())
        host_cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    binds + "exec " + " ".join(shlex.quote(c) for c in vng_cmd)]
        path = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
        # its own process group: an interrupted run takes QEMU down with it, leaving no guest behind
        proc = subprocess.Popen(host_cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env={**os.environ, "PATH": path},
                                start_new_session=True)
        assert proc.stdout is not None
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            # chunks, not lines: pytest's progress dots show as they come
            for chunk in iter(lambda: os.read(proc.stdout.fileno(), 65536), b""):
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            return proc.wait(timeout=timeout)
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, pytest_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("kernel", help="6.1, 6.12, 5.10, or the path of a vmlinuz")
    ap.add_argument("--shell", help="run this shell command instead of pytest")
    ap.add_argument("--fetch-only", action="store_true")
    ap.add_argument("--memory", default="2G")
    args = ap.parse_args(ours)
    started = time.monotonic()
    try:
        image = Path(args.kernel) if os.sep in args.kernel else kernel_image(fetch_kernel(args.kernel))
        if args.fetch_only:
            print(image)
            return 0
        command = args.shell or " ".join(
            shlex.quote(c) for c in [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *pytest_args])
        env = {"BPF_BUILD_IN_VM": args.kernel}
        for name in ("CI", "BPF_BUILD_TEST_CACHE"):
            if os.environ.get(name):
                env[name] = os.environ[name]
        rwdirs = [os.environ["BPF_BUILD_TEST_CACHE"]] if os.environ.get("BPF_BUILD_TEST_CACHE") else []
        status = boot(image, command, env, memory=args.memory, rwdirs=rwdirs)
    except (VmError, subprocess.CalledProcessError, OSError) as e:
        detail = getattr(e, "stderr", None) or ""
        print(f"error: vmtest {args.kernel}: {e} {detail.strip()}".rstrip(), file=sys.stderr)
        return BOOT_FAILED
    print(f"vmtest {args.kernel}: exit {status} after {time.monotonic() - started:.0f} s", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
