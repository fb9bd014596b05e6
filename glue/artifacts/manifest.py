"""Per-file sha256 manifests of artifact directories (model versions, datasets).

A manifest maps each file's POSIX path relative to the artifact root (e.g. ``config.pbtxt``,
``1/model.py``) to its sha256 hex digest and size in bytes. It is what the registry stores with a
model version and what every download is verified against.

``compare_listing`` (same paths, same sizes) and ``check_digest`` are the one place the rules
"these files match the manifest" live: ``verify_directory`` (downloads, installed versions) and
the registry's registration checks both use them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator

from glue.artifacts.errors import ChecksumMismatch
from glue.json_numbers import JsonInteger

_CHUNK = 1 << 20
SHA256_PATTERN = r"^[0-9a-f]{64}$"
#: Largest file size a manifest may declare: 2**53 - 1 bytes (8 PiB), the largest integer every
#: JSON reader holds exactly (readers that parse numbers as doubles would take 2**63 + 1 for
#: 2**63 - 1 and let a larger size pass a schema check the server refuses).
MAX_FILE_SIZE = (1 << 53) - 1
#: One path segment: no '/', '\\' or NUL, and not '.' or '..' (written without lookarounds).
_SEGMENT = r"(?:[^/\\\x00.][^/\\\x00]*|\.[^/\\\x00.][^/\\\x00]*|\.\.[^/\\\x00]+)"
#: What ``check_relative_path`` accepts (with 1..1024 characters), as a JSON Schema pattern.
RELATIVE_PATH_PATTERN = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"


class FileDigest(BaseModel):
    """Digest of one file: ``sha256`` (64 lowercase hex chars) and ``size`` (bytes).

    ``size`` is a JSON integer 0 .. 2**63 - 1: booleans, strings (``"1"``) and floats are
    refused (strict types), as is anything beyond a signed 64-bit integer. 0 is a valid size (an
    empty ``__init__.py``); whether it is the *true* size is checked against the stored file
    (``compare_listing``). Raises ``pydantic.ValidationError`` naming the field.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: StrictStr = Field(pattern=SHA256_PATTERN)
    size: Annotated[StrictInt, Field(ge=0, le=MAX_FILE_SIZE), JsonInteger]


class Manifest(BaseModel):
    """Files of one artifact directory: ``{"files": {"1/model.py": {"sha256": ..., "size": ...}}}``.

    Keys are relative POSIX paths without ``..``, ``.`` or empty segments and not absolute; at
    least one file. Raises ``pydantic.ValidationError`` naming the offending key otherwise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: dict[str, FileDigest] = Field(
        min_length=1,
        max_length=10_000,
        json_schema_extra={
            "propertyNames": {"minLength": 1, "maxLength": 1024, "pattern": RELATIVE_PATH_PATTERN}
        },
    )

    @field_validator("files")
    @classmethod
    def _relative_paths(cls, files: dict[str, FileDigest]) -> dict[str, FileDigest]:
        for key in files:
            check_relative_path(key)
        return files

    @property
    def total_bytes(self) -> int:
        """Sum of all file sizes in bytes."""
        return sum(d.size for d in self.files.values())


def check_relative_path(path: str) -> str:
    """Return ``path`` if it is a safe relative POSIX path, else raise ``ValueError``.

    Safe means: non-empty, not absolute, no backslashes, no ``..``/``.``/empty segments, <= 1024
    characters. Used for manifest keys and for paths inside artifact URIs.
    """
    if not path or len(path) > 1024:
        raise ValueError(f"path {path!r} must be 1..1024 characters")
    if "\\" in path or "\x00" in path:
        raise ValueError(f"path {path!r} must use '/' separators and no NUL bytes")
    pure = PurePosixPath(path)
    if pure.is_absolute():
        raise ValueError(f"path {path!r} must be relative, not absolute")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"path {path!r} must not contain '..', '.' or empty segments")
    return path


def hash_stream(stream: IO[bytes]) -> FileDigest:
    """Digest a binary stream read to its end in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return FileDigest(sha256=digest.hexdigest(), size=size)


def digest_bytes(data: bytes) -> FileDigest:
    """Digest of an in-memory file content."""
    return FileDigest(sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def hash_file(path: Path) -> FileDigest:
    """Digest one local file. Raises ``OSError`` if it cannot be read."""
    with path.open("rb") as stream:
        return hash_stream(stream)


def build_manifest(directory: Path) -> Manifest:
    """Manifest of every regular file below ``directory`` (recursively; symlinks are refused).

    Raises ``ValueError`` if the directory holds no file or a symlink, ``OSError`` on read errors.
    """
    files: dict[str, FileDigest] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_symlink():
            raise ValueError(f"{path} is a symlink; artifacts must hold regular files only")
        if path.is_file():
            files[path.relative_to(directory).as_posix()] = hash_file(path)
    if not files:
        raise ValueError(f"{directory} holds no files")
    return Manifest(files=files)


def compare_listing(files: Mapping[str, FileDigest], listing: Mapping[str, int]) -> None:
    """Check a listing of stored files (relative path -> size in bytes) equals the manifest's.

    Same paths and the same sizes, nothing more and nothing less; contents are not read (see
    ``check_digest``). Raises ``ChecksumMismatch`` with ``field`` = the first differing path
    (sorted): a file the manifest does not list, a listed file that is missing, or a size that
    differs.
    """
    extra = sorted(listing.keys() - files.keys())
    if extra:
        raise ChecksumMismatch(f"unexpected file {extra[0]!r} not in the manifest", field=extra[0])
    for rel in sorted(files):
        if rel not in listing:
            raise ChecksumMismatch(f"file {rel!r} listed in the manifest is missing", field=rel)
        if listing[rel] != files[rel].size:
            raise ChecksumMismatch(
                f"file {rel!r} is {listing[rel]} bytes, the manifest says {files[rel].size}",
                field=rel,
            )


def check_digest(rel: str, actual: FileDigest, expected: FileDigest) -> None:
    """Raise ``ChecksumMismatch`` (field ``rel``) unless ``actual`` equals ``expected``."""
    if actual != expected:
        raise ChecksumMismatch(
            f"file {rel!r}: sha256 {actual.sha256} ({actual.size} bytes) does not match the "
            f"manifest's {expected.sha256} ({expected.size} bytes)",
            field=rel,
        )


def verify_directory(
    directory: Path,
    manifest: Manifest | Mapping[str, FileDigest],
    *,
    ignore_names: frozenset[str] = frozenset(),
) -> None:
    """Check that ``directory`` holds exactly the manifest's files with matching digests.

    ``manifest`` is a ``Manifest`` or its ``files`` mapping. Entries named in ``ignore_names``
    (e.g. ``__pycache__``) and everything below them are not counted as extra.
    Raises ``ChecksumMismatch`` naming the first differing file (missing, extra, wrong size or
    sha256: ``compare_listing``, then ``check_digest``); ``OSError`` if a file cannot be read.
    """
    files = manifest.files if isinstance(manifest, Manifest) else manifest
    listing: dict[str, int] = {}
    for path in directory.rglob("*"):
        parts = path.relative_to(directory).parts
        if path.is_file() and not ignore_names.intersection(parts):
            listing["/".join(parts)] = path.stat().st_size
    compare_listing(files, listing)
    for rel, expected in files.items():
        check_digest(rel, hash_file(directory / rel), expected)
