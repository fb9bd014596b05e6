"""Build a release of Go binaries from pinned wrapper modules into ``<dest>/<release>/bin``.

A wrapper module is a folder holding a committed ``go.mod`` and ``go.sum`` that pin one upstream
release (and, when upstream's own main package cannot be built from its module, a small
``main.go``). A ``Release`` names the binaries built from such modules and the cache folder
they share; ``infra.controlplane.build`` and ``infra.engine.build`` are thin front ends over
a ``Release``: they bind its name, binaries and ``make`` target.

Each binary is built alone (``go build -p <jobs>`` under ``nice -n 19``: the build machines are
shared) with ``GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly``, ``-trimpath`` and its
version ``-ldflags``; modules come from the Go module proxy configured for ``go``. The stamp
(``stamp.json`` beside ``bin/``) records, per binary, a sha256 over its wrapper module's files,
the Go package, the flags and ``go version`` (``stamp_key``); a binary whose stamp matches is not
rebuilt, so a second run costs the hashing and one ``go version`` call. Each binary is written
under a temporary name unique to its build, in the same folder, and renamed into place
(``install_binary``); concurrent builds of one cache (two ``make tools``) take turns on a lock
file (``build_lock``), so the second waits and then finds everything up to date.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Where ``make tools`` puts every tool; a release's cache is a folder inside it.
DEFAULT_DEST = REPO_ROOT / ".tools"
STAMP_FILE = "stamp.json"
#: Lock file beside ``bin/`` that one build at a time holds (``fcntl.flock``).
LOCK_FILE = ".build.lock"
#: Environment every ``go`` call gets on top of the caller's (GOPROXY etc. are left as set).
GO_ENV = {"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
#: Flags common to every build; ``-s -w`` drop the symbol tables (smaller, same behaviour).
BUILD_FLAGS = ("-trimpath", "-buildvcs=false")
_LINK_FLAGS = ("-s", "-w")
#: Files of a wrapper module that always decide its binaries' bytes; its ``*.go`` files follow.
_MODULE_FILES = ("go.mod", "go.sum")
_BUILD_TIMEOUT_S = 3 * 3600
_GO_VERSION_TIMEOUT_S = 60


class BuildError(RuntimeError):
    """Go is missing, a build failed, or binaries are missing or stale."""


@dataclass(frozen=True)
class Binary:
    """One executable built from Go ``package`` in the wrapper module at ``module_dir``.

    ``module_dir`` is an absolute folder holding go.mod and go.sum; ``ldflags`` are ``-X``
    stamps and the like; ``prepare(binary)``, when given, runs right before each build of it
    (for example to copy files that ``main.go`` embeds) and raises ``BuildError`` when it cannot.
    Whatever ``prepare`` produces must be decided by the module files hashed in ``stamp_key``.
    """

    name: str
    module_dir: Path
    package: str
    ldflags: tuple[str, ...] = ()
    prepare: Callable[[Binary], None] | None = field(default=None, compare=False)


def go_version() -> str:
    """``go version`` output, e.g. ``go version go1.26.8 linux/amd64``; raises ``BuildError``."""
    go = shutil.which("go")
    if go is None:
        raise BuildError("go is not installed (Go >= 1.26.6 builds the pinned tools)")
    result = subprocess.run(
        [go, "version"], env=go_env(), capture_output=True, text=True, timeout=_GO_VERSION_TIMEOUT_S
    )
    if result.returncode != 0:
        raise BuildError(f"go version failed: {result.stderr.strip()}")
    return result.stdout.strip()


def go_env() -> dict[str, str]:
    """The environment of every ``go`` call: the caller's plus ``GO_ENV``."""
    return {**os.environ, **GO_ENV}


def ldflags(binary: Binary) -> str:
    """The ``-ldflags`` value for ``binary``."""
    return " ".join((*_LINK_FLAGS, *binary.ldflags))


def build_command(binary: Binary, output: Path, *, jobs: int) -> list[str]:
    """The ``go build`` argv (without ``nice``) writing ``binary`` to ``output``."""
    return [
        "go",
        "build",
        f"-p={jobs}",
        *BUILD_FLAGS,
        f"-ldflags={ldflags(binary)}",
        "-o",
        str(output),
        binary.package,
    ]


def stamp_key(binary: Binary, toolchain: str) -> str:
    """sha256 over what decides the binary's bytes: module files, package, flags, toolchain.

    The module files are go.mod, go.sum and the module folder's own ``*.go`` files (sorted by
    name; a wrapper module without code hashes exactly go.mod and go.sum). Files a ``prepare``
    step copies out of a required module are covered by go.sum, which pins that module's hash.
    """
    digest = hashlib.sha256()
    sources = sorted(path.name for path in binary.module_dir.glob("*.go"))
    for name in (*_MODULE_FILES, *sources):
        digest.update(name.encode() + b"\0" + (binary.module_dir / name).read_bytes() + b"\0")
    fixed = [binary.package, ldflags(binary), *BUILD_FLAGS, toolchain]
    fixed += [f"{k}={v}" for k, v in sorted(GO_ENV.items())]
    digest.update("\0".join(fixed).encode())
    return digest.hexdigest()


def _read_stamp(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / STAMP_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


@contextlib.contextmanager
def build_lock(folder: Path, log: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the exclusive build lock of the cache ``folder`` (``<folder>/.build.lock``).

    Blocks (logging once that it waits) while another process or thread holds it; released on
    leaving the block or when the holder dies. Creates ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / LOCK_FILE).open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another build of {folder} to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install_binary(target: Path, write: Callable[[Path], None]) -> Path:
    """Produce ``target`` atomically: ``write(path)`` creates the file at a temporary path.

    The path lies in a fresh folder beside ``target`` (``.<name>.<random>/<name>``: unique per
    call, so concurrent builders never share one; ``go build -o`` refuses to overwrite a file
    that is not a binary, hence a folder rather than a file), and is renamed onto ``target``
    (``os.replace``: readers see the old or the new file, never a partial one). The temporary
    folder is removed in every case; whatever ``write`` raises propagates. Returns ``target``.
    """
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        partial = scratch / target.name
        write(partial)
        os.replace(partial, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _go_build(binary: Binary, output: Path, jobs: int) -> None:
    """``go build`` ``binary`` to ``output`` (under ``nice``); ``BuildError`` with go's tail."""
    nice = ["nice", "-n", "19"] if shutil.which("nice") else []
    result = subprocess.run(
        [*nice, *build_command(binary, output, jobs=jobs)],
        cwd=binary.module_dir,
        env=go_env(),
        capture_output=True,
        text=True,
        timeout=_BUILD_TIMEOUT_S,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-20:])
        raise BuildError(f"building {binary.name} ({binary.package}) failed:\n{tail}")


@dataclass(frozen=True)
class Release:
    """Binaries cached together under ``<dest>/<name>/bin`` with one stamp and one lock.

    ``title`` names them in messages (``control plane``); ``make_target`` is the ``make`` target
    that builds them, named in the error when they are missing. ``dest`` is the tools folder
    everywhere (default ``<repo>/.tools``; a relative one is taken from the working directory).
    """

    name: str
    binaries: tuple[Binary, ...]
    title: str
    make_target: str

    def cache_dir(self, dest: Path = DEFAULT_DEST) -> Path:
        """Absolute folder of the binaries and their stamp: ``<dest>/<name>``."""
        return dest.resolve() / self.name

    def stale(
        self,
        dest: Path = DEFAULT_DEST,
        binaries: Iterable[Binary] | None = None,
        *,
        toolchain: str = "",
    ) -> list[Binary]:
        """Those of ``binaries`` (default: all) missing or built from other inputs than now."""
        folder = self.cache_dir(dest)
        stamp = _read_stamp(folder)
        toolchain = toolchain or go_version()
        return [
            b
            for b in (self.binaries if binaries is None else binaries)
            if not (folder / "bin" / b.name).is_file()
            or stamp.get(b.name) != stamp_key(b, toolchain)
        ]

    def installed(self, dest: Path = DEFAULT_DEST) -> dict[str, Path]:
        """``{name: path}`` of every binary, all current.

        Raises ``BuildError`` naming the missing or stale binaries and ``make <make_target>``.
        """
        folder = self.cache_dir(dest)
        missing = self.stale(dest)
        if missing:
            names = ", ".join(b.name for b in missing)
            raise BuildError(
                f"{self.title} binaries missing or stale in {folder}: {names} "
                f"(run `make {self.make_target}`)"
            )
        return {b.name: folder / "bin" / b.name for b in self.binaries}

    def build(
        self,
        dest: Path = DEFAULT_DEST,
        *,
        jobs: int = 2,
        force: bool = False,
        log: Callable[[str], None] = print,
    ) -> dict[str, Path]:
        """Build every missing or stale binary, one at a time; returns ``{name: path}``.

        Logs one line per binary with its build time in seconds (its ``prepare`` step
        included). Raises ``BuildError`` when a ``prepare`` step or a build fails, the latter
        with the tail of go's output (binaries built before it stay cached).
        """
        toolchain = go_version()
        folder = self.cache_dir(dest)
        bin_dir = folder / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        with build_lock(folder, log):
            # Decided under the lock: a build that waited finds the other's binaries current.
            todo = self.binaries if force else self.stale(dest, toolchain=toolchain)
            names = {b.name for b in todo}
            for binary in self.binaries:
                if binary.name not in names:
                    log(f"{binary.name}: up to date")
                    continue
                started = time.monotonic()
                if binary.prepare is not None:
                    binary.prepare(binary)
                write = functools.partial(_go_build, binary, jobs=jobs)
                install_binary(bin_dir / binary.name, write)
                stamp = _read_stamp(folder)
                stamp[binary.name] = stamp_key(binary, toolchain)
                text = json.dumps(stamp, indent=2, sort_keys=True) + "\n"
                (folder / STAMP_FILE).write_text(text)
                log(f"{binary.name}: built in {time.monotonic() - started:.1f} s")
        return {b.name: bin_dir / b.name for b in self.binaries}

    def main(self, argv: list[str] | None, description: str) -> int:
        """Command line of a release's build module: build what is stale, print the times.

        Options ``--dest`` (default ``DEFAULT_DEST``), ``--jobs`` (``go build -p``, default 2)
        and ``--force``. Returns 0 when every binary is in place, 1 after printing the error.
        """
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="tools folder")
        parser.add_argument("--jobs", type=int, default=2, help="go build -p (default 2)")
        parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
        args = parser.parse_args(argv)
        started = time.monotonic()
        try:
            self.build(args.dest, jobs=args.jobs, force=args.force)
        except BuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        elapsed = time.monotonic() - started
        print(f"{self.title} binaries in {self.cache_dir(args.dest)} ({elapsed:.1f} s)")
        return 0
