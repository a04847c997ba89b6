#!/usr/bin/env python3
"""Private programs for the tests, unpacked into .venv/<name> from Debian's own packages.

    python3 scripts/debs_local.py              # install every bundle that is missing; always exits 0
    python3 scripts/debs_local.py zsh fish     # just these

Bundles: clamav (clamd, for the file-scan tests), zsh and fish (for the shell-completion tests).
Nothing is installed system-wide and root is not needed: `apt-get download` fetches a bundle's
package and whichever of its libraries (and data packages) this machine lacks, `dpkg -x` unpacks
them into .venv/<name>/root, and the tests run the program from there with LD_LIBRARY_PATH
(`environ()`). When apt's package lists do not know the package, a private `apt-get update` into
that folder fills them.

This must never fail the test command: when an install cannot be done (not Debian, no network) it
prints one line, writes the reason to .venv/<name>/UNAVAILABLE, and the tests that need it skip
with that reason (`unavailable_reason()`).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
APT_TIMEOUT = 300  # seconds for each apt-get run; a hung mirror must not hang the test command


@dataclass(frozen=True)
class Bundle:
    name: str  # its folder: .venv/<name>
    package: str  # the Debian package apt resolves
    program: str  # the executable, relative to the unpacked root
    version_args: tuple[str, ...]  # a quick run proving the unpacked program starts
    # besides the package and the libraries apt says are missing, the packages worth unpacking
    # (data such as zsh's completion functions); anything else (config, updaters) is left out
    also: tuple[str, ...] = ()

    @property
    def home(self) -> Path:
        return VENV / self.name


BUNDLES = {
    b.name: b
    for b in (
        # clamav-base/-freshclam only carry config and the updater, which the tests replace with their own
        Bundle("clamav", "clamav-daemon", "usr/sbin/clamd", ("--config-file=/dev/null", "--version")),
        Bundle("zsh", "zsh", "bin/zsh", ("-f", "-c", "echo zsh $ZSH_VERSION"), also=("zsh-common",)),
        Bundle("fish", "fish", "usr/bin/fish", ("--version",), also=("fish-common",)),
    )
}


class Unavailable(Exception):
    """Why this machine gets no local copy of a bundle."""


def program_path(bundle: Bundle, home: Path | None = None) -> Path:
    return (home or bundle.home) / "root" / bundle.program


def environ(home: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (os.environ) plus LD_LIBRARY_PATH pointing at the unpacked libraries, before the system's."""
    base = dict(os.environ if base is None else base)
    root = home / "root"
    dirs = [*root.glob("usr/lib/*-linux-*"), *root.glob("lib/*-linux-*"), root / "usr" / "lib"]
    paths = [str(d) for d in dirs if d.is_dir()]
    if base.get("LD_LIBRARY_PATH"):
        paths.append(base["LD_LIBRARY_PATH"])
    return {**base, "LD_LIBRARY_PATH": os.pathsep.join(paths)}


def unavailable_reason(bundle: Bundle, home: Path | None = None, what: str | None = None) -> str | None:
    """None when the bundle is installed, else why not (for pytest.skip)."""
    home = home or bundle.home
    what = what or f"local {bundle.name}"
    if (home / "INSTALLED").is_file() and program_path(bundle, home).is_file():
        return None
    try:
        return f"no {what}: " + (home / "UNAVAILABLE").read_text().strip()
    except OSError:
        return (
            f"no {what}: run `python3 dev.py test` or `python3 scripts/debs_local.py {bundle.name}` "
            "to install one"
        )


def ensure(bundle: Bundle, home: Path | None = None) -> str | None:
    """Install when missing; None when the program is ready, else the one-line reason it is not."""
    home = home or bundle.home
    if unavailable_reason(bundle, home) is None:
        return None
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second `dev.py test` waits for the first one's install
        if unavailable_reason(bundle, home) is None:
            return None
        try:
            _install(bundle, home)
        except Unavailable as exc:
            reason = " ".join(str(exc).split())[:300]
            (home / "UNAVAILABLE").write_text(reason + "\n")
            return reason
        finally:
            for scratch in ("work", "apt", "root.new"):
                shutil.rmtree(home / scratch, ignore_errors=True)
    (home / "UNAVAILABLE").unlink(missing_ok=True)
    return None


def run(args: list[str], cwd: Path | None = None, timeout: float = APT_TIMEOUT) -> str:
    """stdout of an apt-get/dpkg command; Unavailable with its last error line when it fails or hangs
    (scripts/browser_local.py uses it too)."""
    try:
        done = subprocess.run(
            args,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"},
        )
    except subprocess.TimeoutExpired:
        raise Unavailable(f"`{' '.join(args[:2])}` took more than {timeout:g}s") from None
    if done.returncode != 0:
        lines = done.stderr.splitlines()
        last = ([line for line in lines if line.startswith("E:")] or lines or [f"exit {done.returncode}"])[-1]
        raise Unavailable(f"`{' '.join(args[:2])}` failed: {last}")
    return done.stdout


def _download(bundle: Bundle, apt_options: list[str], work: Path) -> None:
    """The package and the libraries it needs that this machine lacks (apt's own resolver decides)."""
    out = run(["apt-get", "-s", "install", "--no-install-recommends", *apt_options, bundle.package])
    names = [line.split()[1] for line in out.splitlines() if line.startswith("Inst ")]
    wanted = {bundle.package, *bundle.also}
    packages = [n for n in names if n in wanted or n.startswith("lib")] or [bundle.package]
    # a package this machine already has is not in apt's list, but its files are needed here all the same
    packages += [n for n in bundle.also if n not in packages]
    run(["apt-get", "download", *apt_options, *packages], cwd=work)


def _install(bundle: Bundle, home: Path) -> None:
    started = time.monotonic()
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        raise Unavailable("this is not a Debian-like system (no apt-get/dpkg)")
    apt_options = ["-o", "Acquire::Retries=1", "-o", "Acquire::http::Timeout=30"]
    work, staged = home / "work", home / "root.new"
    for folder in (work, staged):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    try:
        _download(bundle, apt_options, work)
    except Unavailable:
        # the system's package lists are empty or stale: fetch private ones rather than touch /var/lib/apt
        apt = home / "apt"
        (apt / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        apt_options += [
            "-o",
            f"Dir::State::Lists={apt / 'lists'}",
            "-o",
            f"Dir::Cache={apt / 'cache'}",
            "-o",
            "Debug::NoLocking=1",
        ]
        run(["apt-get", "update", *apt_options])
        _download(bundle, apt_options, work)
    for deb in sorted(work.glob("*.deb")):
        run(["dpkg-deb", "-x", str(deb), str(staged)])
    shutil.rmtree(home / "root", ignore_errors=True)
    staged.rename(home / "root")
    try:
        version = subprocess.run(
            [str(program_path(bundle, home)), *bundle.version_args],
            capture_output=True,
            text=True,
            timeout=60,
            env=environ(home),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"the unpacked {bundle.program} does not start: {exc}") from None
    if version.returncode != 0:
        last = (version.stderr.strip().splitlines() or [f"exit {version.returncode}"])[-1]
        raise Unavailable(f"the unpacked {bundle.program} does not start: {last}")
    debs = " ".join(sorted(d.name for d in work.glob("*.deb")))
    (home / "INSTALLED").write_text(f"{version.stdout.strip()}\n{debs}\n")
    files = [f for f in (home / "root").rglob("*") if f.is_file() and not f.is_symlink()]
    size = sum(f.stat().st_size for f in files)
    print(
        f"debs_local: {version.stdout.strip()} unpacked into {home} "
        f"({size / 1024**2:.0f} MB, {time.monotonic() - started:.1f}s)",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    unknown = [n for n in names if n not in BUNDLES]
    if unknown:
        known = ", ".join(BUNDLES)
        print(f"debs_local: unknown bundle {', '.join(unknown)}; bundles: {known}", file=sys.stderr)
        return 0  # never fails the test command
    for name in names or list(BUNDLES):
        try:
            reason = ensure(BUNDLES[name])
        except Exception as exc:  # noqa: BLE001 - an installer bug must not fail the test command either
            reason = f"{type(exc).__name__}: {exc}"
        if reason:
            print(f"debs_local: no local {name}, the tests that need it will skip: {reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
