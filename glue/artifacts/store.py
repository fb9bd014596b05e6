"""The artifact store: model and dataset directories on local disk, S3-compatible stores or GCS.

URIs name a scheme, a bucket and a key, never a host (endpoints come from ``ArtifactSettings``):

- ``file:///abs/path`` below ``ArtifactSettings.local_root``;
- ``s3://bucket/key`` (AWS S3 or an S3-compatible endpoint such as MinIO);
- ``oss://bucket/key`` (Alibaba Cloud OSS through its S3-compatible API, served by s3fs; on ACK
  with RRSA and no static keys, with the pod's RAM role: ``glue.artifacts.rrsa``);
- ``gs://bucket/key`` (gcsfs, the optional extra ``kubeai-platform[gcs]``).

An artifact is a directory: a URI prefix whose files are described by a ``Manifest``. Artifacts
are immutable. ``upload_dir`` refuses (``ArtifactConflict``) to put a directory where a different
artifact already is, is a no-op when the same content is already there, and completes a previous
interrupted upload of the same content. ``download_dir`` fetches exactly the manifest's files and
checks every sha256 while streaming.

All backend failures are mapped onto ``glue.artifacts.errors`` by ``errors.classify``: nothing
from botocore, aiohttp or fsspec escapes (the original exception stays available as ``__cause__``
for logs). A setting the deployment lacks (no credentials, no endpoint, a missing extra, refused
credentials, wrong region) is ``StorageMisconfigured`` naming the environment variable to set;
only a transient outage is ``StorageUnavailable``.

Folder markers, the 0-byte objects named ``<prefix>/`` that the S3 console and many tools create
for "folders", are not files: listing, upload and download ignore them on every backend.

Limits: the immutability check and the upload are separate requests, so two writers racing on
the same new prefix are not detected on object stores (the registry gives each version its own
URI, so this does not arise there). ``file://`` URIs are checked against ``local_root`` with
symlinks resolved at the time of the call.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from glue.artifacts.errors import (
    ArtifactConflict,
    ArtifactError,
    ArtifactNotFound,
    ArtifactTooLarge,
    ChecksumMismatch,
    Failure,
    InvalidArtifactURI,
    StorageMisconfigured,
    StorageUnavailable,
    classify,
    describe,
)
from glue.artifacts.manifest import FileDigest, Manifest, build_manifest, check_relative_path
from glue.artifacts.rrsa import rrsa_identity, rrsa_session
from glue.artifacts.settings import ENV_PREFIX, ArtifactSettings, _S3CompatibleSettings, env_var

_CHUNK = 1 << 20
_MAX_URI_LENGTH = 2048
_SCHEMES = ("file", "s3", "gs", "oss")
_URI_PATTERN = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", re.DOTALL)
_IPV4_PATTERN = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_BUCKET_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "s3": (
        re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
        "3-63 characters of lowercase letters, digits, '-' and '.', starting and ending with a "
        "letter or digit, no '..', not an IP address, no reserved prefix (xn--, sthree-) or "
        "suffix (-s3alias, --ol-s3)",
    ),
    "oss": (
        re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"),
        "3-63 characters of lowercase letters, digits and '-', starting and ending with a "
        "letter or digit",
    ),
    "gs": (
        re.compile(r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$"),
        "3-63 characters of lowercase letters, digits, '-', '_' and '.', starting and ending "
        "with a letter or digit, no '..', not starting with 'goog'",
    ),
}
_S3_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_S3_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
#: Longest object key in UTF-8 bytes: S3 and GCS allow 1024, OSS 1023.
_MAX_KEY_BYTES = {"s3": 1024, "gs": 1024, "oss": 1023}
#: Longest local file name in bytes (NAME_MAX of ext4, xfs, overlayfs, tmpfs).
_NAME_MAX = 255
#: Settings group of each object-store scheme (``gs://`` is configured by ``gcs``).
_GROUP = {"s3": "s3", "oss": "oss", "gs": "gcs"}


@dataclass(frozen=True)
class _Location:
    """A checked URI: ``uri`` is normalised, ``path`` is what the fsspec backend takes."""

    scheme: str
    uri: str
    path: str

    @property
    def is_bucket_root(self) -> bool:
        return self.scheme != "file" and "/" not in self.path


class ArtifactStore:
    """Reads and writes artifacts (directories of files with a sha256 manifest) by URI.

    Built from ``ArtifactSettings`` (read from the environment when omitted). Backends are
    created lazily on first use of their scheme and shared by all calls; the store is safe to
    use from several threads. Apart from ``ValueError`` for a negative ``max_bytes``, methods
    raise only ``ArtifactError`` and its subclasses:

    - ``ArtifactError`` itself, with field ``local_dir`` or ``dest``: a local directory given to
      ``upload_dir``/``download_dir`` cannot be used (missing, not empty, unreadable, symlinks);
    - ``InvalidArtifactURI``: malformed URI, scheme not allowed, escape from ``local_root``;
    - ``ArtifactConflict`` (an ``InvalidArtifactURI``): the URI already holds different content;
    - ``ArtifactNotFound``: nothing at the URI, or a manifest file is missing;
    - ``ArtifactTooLarge``: ``read_bytes`` found an object above ``max_bytes``;
    - ``ChecksumMismatch``: a file's sha256 or size differs from the manifest;
    - ``StorageMisconfigured``: the deployment cannot serve the URI as configured: no
      credentials, credentials or permissions refused, wrong region, no ``oss.endpoint_url``,
      a missing extra (s3fs, gcsfs), a half-injected RRSA identity; ``setting`` names the
      environment variable (or extra) to fix;
    - ``StorageUnavailable``: transient: connection refused, timeout, 5xx, throttling, a failed
      RRSA exchange (field ``oss``).

    ``env_prefix`` is the prefix the settings were read with, so that messages name the variable
    an operator must set: ``KUBEAI_ARTIFACTS_`` on their own, ``KUBEAI_REGISTRY_ARTIFACTS__``
    inside the registry's settings (``settings.nested_env_prefix``).
    """

    def __init__(
        self, settings: ArtifactSettings | None = None, *, env_prefix: str = ENV_PREFIX
    ) -> None:
        self._settings = settings if settings is not None else ArtifactSettings()
        self._env_prefix = env_prefix
        self._root = Path(os.path.realpath(self._settings.local_root))
        self._filesystems: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def settings(self) -> ArtifactSettings:
        """The settings this store was built from."""
        return self._settings

    @property
    def local_root(self) -> Path:
        """Absolute, symlink-resolved directory that every ``file://`` URI lies below."""
        return self._root

    # ----------------------------------------------------------------------------- URIs

    def check_uri(self, uri: str) -> str:
        """Return the normalised form of ``uri`` or raise ``InvalidArtifactURI``.

        Valid: ``<scheme>://<bucket>[/<key>]`` for s3/oss/gs and ``file:///<absolute path>``
        below ``local_root``, with an allowed scheme (any case, lower-cased in the result: so
        ``FILE:///x`` and ``file:///x`` are the same artifact), no query, fragment, ``%``,
        backslash, control characters, or ``.``/``..``/empty path segments (one trailing ``/`` is
        dropped), text in Unicode NFKC form (no look-alikes such as U+FF0E FULLWIDTH FULL STOP
        for ``.``), a bucket name valid for the scheme (lowercase; nothing else is case-folded)
        and a key of at most 1024 UTF-8 bytes (1023 for oss; 255 per name for files).
        ``file://`` paths are returned with symlinks resolved, so a symlink leading out of
        ``local_root`` is refused.
        """
        return self._parse(uri).uri

    def local_uri(self, *parts: str) -> str:
        """``file://`` URI of ``local_root/<parts...>``; each part may hold ``/`` separators.

        Raises ``InvalidArtifactURI`` if no part is given or a part is not a safe relative path.
        """
        if not parts:
            raise InvalidArtifactURI("local_uri needs at least one path part below local_root")
        for part in parts:
            try:
                if not isinstance(part, str):
                    raise ValueError(f"path part {part!r} must be a string")
                check_relative_path(part)
            except ValueError as exc:
                raise InvalidArtifactURI(f"local_uri part: {exc}") from None
        return self.check_uri(f"file://{self._root.as_posix()}/{'/'.join(parts)}")

    def join_uri(self, uri: str, *parts: str) -> str:
        """URI of ``parts`` (safe relative paths) below ``uri``, e.g. ``.../3`` + ``metrics.json``.

        Raises ``InvalidArtifactURI`` like ``check_uri``.
        """
        base = self._parse(uri).uri
        for part in parts:
            try:
                if not isinstance(part, str):
                    raise ValueError(f"path part {part!r} must be a string")
                check_relative_path(part)
            except ValueError as exc:
                raise InvalidArtifactURI(f"join_uri part: {exc}") from None
        return self.check_uri("/".join([base.rstrip("/"), *parts]))

    # ----------------------------------------------------------------------- directories

    def upload_dir(self, local_dir: Path, uri: str) -> Manifest:
        """Upload every regular file below ``local_dir`` to the prefix ``uri``; return the manifest.

        The manifest (relative path -> sha256, size in bytes) is built locally first; each file is
        then hashed again while it streams up, and ``ChecksumMismatch`` is raised (and that object
        removed) if it changed in between. Immutability: if the prefix already holds files, they
        must all be in the manifest with the same size and sha256; then only the missing ones are
        uploaded (identical re-upload is a no-op, an interrupted upload is completed). Any other
        content at the prefix, or a single object at the URI itself, raises ``ArtifactConflict``.

        Raises ``ArtifactError`` (field ``local_dir``) if ``local_dir`` is not a directory with at
        least one file and no symlinks, plus the errors listed on the class.
        """
        loc = self._parse(uri)
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise ArtifactError(
                f"local_dir {str(local_dir)!r} is not a directory", field="local_dir"
            )
        try:
            manifest = build_manifest(local_dir)
        except (ValueError, OSError) as exc:
            raise ArtifactError(f"local_dir: {exc}", field="local_dir") from None
        fs = self._fs(loc)
        existing = self._list(fs, loc, allow_object_at_prefix=False)
        for rel, size in sorted(existing.items()):
            expected = manifest.files.get(rel)
            if expected is None:
                raise ArtifactConflict(
                    f"{loc.uri} already holds {rel!r}, which is not in the directory being "
                    "uploaded; artifacts are immutable, upload to a new URI (e.g. a new version)"
                )
            if size != expected.size or self._remote_digest(fs, loc, rel) != expected:
                raise ArtifactConflict(
                    f"{loc.uri} already holds a different {rel!r}; artifacts are immutable, "
                    "upload to a new URI (e.g. a new version)"
                )
        for rel, expected in manifest.files.items():
            if rel not in existing:
                self._upload_file(fs, loc, local_dir / rel, rel, expected)
        return manifest

    def download_dir(self, uri: str, dest: Path, manifest: Manifest) -> None:
        """Download exactly the manifest's files from the prefix ``uri`` into ``dest``.

        ``dest`` must not exist (it is created, with parents) or be an empty directory; files
        at the prefix that the manifest does not list are ignored. Each file is hashed while it
        streams and its size is bounded by the manifest. On any failure everything written into
        ``dest`` is removed again (``dest`` itself too when this call created it).

        Raises ``ArtifactError`` (field ``dest``) if ``dest`` is a non-empty directory or a file,
        ``ChecksumMismatch`` (field = the relative path) on a size or sha256 difference,
        ``ArtifactNotFound`` naming the file if one is missing, ``StorageUnavailable`` on
        backend failures, ``InvalidArtifactURI`` for a bad URI.
        """
        loc = self._parse(uri)
        dest = Path(dest)
        created = not dest.exists()
        if not created and (not dest.is_dir() or any(dest.iterdir())):
            raise ArtifactError(
                f"dest {str(dest)!r} must not exist or be an empty directory", field="dest"
            )
        fs = self._fs(loc)
        try:
            dest.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArtifactError(f"dest: cannot create {dest}: {exc}", field="dest") from exc
        try:
            for rel, expected in manifest.files.items():
                self._download_file(fs, loc, rel, dest / rel, expected)
        except BaseException:
            _clear_directory(dest, remove_itself=created)
            raise

    # --------------------------------------------------------------------------- objects

    def read_bytes(self, uri: str, *, max_bytes: int) -> bytes:
        """Content of the single object (file) at ``uri``, at most ``max_bytes`` bytes.

        Raises ``ValueError`` if ``max_bytes`` < 0, ``ArtifactTooLarge`` if the object is bigger
        (checked before reading and while reading), ``ArtifactNotFound`` if there is no object
        (or only a directory/prefix) at ``uri``, plus the errors listed on the class.
        """
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, not {max_bytes}")
        loc = self._parse(uri)
        fs = self._fs(loc)
        with self._translate(loc, "read"):
            info = fs.info(loc.path)
            if info.get("type") != "file":
                raise ArtifactNotFound(f"{loc.uri} is a directory/prefix, not a file")
            size = int(info.get("size") or 0)
            if size > max_bytes:
                raise ArtifactTooLarge(f"{loc.uri} is {size} bytes, more than {max_bytes}")
            with fs.open(loc.path, "rb") as stream:
                data: bytes = stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ArtifactTooLarge(f"{loc.uri} is more than {max_bytes} bytes")
        return data

    def write_bytes(self, uri: str, data: bytes, *, overwrite: bool = False) -> None:
        """Store ``data`` as the single object at ``uri`` (parent directories are implicit).

        Immutability as for ``upload_dir``: writing the same bytes again is a no-op; different
        bytes over an existing object raise ``ArtifactConflict`` unless ``overwrite=True``.
        Raises ``InvalidArtifactURI`` for a bucket-root URI, plus the errors listed on the class.
        """
        loc = self._parse(uri)
        if loc.is_bucket_root:
            raise InvalidArtifactURI(f"{loc.uri} names a bucket; write_bytes needs a key below it")
        fs = self._fs(loc)
        with self._translate(loc, "write"):
            if not overwrite:
                try:
                    info = fs.info(loc.path)
                except FileNotFoundError:
                    info = None
                if info is not None:
                    if info.get("type") == "file" and int(info.get("size") or 0) == len(data):
                        with fs.open(loc.path, "rb") as stream:
                            if _digest_stream(stream, limit=len(data)) == _digest_bytes(data):
                                return
                    raise ArtifactConflict(
                        f"{loc.uri} already exists with different content; artifacts are "
                        "immutable (pass overwrite=True only for mutable side files)"
                    )
            fs.pipe_file(loc.path, bytes(data))

    def exists(self, uri: str) -> bool:
        """True if ``uri`` names an object, a non-empty prefix, or an existing bucket.

        Raises ``InvalidArtifactURI`` and ``StorageUnavailable`` (a backend failure is never
        reported as False).
        """
        loc = self._parse(uri)
        fs = self._fs(loc)
        with self._translate(loc, "check"):
            try:
                fs.info(loc.path)
            except FileNotFoundError:
                return False
        return True

    def list_files(self, uri: str) -> list[str]:
        """Sorted relative POSIX paths of all files below the prefix ``uri`` (recursively).

        An empty or absent prefix gives ``[]``; a URI naming a single object also gives ``[]``
        (it has nothing below it). Raises ``ArtifactNotFound`` if the bucket does not exist, plus
        the errors listed on the class.
        """
        loc = self._parse(uri)
        return sorted(self._list(self._fs(loc), loc, allow_object_at_prefix=True))

    def list_sizes(self, uri: str) -> dict[str, int]:
        """The files of ``list_files`` with their sizes: relative POSIX path -> bytes.

        Raises like ``list_files``.
        """
        loc = self._parse(uri)
        return self._list(self._fs(loc), loc, allow_object_at_prefix=True)

    # -------------------------------------------------------------------------- internals

    def _parse(self, uri: str) -> _Location:
        if not isinstance(uri, str):
            raise InvalidArtifactURI(f"artifact URI must be a string, not {type(uri).__name__}")
        if len(uri) > _MAX_URI_LENGTH:
            raise InvalidArtifactURI(f"artifact URI must be at most {_MAX_URI_LENGTH} characters")
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri):
            raise InvalidArtifactURI("artifact URI must not contain NUL or control characters")
        if "\\" in uri:
            raise InvalidArtifactURI(f"artifact URI {uri!r} must use '/' separators, not '\\'")
        if "?" in uri or "#" in uri:
            raise InvalidArtifactURI(
                f"artifact URI {uri!r} must not have a query or fragment ('?', '#')"
            )
        if "%" in uri:
            raise InvalidArtifactURI(
                f"artifact URI {uri!r} must not contain '%' (percent-encoding is not decoded)"
            )
        allowed = ", ".join(f"{s}://" for s in _SCHEMES if s in self._settings.allowed_schemes)
        match = _URI_PATTERN.match(uri)
        if match is None:
            raise InvalidArtifactURI(
                f"artifact URI {uri!r} must look like <scheme>://<bucket>/<key> (allowed: "
                f"{allowed}), e.g. s3://models/resnet/3"
            )
        scheme, rest = match.group(1).lower(), match.group(2)
        if scheme not in self._settings.allowed_schemes:
            raise InvalidArtifactURI(
                f"artifact URI scheme {scheme!r} is not allowed here; use one of: {allowed}"
            )
        _check_nfkc(uri, rest)
        if rest.endswith("/") and len(rest) > 1:
            rest = rest[:-1]
        if scheme == "file":
            return self._parse_file(uri, rest)
        bucket, _, key = rest.partition("/")
        self._check_bucket(uri, scheme, bucket)
        if key or "/" in rest:
            try:
                check_relative_path(key)
            except ValueError as exc:
                raise InvalidArtifactURI(f"artifact URI {uri!r}: key {exc}") from None
        if len(key.encode()) > _MAX_KEY_BYTES[scheme]:
            raise InvalidArtifactURI(
                f"artifact URI {uri!r}: the key is {len(key.encode())} bytes in UTF-8; {scheme} "
                f"allows at most {_MAX_KEY_BYTES[scheme]}"
            )
        path = f"{bucket}/{key}" if key else bucket
        return _Location(scheme=scheme, uri=f"{scheme}://{path}", path=path)

    def _parse_file(self, uri: str, rest: str) -> _Location:
        example = f"file://{self._root.as_posix()}/models/my-model/1"
        if not rest.startswith("/"):
            raise InvalidArtifactURI(
                f"file URI {uri!r} must be file:///<absolute path> (no host), e.g. {example}"
            )
        try:
            check_relative_path(rest[1:])
        except ValueError as exc:
            raise InvalidArtifactURI(f"file URI {uri!r}: {exc}") from None
        for name in rest.split("/"):
            if len(name.encode()) > _NAME_MAX:
                raise InvalidArtifactURI(
                    f"file URI {uri!r}: the name {name[:32]!r}... is {len(name.encode())} bytes "
                    f"in UTF-8; local file names are at most {_NAME_MAX}"
                )
        real = Path(os.path.realpath(rest))
        if real == self._root or not real.is_relative_to(self._root):
            raise InvalidArtifactURI(
                f"file URI {uri!r} must resolve (symlinks included) to a path below local_root "
                f"{self._root.as_posix()}, e.g. {example}"
            )
        return _Location(scheme="file", uri=f"file://{real.as_posix()}", path=real.as_posix())

    @staticmethod
    def _check_bucket(uri: str, scheme: str, bucket: str) -> None:
        if not _valid_bucket(scheme, bucket):
            lower = bucket.lower()
            if lower != bucket and _valid_bucket(scheme, lower):
                raise InvalidArtifactURI(
                    f"artifact URI {uri!r}: bucket {bucket!r} has capital letters; {scheme} "
                    f"bucket names are lowercase: write {lower!r}. Only the scheme is "
                    "case-insensitive; keys are case-sensitive and kept as written"
                )
            raise InvalidArtifactURI(
                f"artifact URI {uri!r}: bucket {bucket!r} is not a valid {scheme} bucket name; "
                f"use {_BUCKET_RULES[scheme][1]}"
            )

    def _child(self, loc: _Location, rel: str) -> _Location:
        """Location of ``rel`` (a checked manifest key) below ``loc``; re-checks file:// roots."""
        if loc.scheme == "file":
            return self._parse_file(f"{loc.uri}/{rel}", f"{loc.path}/{rel}")
        path = f"{loc.path}/{rel}"
        return _Location(scheme=loc.scheme, uri=f"{loc.scheme}://{path}", path=path)

    def _fs(self, loc: _Location) -> Any:
        with self._lock:
            fs = self._filesystems.get(loc.scheme)
            if fs is None:
                fs = self._make_filesystem(loc.scheme)
                self._filesystems[loc.scheme] = fs
            return fs

    def _make_filesystem(self, scheme: str) -> Any:
        if scheme == "file":
            from fsspec.implementations.local import LocalFileSystem

            return LocalFileSystem(auto_mkdir=True)
        if scheme == "s3":
            return _s3_filesystem(self._settings.s3, setting="s3")
        if scheme == "oss":
            if self._settings.oss.endpoint_url is None:
                variable = self._env("oss.endpoint_url")
                raise StorageMisconfigured(
                    f"this deployment has no endpoint for oss:// URIs: set {variable}, e.g. "
                    "https://s3.oss-cn-hangzhou.aliyuncs.com",
                    setting=variable,
                    field="oss.endpoint_url",
                )
            oss = self._settings.oss
            identity = rrsa_identity() if oss.access_key_id is None else None
            session = rrsa_session(identity, oss) if identity is not None else None
            return _s3_filesystem(oss, setting="oss", session=session)
        if scheme == "gs":
            try:
                gcsfs = importlib.import_module("gcsfs")
            except ImportError:
                raise StorageMisconfigured(
                    "this deployment cannot read gs:// URIs: gcsfs is not installed; install "
                    "the extra kubeai-platform[gcs] (or use another scheme)",
                    setting="kubeai-platform[gcs]",
                ) from None
            gcs = self._settings.gcs
            token = str(gcs.token) if gcs.token is not None else None
            return gcsfs.GCSFileSystem(project=gcs.project, token=token, skip_instance_cache=True)
        raise InvalidArtifactURI(f"unsupported scheme {scheme!r}")  # pragma: no cover

    def _env(self, key_path: str) -> str:
        """Environment variable of the setting at ``key_path`` (``oss.endpoint_url``)."""
        return env_var(key_path, prefix=self._env_prefix)

    @contextmanager
    def _translate(self, loc: _Location, action: str) -> Iterator[None]:
        """Map backend exceptions raised inside the block onto ``ArtifactError`` subclasses
        (``errors.classify`` decides the kind; this names the setting to change)."""
        try:
            yield
        except ArtifactError:
            raise
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            raise self._error(failure, exc, loc, action) from exc

    def _error(
        self, failure: Failure, exc: Exception, loc: _Location, action: str
    ) -> ArtifactError:
        """The ``ArtifactError`` for a classified backend failure, naming what to change."""
        cause = describe(exc)
        if failure is Failure.NOT_FOUND:
            return ArtifactNotFound(f"nothing at {loc.uri} ({cause})")
        if failure is Failure.WRONG_KIND:
            return ArtifactNotFound(f"{loc.uri} is not the kind of entry expected ({cause})")
        if failure is Failure.BAD_NAME:
            return InvalidArtifactURI(
                f"the store refuses the name {loc.uri} ({cause}); use a shorter key or path"
            )
        if failure is Failure.UNAVAILABLE:
            if loc.scheme == "file":
                hint = f"the disk below {self._env('local_root')}"
            elif loc.scheme == "gs":
                hint = "that Google Cloud Storage is reachable"
            else:
                endpoint = self._env(f"{_GROUP[loc.scheme]}.endpoint_url")
                hint = f"that {endpoint} points at a reachable store"
            return StorageUnavailable(
                f"{action} {loc.uri} failed: {cause}; check {hint}, then retry"
            )
        setting, advice = self._advice(failure, loc)
        return StorageMisconfigured(
            f"this deployment cannot {action} {loc.uri} as configured ({cause}); {advice}",
            setting=setting,
        )

    def _advice(self, failure: Failure, loc: _Location) -> tuple[str, str]:
        """``(setting, advice)`` for a permanent failure: the variable to set and what to do."""
        if loc.scheme == "file":
            root = self._env("local_root")
            if failure is Failure.READ_ONLY:
                return root, f"{root} must name a writable directory"
            return root, f"give the service's user access to {root} ({self._root.as_posix()})"
        if loc.scheme == "gs":
            token = self._env("gcs.token")
            return token, (
                f"set {token} to a service-account key file (or google_default with workload "
                "identity) whose account may use this bucket"
            )
        group = _GROUP[loc.scheme]
        key, secret = self._env(f"{group}.access_key_id"), self._env(f"{group}.secret_access_key")
        region, endpoint = self._env(f"{group}.region"), self._env(f"{group}.endpoint_url")
        if failure is Failure.WRONG_REGION:
            return region, f"set {region} to the bucket's region (or {endpoint} to its endpoint)"
        if failure is Failure.REJECTED:
            style = self._env(f"{group}.addressing_style")
            return region, (
                f"the store rejects requests as this deployment sends them: check {region}, "
                f"{endpoint} and {style}"
            )
        if failure is Failure.NO_CREDENTIALS:
            return key, (
                f"set {key} and {secret}, or give the service an identity the SDK's default "
                "credential chain finds (e.g. IRSA)"
            )
        return key, (
            f"check the credentials ({key}, {secret} or the service's role) and that they may "
            f"access bucket {loc.path.partition('/')[0]!r}"
        )

    def _list(self, fs: Any, loc: _Location, *, allow_object_at_prefix: bool) -> dict[str, int]:
        """Relative path -> size of the files below ``loc``.

        Folder markers (0-byte objects whose key ends in ``/``) are skipped. Any other object
        whose key ends in ``/`` cannot be a file of a directory tree: ``ArtifactConflict`` for an
        upload (``allow_object_at_prefix=False``), skipped otherwise; so is an object at ``loc``
        itself.
        """
        with self._translate(loc, "list"):
            found = fs.find(loc.path, detail=True)
        files: dict[str, int] = {}
        base = loc.path.rstrip("/") + "/"
        for key, info in found.items():
            name = str(info.get("name") or key)
            size = int(info.get("size") or 0)
            is_object = info.get("type") == "file"
            if name.endswith("/") or key.endswith("/"):
                if is_object and size and not allow_object_at_prefix:
                    raise ArtifactConflict(
                        f"{loc.uri} holds an object {name!r} of {size} bytes whose name ends in "
                        "'/', which no file of a directory can be; upload to a new URI"
                    )
                continue  # a folder marker, or an object no directory tree can hold
            if name == loc.path:
                if is_object and not allow_object_at_prefix:
                    raise ArtifactConflict(
                        f"{loc.uri} is an existing file; upload a directory to a new URI"
                    )
                continue
            if is_object and name.startswith(base):
                files[name[len(base) :]] = size
        return files

    def _remote_digest(self, fs: Any, loc: _Location, rel: str) -> FileDigest:
        child = self._child(loc, rel)
        with self._translate(child, "read"), fs.open(child.path, "rb") as stream:
            return _digest_stream(stream, limit=None)

    def _upload_file(
        self, fs: Any, loc: _Location, source: Path, rel: str, expected: FileDigest
    ) -> None:
        child = self._child(loc, rel)
        with self._translate(child, "upload"):
            out = fs.open(child.path, "wb")
            try:
                digest, size = hashlib.sha256(), 0
                for chunk in _read_local(source, field="local_dir"):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            except BaseException:
                _abandon(fs, out, child.path)
                raise
            out.close()
            actual = FileDigest(sha256=digest.hexdigest(), size=size)
            if actual != expected:
                with suppress(Exception):
                    fs.rm_file(child.path)
                raise ChecksumMismatch(
                    f"file {rel!r} changed while it was being uploaded (sha256 {actual.sha256}, "
                    f"{actual.size} bytes; manifest {expected.sha256}, {expected.size} bytes); "
                    "upload a directory nothing writes to",
                    field=rel,
                )

    def _download_file(
        self, fs: Any, loc: _Location, rel: str, target: Path, expected: FileDigest
    ) -> None:
        child = self._child(loc, rel)
        digest, size = hashlib.sha256(), 0
        with self._translate(child, "download"):
            try:
                stream = fs.open(child.path, "rb")
            except FileNotFoundError:
                raise ArtifactNotFound(
                    f"file {rel!r} listed in the manifest is missing at {child.uri}"
                ) from None
            with stream, _open_local_for_writing(target) as out:
                while chunk := stream.read(_CHUNK):
                    size += len(chunk)
                    if size > expected.size:
                        raise ChecksumMismatch(
                            f"file {rel!r} at {child.uri} is larger than the manifest's "
                            f"{expected.size} bytes",
                            field=rel,
                        )
                    digest.update(chunk)
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise ArtifactError(
                            f"dest: cannot write {target}: {exc}", field="dest"
                        ) from exc
        actual = FileDigest(sha256=digest.hexdigest(), size=size)
        if actual != expected:
            raise ChecksumMismatch(
                f"file {rel!r} at {child.uri}: sha256 {actual.sha256} ({actual.size} bytes) does "
                f"not match the manifest's {expected.sha256} ({expected.size} bytes)",
                field=rel,
            )


def _read_local(source: Path, *, field: str) -> Iterator[bytes]:
    """Chunks of a local file; read errors become ``ArtifactError`` naming ``field``."""
    try:
        with source.open("rb") as src:
            while chunk := src.read(_CHUNK):
                yield chunk
    except OSError as exc:
        raise ArtifactError(f"{field}: cannot read {source}: {exc}", field=field) from exc


def _open_local_for_writing(target: Path) -> IO[bytes]:
    """Create ``target`` (and its parents) for writing; errors name the ``dest`` field."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.open("xb")
    except OSError as exc:
        raise ArtifactError(f"dest: cannot create {target}: {exc}", field="dest") from exc


def _valid_bucket(scheme: str, bucket: str) -> bool:
    """True if ``bucket`` is a valid bucket name for ``scheme`` (see ``_BUCKET_RULES``)."""
    bad = not _BUCKET_RULES[scheme][0].match(bucket) or ".." in bucket
    if scheme == "s3":
        bad = bad or bool(_IPV4_PATTERN.match(bucket)) or ".-" in bucket or "-." in bucket
        bad = bad or bucket.startswith(_S3_RESERVED_PREFIXES)
        bad = bad or bucket.endswith(_S3_RESERVED_SUFFIXES)
    if scheme == "gs":
        bad = bad or bucket.startswith("goog")
    return not bad


def _check_nfkc(uri: str, text: str) -> None:
    """``InvalidArtifactURI`` unless ``text`` (the URI after its scheme) is in Unicode NFKC form.

    Look-alikes such as U+FF0E FULLWIDTH FULL STOP or U+FF0F FULLWIDTH SOLIDUS become ``.`` and
    ``/`` when a tool normalises names, so ``a/<U+FF0E><U+FF0E>/b`` could later mean ``a/../b``.
    """
    if unicodedata.is_normalized("NFKC", text):
        return
    for char in text:
        if unicodedata.normalize("NFKC", char) != char:
            name = unicodedata.name(char, "unnamed")
            plain = unicodedata.normalize("NFKC", char)
            raise InvalidArtifactURI(
                f"artifact URI {uri!r} contains U+{ord(char):04X} ({name}), a look-alike of "
                f"{plain!r}; write {plain!r} itself (URIs must be in Unicode NFKC form)"
            )
    raise InvalidArtifactURI(
        f"artifact URI {uri!r} has decomposed accents (combining characters); write them "
        "composed (URIs must be in Unicode NFKC form)"
    )


def _s3_filesystem(cfg: _S3CompatibleSettings, *, setting: str, session: Any = None) -> Any:
    """An s3fs filesystem for AWS S3, MinIO or OSS, configured only from structured settings.

    ``session``: an aiobotocore session supplying the credentials (RRSA, ``glue.artifacts.rrsa``)
    or None for static keys / botocore's default chain.
    """
    try:
        s3fs = importlib.import_module("s3fs")
    except ImportError:
        raise StorageMisconfigured(
            f"this deployment cannot read {setting}:// URIs: s3fs is not installed; install "
            "the extra kubeai-platform[glue]",
            setting="kubeai-platform[glue]",
        ) from None
    config_kwargs: dict[str, Any] = {
        "connect_timeout": cfg.connect_timeout,
        "read_timeout": cfg.read_timeout,
        "retries": {"total_max_attempts": cfg.max_attempts, "mode": "standard"},
        "s3": {"addressing_style": cfg.addressing_style},
    }
    if cfg.endpoint_url is not None:
        # S3-compatible stores (OSS, older MinIO/Ceph) reject the aws-chunked CRC trailers that
        # recent botocore adds by default; integrity is checked by our sha256 manifests anyway.
        config_kwargs["request_checksum_calculation"] = "when_required"
        config_kwargs["response_checksum_validation"] = "when_required"
    client_kwargs: dict[str, Any] = {}
    if cfg.region is not None:
        client_kwargs["region_name"] = cfg.region
    key = cfg.access_key_id.get_secret_value() if cfg.access_key_id else None
    secret = cfg.secret_access_key.get_secret_value() if cfg.secret_access_key else None
    fs = s3fs.S3FileSystem(
        anon=False,
        endpoint_url=cfg.endpoint_url,
        key=key,
        secret=secret,
        client_kwargs=client_kwargs,
        config_kwargs=config_kwargs,
        skip_instance_cache=True,
        use_listings_cache=False,
        session=session,
    )
    # s3fs repeats a whole request after a read timeout or truncated body; bound that too.
    fs.retries = cfg.max_attempts
    return fs


def _digest_bytes(data: bytes) -> FileDigest:
    return FileDigest(sha256=hashlib.sha256(data).hexdigest(), size=len(data))


def _digest_stream(stream: IO[bytes], *, limit: int | None) -> FileDigest:
    """sha256 and size of a stream; stops reading one byte past ``limit`` if given."""
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK if limit is None else min(_CHUNK, limit + 1 - size)):
        digest.update(chunk)
        size += len(chunk)
        if limit is not None and size > limit:
            break
    return FileDigest(sha256=digest.hexdigest(), size=size)


def _abandon(fs: Any, out: Any, path: str) -> None:
    """Drop a half-written file without committing it (best effort, never raises)."""
    discard = getattr(out, "discard", None)
    with suppress(Exception):
        if callable(discard):
            discard()  # s3fs: aborts the multipart upload
    with suppress(Exception):
        if hasattr(type(out), "closed") and hasattr(out, "forced"):
            out.closed = True  # fsspec buffered file: closing now would commit the partial data
        else:
            out.close()
    with suppress(Exception):
        if fs.exists(path):
            fs.rm_file(path)


def _clear_directory(directory: Path, *, remove_itself: bool) -> None:
    """Remove what a failed download wrote (best effort)."""
    if remove_itself:
        shutil.rmtree(directory, ignore_errors=True)
        return
    if directory.is_dir():
        for child in directory.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                with suppress(OSError):
                    child.unlink()
