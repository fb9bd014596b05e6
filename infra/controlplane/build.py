"""Build the control plane binaries from the pinned wrapper modules, cached under ``.tools/``.

Usage::

    python -m infra.controlplane.build [--dest .tools] [--jobs 2] [--force]

Result: ``.tools/controlplane-k8s-v1.35.4-etcd-v3.6.16-kwok-v0.7.0/bin/{etcd,kwok,kube-apiserver,
kube-controller-manager,kube-scheduler}`` and ``stamp.json`` beside ``bin/``.

Each binary is built alone (``go build -p <jobs>`` under ``nice -n 19``: the build machines are
shared) with ``GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=readonly``, ``-trimpath`` and its
version ``-ldflags``; modules come from the Go module proxy configured for ``go``. The stamp
records, per binary, a sha256 over its wrapper module's go.mod and go.sum, the Go package, the
flags and ``go version``; a binary whose stamp matches is not rebuilt, so a second run costs the
hashing and one ``go version`` call. Each binary is written under a temporary name unique to
its build, in the same folder, and renamed into place (``install_binary``); concurrent builds of
one cache (two ``make tools``) take turns on a lock file (``build_lock``), so the second waits
and then finds everything up to date instead of building again.

Exit status: 0 when every binary is in place, 1 with a message on stderr otherwise.
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
from pathlib import Path

from infra.controlplane.components import BINARIES, REPO_ROOT, Binary, release_name

DEFAULT_DEST = REPO_ROOT / ".tools"
STAMP_FILE = "stamp.json"
#: Lock file beside ``bin/`` that one build at a time holds (``fcntl.flock``).
LOCK_FILE = ".build.lock"
#: Environment every ``go`` call gets on top of the caller's (GOPROXY etc. are left as set).
GO_ENV = {"GOTOOLCHAIN": "local", "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
#: Flags common to every build; ``-s -w`` drop the symbol tables (smaller, same behaviour).
BUILD_FLAGS = ("-trimpath", "-buildvcs=false")
_LINK_FLAGS = ("-s", "-w")
_BUILD_TIMEOUT_S = 3 * 3600


class BuildError(RuntimeError):
    """Go is missing, a build failed, or binaries are missing or stale."""


def cache_dir(dest: Path = DEFAULT_DEST) -> Path:
    """Absolute folder of this release's binaries and stamp: ``<dest>/controlplane-<pins>``."""
    return dest.resolve() / release_name()


def go_version() -> str:
    """``go version`` output, e.g. ``go version go1.26.8 linux/amd64``; raises ``BuildError``."""
    go = shutil.which("go")
    if go is None:
        raise BuildError("go is not installed (Go >= 1.25 builds the control plane)")
    env = {**os.environ, **GO_ENV}
    result = subprocess.run([go, "version"], env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise BuildError(f"go version failed: {result.stderr.strip()}")
    return result.stdout.strip()


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
    """sha256 over what decides the binary's bytes: module files, package, flags, toolchain."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
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


def stale(
    dest: Path = DEFAULT_DEST, binaries: Iterable[Binary] = BINARIES, *, toolchain: str = ""
) -> list[Binary]:
    """The binaries missing from the cache or built from other inputs than the current ones."""
    folder = cache_dir(dest)
    stamp = _read_stamp(folder)
    toolchain = toolchain or go_version()
    return [
        b
        for b in binaries
        if not (folder / "bin" / b.name).is_file() or stamp.get(b.name) != stamp_key(b, toolchain)
    ]


def installed(dest: Path = DEFAULT_DEST) -> dict[str, Path]:
    """``{name: path}`` of every binary, all current; raises ``BuildError`` naming what is not."""
    missing = stale(dest)
    if missing:
        names = ", ".join(b.name for b in missing)
        raise BuildError(
            f"control plane binaries missing or stale in {cache_dir(dest)}: {names} "
            "(run `make controlplane`)"
        )
    return {b.name: cache_dir(dest) / "bin" / b.name for b in BINARIES}


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


def build(
    dest: Path = DEFAULT_DEST,
    *,
    jobs: int = 2,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Path]:
    """Build every missing or stale binary, one at a time; returns ``{name: path}``.

    Logs one line per binary with its build time in seconds. Raises ``BuildError`` with the
    tail of go's output when a build fails (binaries built before it stay cached).
    """
    toolchain = go_version()
    folder = cache_dir(dest)
    bin_dir = folder / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    with build_lock(folder, log):
        # Decided under the lock: a build that waited finds the other's binaries up to date.
        todo = {b.name for b in (BINARIES if force else stale(dest, toolchain=toolchain))}
        for binary in BINARIES:
            if binary.name not in todo:
                log(f"{binary.name}: up to date")
                continue
            started = time.monotonic()
            install_binary(bin_dir / binary.name, functools.partial(_go_build, binary, jobs=jobs))
            stamp = _read_stamp(folder)
            stamp[binary.name] = stamp_key(binary, toolchain)
            (folder / STAMP_FILE).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n")
            log(f"{binary.name}: built in {time.monotonic() - started:.1f} s")
    return {b.name: bin_dir / b.name for b in BINARIES}


def _go_build(binary: Binary, output: Path, jobs: int) -> None:
    """``go build`` ``binary`` to ``output`` (under ``nice``); ``BuildError`` with go's tail."""
    nice = ["nice", "-n", "19"] if shutil.which("nice") else []
    result = subprocess.run(
        [*nice, *build_command(binary, output, jobs=jobs)],
        cwd=binary.module_dir,
        env={**os.environ, **GO_ENV},
        capture_output=True,
        text=True,
        timeout=_BUILD_TIMEOUT_S,
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-20:])
        raise BuildError(f"building {binary.name} ({binary.package}) failed:\n{tail}")


def main(argv: list[str] | None = None) -> int:
    """Command line: build what is stale, print each binary's time and the folder."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="tools folder (.tools)")
    parser.add_argument("--jobs", type=int, default=2, help="go build -p (default 2)")
    parser.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        build(args.dest, jobs=args.jobs, force=args.force)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"control plane binaries in {cache_dir(args.dest)} ({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
