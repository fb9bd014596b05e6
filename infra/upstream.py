"""Fetch and verify the pinned upstream files (CRDs, chart archives, kustomize manifests).

Every file in ``infra.versions.UPSTREAM_FILES`` is installed below one root, by default
``<repo>/.tools/upstream`` (``$KUBEAI_TOOLS_DIR/upstream`` when that is set), at its pinned
``path``. Where each file comes from, in order:

1. the root itself, when the file is already there and verifies (a second run only hashes);
2. a mirror folder named by ``$KUBEAI_UPSTREAM_MIRROR`` (laid out as ``crds/`` and ``charts/``,
   the same relative paths), verified the same way;
3. its upstream URL (HTTPS, 30 s timeout per file).

A file whose digest differs from the pin is a hard error naming the file, the expected and the
actual sha256; nothing unverified is ever written below the root (files are written to a
temporary name and renamed). When a file cannot be fetched at all the error is one line naming
the URL and how to set a mirror.

Command line: ``python -m infra.upstream [--dest DIR] [--mirror DIR] [--quiet]``; exit 0 when
every file is in place, 1 with one line on stderr otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

from infra.files import write_atomic
from infra.versions import UPSTREAM_FILES, UpstreamFile

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Environment variable naming a mirror folder (``crds/``, ``charts/``) used before the network.
MIRROR_ENV = "KUBEAI_UPSTREAM_MIRROR"
#: Environment variable naming the tools folder (default ``<repo>/.tools``).
TOOLS_ENV = "KUBEAI_TOOLS_DIR"
#: Seconds one download may take before it counts as unreachable.
DOWNLOAD_TIMEOUT_S = 30.0


class UpstreamError(RuntimeError):
    """A pinned upstream file is missing, unreachable or fails verification (message says which)."""


def tools_dir() -> Path:
    """The tools folder: ``$KUBEAI_TOOLS_DIR`` or ``<repo>/.tools``."""
    return Path(os.environ.get(TOOLS_ENV) or REPO_ROOT / ".tools")


def default_root() -> Path:
    """Where the pinned upstream files are installed: ``<tools folder>/upstream``."""
    return tools_dir() / "upstream"


def chart_content_digest(data: bytes) -> str:
    """Content digest of a Helm chart archive (``.tgz`` bytes): 64 hex digits.

    The sha256 of the lines ``"<sha256 of file>  <path in archive>\\n"`` for every regular file,
    sorted by path (the format of ``sha256sum``). Timestamps, ownership and compression do not
    count, so two ``helm package`` runs of the same chart give the same digest. Directory
    members do not count either (``helm package`` writes none; the pinned digests predate this
    rule and stay valid): a directory only matters through the files below it.

    Raises ``UpstreamError`` when ``data`` is not a gzip'd tar archive, or when it holds a member
    that is neither a regular file nor a directory (a symlink, hardlink, device or fifo, which the
    digest could not cover), naming that member.
    """
    lines: list[tuple[str, str]] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():
                if member.isdir():
                    continue
                if not member.isfile():
                    raise UpstreamError(
                        f"chart archive member {member.name!r} is not a regular file or a "
                        f"directory ({_member_kind(member)}); refused"
                    )
                handle = archive.extractfile(member)
                if handle is None:  # pragma: no cover - isfile() members always extract
                    continue
                lines.append((member.name, hashlib.sha256(handle.read()).hexdigest()))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UpstreamError(f"not a chart archive (.tgz): {exc}") from None
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(lines))
    return hashlib.sha256(listing.encode()).hexdigest()


def _member_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return f"symlink to {member.linkname!r}"
    if member.islnk():
        return f"hardlink to {member.linkname!r}"
    return {
        tarfile.CHRTYPE: "character device",
        tarfile.BLKTYPE: "block device",
        tarfile.FIFOTYPE: "fifo",
    }.get(member.type, f"tar type {member.type!r}")


def digest_of(pin: UpstreamFile, data: bytes) -> str:
    """The digest of ``data`` in the pin's kind (``file``: sha256 of the bytes; ``chart``)."""
    if pin.digest == "chart":
        return chart_content_digest(data)
    return hashlib.sha256(data).hexdigest()


def verify(pin: UpstreamFile, data: bytes, *, origin: str) -> None:
    """Raise ``UpstreamError`` naming ``pin.path``, ``origin``, expected and actual digests.

    Data that cannot be digested at all (not a chart archive) is an ``UpstreamError`` naming
    ``pin.path`` and ``origin`` too.
    """
    try:
        actual = digest_of(pin, data)
    except UpstreamError as exc:
        raise UpstreamError(f"{pin.path} from {origin}: {exc}") from None
    if actual != pin.sha256:
        kind = "content sha256" if pin.digest == "chart" else "sha256"
        raise UpstreamError(
            f"{pin.path} from {origin}: {kind} mismatch: expected {pin.sha256}, actual {actual}"
        )


def _is_installed(pin: UpstreamFile, root: Path) -> bool:
    path = root / pin.path
    if not path.is_file():
        return False
    try:
        verify(pin, path.read_bytes(), origin=str(path))
    except UpstreamError:
        return False
    return True


def _download(pin: UpstreamFile) -> bytes:
    if not pin.url.startswith("https://"):
        raise UpstreamError(f"{pin.path}: refusing to fetch a non-https URL {pin.url}")
    request = urllib.request.Request(pin.url, headers={"User-Agent": "kubeai-upstream-fetch"})  # noqa: S310 - https only, checked above
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310
            data: bytes = response.read()
            return data
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UpstreamError(
            f"cannot fetch {pin.path} from {pin.url} ({reason}); on a machine without access to "
            f"upstream hosts set {MIRROR_ENV} to a folder laid out as crds/ and charts/ "
            "(for example a copy of the files under .tools/upstream from a machine that has them)"
        ) from None


def fetch(
    *,
    root: Path | None = None,
    mirror: Path | None = None,
    pins: Iterable[UpstreamFile] = UPSTREAM_FILES,
    log: Callable[[str], None] | None = None,
    mirror_from: str = "mirror argument",
) -> Path:
    """Install every pin below ``root`` (default ``default_root()``) and return ``root``.

    ``mirror`` defaults to ``$KUBEAI_UPSTREAM_MIRROR`` (unset or empty: none); ``mirror_from``
    is what named a ``mirror`` given here (e.g. ``--mirror``), for the errors about it (which
    name ``KUBEAI_UPSTREAM_MIRROR`` when the mirror came from there). Files already in place and
    verified are kept. Raises ``UpstreamError`` (one line: the file, and expected/actual digests
    or the URL that failed) at the first file that cannot be installed; files installed before it
    stay, verified. ``log`` receives one line per file installed.
    """
    root = (root or default_root()).resolve()
    if mirror is None and os.environ.get(MIRROR_ENV):
        mirror, mirror_from = Path(os.environ[MIRROR_ENV]), MIRROR_ENV
    if mirror is not None and not mirror.is_dir():
        raise UpstreamError(f"{mirror_from} {mirror} is not a directory")
    try:
        return _install(root, mirror, mirror_from, pins, log)
    except OSError as exc:  # e.g. $KUBEAI_TOOLS_DIR is a file or cannot be written
        named = os.environ.get(TOOLS_ENV)
        where = f" (from {TOOLS_ENV}={named})" if named and root == default_root().resolve() else ""
        raise UpstreamError(f"cannot install upstream files under {root}{where}: {exc}") from None


def _install(
    root: Path,
    mirror: Path | None,
    mirror_from: str,
    pins: Iterable[UpstreamFile],
    log: Callable[[str], None] | None,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)  # an unusable tools folder fails before any download
    for pin in pins:
        if _is_installed(pin, root):
            continue
        if mirror is not None and (mirror / pin.path).is_file():
            source = mirror / pin.path
            data = source.read_bytes()
            verify(pin, data, origin=str(source))
            origin = f"mirror {source}"
        elif mirror is not None:
            raise UpstreamError(
                f"{pin.path} is missing from the mirror {mirror} ({mirror_from}); "
                f"it is pinned as {pin.url}"
            )
        else:
            data = _download(pin)
            verify(pin, data, origin=pin.url)
            origin = pin.url
        write_atomic(root / pin.path, data)
        if log is not None:
            log(f"installed {pin.path} (verified) from {origin}")
    return root


def ensure(subdir: str = "") -> Path:
    """The verified upstream root (fetching what is missing, quietly), or ``root / subdir``."""
    root = fetch()
    return root / subdir if subdir else root


def folder_argument(value: str) -> Path:
    """An ``argparse`` type: a non-empty path (an empty one would mean the current folder)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("empty path: name a folder")
    return Path(value)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status (2: bad arguments)."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.upstream",
        description="Fetch and verify the pinned upstream CRDs, charts and manifests.",
    )
    parser.add_argument(
        "--dest", type=folder_argument, default=None, help="root (default .tools/upstream)"
    )
    parser.add_argument(
        "--mirror",
        type=folder_argument,
        default=None,
        help=f"mirror folder (default ${MIRROR_ENV})",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    parser.add_argument("--verbose", action="store_true", help="one line per file installed")
    args = parser.parse_args(argv)
    count = 0

    def log(line: str) -> None:
        nonlocal count
        count += 1
        if args.verbose:
            print(line, file=sys.stderr)

    try:
        root = fetch(root=args.dest, mirror=args.mirror, log=log, mirror_from="--mirror")
    except (UpstreamError, OSError) as exc:
        print(f"upstream: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"upstream: {len(UPSTREAM_FILES)} pinned files verified in {root} ({count} new)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
