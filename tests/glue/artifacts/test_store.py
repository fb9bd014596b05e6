"""ArtifactStore on local files: URI rules, round trips, immutability, failure cleanup."""

from __future__ import annotations

import errno
import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from glue.artifacts import store as store_module
from glue.artifacts.errors import (
    ArtifactConflict,
    ArtifactError,
    ArtifactNotFound,
    ArtifactTooLarge,
    ChecksumMismatch,
    InvalidArtifactURI,
    StorageMisconfigured,
    StorageUnavailable,
)
from glue.artifacts.manifest import FileDigest, Manifest, build_manifest, verify_directory
from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "root"
    path.mkdir()
    return Path(os.path.realpath(path))


@pytest.fixture
def store(root: Path) -> ArtifactStore:
    return ArtifactStore(ArtifactSettings(local_root=root))


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """A small Triton-layout model directory with a binary file larger than one read chunk."""
    src = tmp_path / "src"
    (src / "1").mkdir(parents=True)
    (src / "config.pbtxt").write_text('name: "demo"\nbackend: "python"\n')
    (src / "1" / "model.py").write_text("class TritonPythonModel: ...\n")
    (src / "1" / "weights.bin").write_bytes(os.urandom((1 << 20) + 123))
    return src


# --------------------------------------------------------------------------------- URIs


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://models/resnet/3", "s3://models/resnet/3"),
        ("S3://models/resnet/3/", "s3://models/resnet/3"),
        ("s3://my.models-1/a b/c.txt", "s3://my.models-1/a b/c.txt"),
        ("s3://models", "s3://models"),
        ("oss://kubeai-models/x/1", "oss://kubeai-models/x/1"),
        ("gs://kubeai_models/x", "gs://kubeai_models/x"),
    ],
)
def test_check_uri_normalises_valid_uris(store: ArtifactStore, uri: str, expected: str) -> None:
    assert store.check_uri(uri) == expected


def test_check_uri_accepts_paths_below_the_root(store: ArtifactStore, root: Path) -> None:
    assert store.check_uri(f"file://{root}/models/m/1/") == f"file://{root}/models/m/1"
    assert store.local_uri("models", "m/1") == f"file://{root}/models/m/1"


@pytest.mark.parametrize(
    ("uri", "hint"),
    [
        ("file:///etc/passwd", "below local_root"),
        ("file://{root}/../x", "'..'"),
        ("file://{root}/a/./b", "'.'"),
        ("file://{root}", "below local_root"),
        ("file://localhost{root}/x", "file:///"),
        ("file://{root}/a/\x00b", "NUL"),
        ("s3://bucket/a/../b", "'..'"),
        ("s3://bucket//a", "must be relative"),
        ("s3://bucket/a//b", "empty segments"),
        ("s3://bucket/a\\b", "'/' separators"),
        ("s3://bucket/%2e%2e/b", "percent"),
        ("s3://bucket/a?versionId=1", "query"),
        ("s3://bucket/a#frag", "fragment"),
        ("http://example.com/model.tar", "not allowed"),
        ("ftp://bucket/x", "not allowed"),
        ("bucket/model", "<scheme>://"),
        ("", "<scheme>://"),
        ("s3://Bad_Bucket/x", "3-63"),
        ("s3://ab/x", "3-63"),
        ("s3://" + "a" * 64 + "/x", "3-63"),
        ("s3://192.168.1.10/x", "IP address"),
        ("s3://a..b/x", "'..'"),
        ("s3://xn--models/x", "valid s3 bucket"),
        ("s3:///x", "valid s3 bucket"),
        ("oss://my.bucket/x", "valid oss bucket"),
        ("gs://goog-models/x", "'goog'"),
    ],
)
def test_check_uri_refuses_with_a_hint(
    store: ArtifactStore, root: Path, uri: str, hint: str
) -> None:
    with pytest.raises(InvalidArtifactURI) as info:
        store.check_uri(uri.replace("{root}", str(root)))
    assert hint in str(info.value)
    assert info.value.field == "artifact_uri"


def test_check_uri_refuses_symlink_escapes(
    store: ArtifactStore, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(outside)
    with pytest.raises(InvalidArtifactURI, match="symlinks included"):
        store.check_uri(f"file://{root}/escape/model")
    with pytest.raises(InvalidArtifactURI):
        store.local_uri("escape", "model")
    (root / "real").mkdir()
    (root / "alias").symlink_to(root / "real")
    assert store.check_uri(f"file://{root}/alias/m") == f"file://{root}/real/m"


def test_scheme_must_be_allowed_by_settings(root: Path) -> None:
    store = ArtifactStore(ArtifactSettings(local_root=root, allowed_schemes={"file"}))
    with pytest.raises(InvalidArtifactURI, match=r"use one of: file://$"):
        store.check_uri("s3://models/x")


def test_local_uri_refuses_unsafe_parts(store: ArtifactStore) -> None:
    for parts in [("..", "x"), ("a/../b",), ("/abs",), ()]:
        with pytest.raises(InvalidArtifactURI):
            store.local_uri(*parts)


def test_join_uri(store: ArtifactStore) -> None:
    assert store.join_uri("s3://models/m/3/", "metrics.json") == "s3://models/m/3/metrics.json"
    with pytest.raises(InvalidArtifactURI):
        store.join_uri("s3://models/m/3", "../4")


def test_relative_local_root_is_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = ArtifactStore(ArtifactSettings())
    assert store.local_root == Path(os.path.realpath(tmp_path)) / ".kubeai" / "artifacts"


# --------------------------------------------------------------------------- round trip


def test_local_round_trip(store: ArtifactStore, model_dir: Path, tmp_path: Path) -> None:
    uri = store.local_uri("models", "demo", "1")
    manifest = store.upload_dir(model_dir, uri)
    assert manifest == build_manifest(model_dir)
    assert store.list_files(uri) == ["1/model.py", "1/weights.bin", "config.pbtxt"]
    assert store.exists(uri)
    assert store.exists(store.join_uri(uri, "1/weights.bin"))
    assert not store.exists(store.join_uri(uri, "2"))

    dest = tmp_path / "staging" / "demo-1"
    store.download_dir(uri, dest, manifest)
    verify_directory(dest, manifest)
    weights = (dest / "1" / "weights.bin").read_bytes()
    assert weights == (model_dir / "1" / "weights.bin").read_bytes()


def test_download_fetches_only_manifest_files(
    store: ArtifactStore, model_dir: Path, tmp_path: Path
) -> None:
    uri = store.local_uri("models", "demo", "1")
    manifest = store.upload_dir(model_dir, uri)
    subset = Manifest(files={"config.pbtxt": manifest.files["config.pbtxt"]})
    dest = tmp_path / "dest"
    dest.mkdir()  # an existing empty directory is fine
    store.download_dir(uri, dest, subset)
    assert sorted(p.name for p in dest.rglob("*")) == ["config.pbtxt"]


def test_download_refuses_a_non_empty_dest(
    store: ArtifactStore, model_dir: Path, tmp_path: Path
) -> None:
    uri = store.local_uri("m", "1")
    manifest = store.upload_dir(model_dir, uri)
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ArtifactError) as info:
        store.download_dir(uri, dest, manifest)
    assert info.value.field == "dest"
    assert (dest / "keep.txt").read_text() == "mine"


# ------------------------------------------------------------------------- immutability


def test_identical_upload_is_idempotent(store: ArtifactStore, model_dir: Path, root: Path) -> None:
    uri = store.local_uri("m", "1")
    first = store.upload_dir(model_dir, uri)
    target = root / "m" / "1" / "config.pbtxt"
    before = target.stat().st_mtime_ns
    assert store.upload_dir(model_dir, uri) == first
    assert target.stat().st_mtime_ns == before  # nothing rewritten


def test_different_content_at_the_uri_is_a_conflict(
    store: ArtifactStore, model_dir: Path, root: Path
) -> None:
    uri = store.local_uri("m", "1")
    store.upload_dir(model_dir, uri)
    (model_dir / "config.pbtxt").write_text('name: "other"\n')
    with pytest.raises(ArtifactConflict, match=r"config\.pbtxt.*immutable"):
        store.upload_dir(model_dir, uri)
    assert "other" not in (root / "m" / "1" / "config.pbtxt").read_text()


def test_extra_file_at_the_uri_is_a_conflict(store: ArtifactStore, model_dir: Path) -> None:
    uri = store.local_uri("m", "1")
    store.upload_dir(model_dir, uri)
    (model_dir / "1" / "model.py").unlink()
    with pytest.raises(ArtifactConflict, match=r"1/model\.py"):
        store.upload_dir(model_dir, uri)
    assert isinstance(ArtifactConflict("x"), InvalidArtifactURI)


def test_interrupted_upload_is_completed(
    store: ArtifactStore, model_dir: Path, root: Path, tmp_path: Path
) -> None:
    uri = store.local_uri("m", "1")
    manifest = store.upload_dir(model_dir, uri)
    (root / "m" / "1" / "1" / "weights.bin").unlink()  # as if the upload stopped half-way
    assert store.upload_dir(model_dir, uri) == manifest
    store.download_dir(uri, tmp_path / "dest", manifest)


def test_upload_over_an_existing_file_is_a_conflict(store: ArtifactStore, model_dir: Path) -> None:
    uri = store.local_uri("m", "1")
    store.write_bytes(uri, b"a file, not a directory")
    with pytest.raises(ArtifactConflict, match="existing file"):
        store.upload_dir(model_dir, uri)


def test_file_changing_during_upload_is_detected(
    store: ArtifactStore, model_dir: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_build = store_module.build_manifest

    def stale_manifest(directory: Path) -> Manifest:
        files = dict(real_build(directory).files)
        files["config.pbtxt"] = FileDigest(sha256="0" * 64, size=files["config.pbtxt"].size)
        return Manifest(files=files)

    monkeypatch.setattr(store_module, "build_manifest", stale_manifest)
    with pytest.raises(ChecksumMismatch, match="changed while") as info:
        store.upload_dir(model_dir, store.local_uri("m", "1"))
    assert info.value.field == "config.pbtxt"
    assert not (root / "m" / "1" / "config.pbtxt").exists()


def test_upload_needs_a_directory_of_regular_files(
    store: ArtifactStore, model_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError) as info:
        store.upload_dir(tmp_path / "nope", store.local_uri("m", "1"))
    assert info.value.field == "local_dir"
    (model_dir / "link").symlink_to(model_dir / "config.pbtxt")
    with pytest.raises(ArtifactError, match="symlink") as info:
        store.upload_dir(model_dir, store.local_uri("m", "1"))
    assert info.value.field == "local_dir"


# ----------------------------------------------------------------------- failed downloads


def test_corrupted_file_fails_and_dest_is_removed(
    store: ArtifactStore, model_dir: Path, root: Path, tmp_path: Path
) -> None:
    uri = store.local_uri("m", "1")
    manifest = store.upload_dir(model_dir, uri)
    stored = root / "m" / "1" / "1" / "weights.bin"
    data = bytearray(stored.read_bytes())
    data[-1] ^= 0xFF  # same size, one bit pattern changed
    stored.write_bytes(bytes(data))
    dest = tmp_path / "dest"
    with pytest.raises(ChecksumMismatch, match=r"1/weights\.bin") as info:
        store.download_dir(uri, dest, manifest)
    assert info.value.field == "1/weights.bin"
    assert not dest.exists()


def test_grown_file_fails_early(
    store: ArtifactStore, model_dir: Path, root: Path, tmp_path: Path
) -> None:
    uri = store.local_uri("m", "1")
    manifest = store.upload_dir(model_dir, uri)
    (root / "m" / "1" / "config.pbtxt").write_text("x" * 10_000)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ChecksumMismatch, match="larger than"):
        store.download_dir(uri, dest, manifest)
    assert dest.is_dir() and not any(dest.iterdir())  # pre-existing dest kept, emptied


def test_missing_file_is_not_found_and_dest_is_removed(
    store: ArtifactStore, model_dir: Path, root: Path, tmp_path: Path
) -> None:
    uri = store.local_uri("m", "1")
    manifest = store.upload_dir(model_dir, uri)
    (root / "m" / "1" / "1" / "model.py").unlink()
    dest = tmp_path / "dest"
    with pytest.raises(ArtifactNotFound, match=r"1/model\.py"):
        store.download_dir(uri, dest, manifest)
    assert not dest.exists()


def test_download_of_an_absent_artifact(
    store: ArtifactStore, model_dir: Path, tmp_path: Path
) -> None:
    manifest = build_manifest(model_dir)
    with pytest.raises(ArtifactNotFound):
        store.download_dir(store.local_uri("never", "uploaded"), tmp_path / "dest", manifest)
    assert not (tmp_path / "dest").exists()


# ------------------------------------------------------------------------------ objects


def test_write_and_read_bytes(store: ArtifactStore) -> None:
    uri = store.local_uri("m", "1", "metrics.json")
    store.write_bytes(uri, b'{"accuracy": 0.97}')
    assert store.read_bytes(uri, max_bytes=1024) == b'{"accuracy": 0.97}'
    assert store.read_bytes(uri, max_bytes=18) == b'{"accuracy": 0.97}'
    with pytest.raises(ArtifactTooLarge, match="18 bytes, more than 17"):
        store.read_bytes(uri, max_bytes=17)
    store.write_bytes(uri, b'{"accuracy": 0.97}')  # same bytes: no-op
    with pytest.raises(ArtifactConflict):
        store.write_bytes(uri, b'{"accuracy": 0.12}')
    store.write_bytes(uri, b"{}", overwrite=True)
    assert store.read_bytes(uri, max_bytes=10) == b"{}"
    with pytest.raises(ValueError):
        store.read_bytes(uri, max_bytes=-1)


def test_read_bytes_needs_a_file(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFound):
        store.read_bytes(store.local_uri("nothing.json"), max_bytes=10)
    store.write_bytes(store.local_uri("dir", "f.txt"), b"x")
    with pytest.raises(ArtifactNotFound, match="not a file"):
        store.read_bytes(store.local_uri("dir"), max_bytes=10)


def test_list_files_of_an_absent_prefix_is_empty(store: ArtifactStore) -> None:
    assert store.list_files(store.local_uri("nothing", "here")) == []


def test_list_sizes_gives_each_file_its_size(store: ArtifactStore, model_dir: Path) -> None:
    uri = store.local_uri("models", "sizes", "1")
    manifest = store.upload_dir(model_dir, uri)
    assert store.list_sizes(uri) == {rel: d.size for rel, d in manifest.files.items()}
    assert store.list_sizes(store.local_uri("nothing", "here")) == {}


# ------------------------------------------------------------------------ backends


def test_gs_without_gcsfs_names_the_extra(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # import gcsfs -> ImportError
    with pytest.raises(StorageMisconfigured, match=r"kubeai-platform\[gcs\]") as info:
        store.exists("gs://kubeai-models/m/1")
    assert info.value.field == "artifact_uri"
    assert info.value.setting == "kubeai-platform[gcs]"


def test_oss_without_endpoint_names_the_setting(store: ArtifactStore) -> None:
    with pytest.raises(StorageMisconfigured, match="KUBEAI_ARTIFACTS_OSS__ENDPOINT_URL") as info:
        store.read_bytes("oss://kubeai-models/m/1/metrics.json", max_bytes=10)
    assert info.value.field == "oss.endpoint_url"
    assert info.value.setting == "KUBEAI_ARTIFACTS_OSS__ENDPOINT_URL"


def test_write_bytes_needs_a_key(store: ArtifactStore) -> None:
    with pytest.raises(InvalidArtifactURI, match="names a bucket"):
        store.write_bytes("s3://kubeai-models", b"x")


class _FailingReader(io.RawIOBase):
    """A file whose first read returns data and whose second read fails like a bad disk."""

    def __init__(self, first: bytes) -> None:
        self._first: bytes | None = first

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._first is None:
            raise OSError(errno.EIO, "Input/output error")
        data, self._first = self._first, None
        return data


def fail_second_open(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make the second ``Path.open`` of a file called ``name`` fail half-way through reading.

    The first open is ``build_manifest`` hashing the file; the second is the upload.
    """
    real_open = Path.open
    opened: dict[str, int] = {}

    def open_(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if self.name == name and mode == "rb":
            opened[name] = opened.get(name, 0) + 1
            if opened[name] == 2:
                return _FailingReader(b"partial")
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", open_)


def test_local_read_error_during_upload_leaves_no_partial_file(
    store: ArtifactStore, model_dir: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail_second_open(monkeypatch, "weights.bin")
    with pytest.raises(ArtifactError, match="cannot read") as info:
        store.upload_dir(model_dir, store.local_uri("m", "1"))
    assert info.value.field == "local_dir"
    assert not isinstance(info.value, StorageUnavailable)
    assert not (root / "m" / "1" / "1" / "weights.bin").exists()


# ----------------------------------------------- one spelling per artifact, bad names


@pytest.mark.parametrize("scheme", ["FILE", "File", "fIlE"])
def test_scheme_case_is_normalised_so_both_spellings_are_one_artifact(
    store: ArtifactStore, root: Path, model_dir: Path, scheme: str
) -> None:
    """``FILE:///x`` and ``file:///x`` name the same artifact: the second upload is a no-op."""
    canonical = f"file://{root}/models/m/1"
    assert store.check_uri(f"{scheme}://{root}/models/m/1") == canonical
    manifest = store.upload_dir(model_dir, f"{scheme}://{root}/models/m/1")
    assert store.upload_dir(model_dir, canonical) == manifest
    assert store.list_files(f"{scheme}://{root}/models/m/1") == store.list_files(canonical)


def test_only_the_scheme_is_case_folded(store: ArtifactStore) -> None:
    assert store.check_uri("S3://models/Resnet/V3") == "s3://models/Resnet/V3"
    assert store.check_uri("OSS://kubeai-models/A") == "oss://kubeai-models/A"


@pytest.mark.parametrize(
    ("uri", "write"),
    [
        ("s3://Models/x", "'models'"),
        ("S3://KubeAI-Models/x", "'kubeai-models'"),
        ("oss://Kubeai-models/x", "'kubeai-models'"),
        ("gs://KUBEAI_MODELS/x", "'kubeai_models'"),
    ],
)
def test_uppercase_buckets_are_refused_naming_the_lowercase_name(
    store: ArtifactStore, uri: str, write: str
) -> None:
    with pytest.raises(InvalidArtifactURI, match="capital letters") as info:
        store.check_uri(uri)
    assert f"write {write}" in str(info.value)


@pytest.mark.parametrize(
    ("uri", "named"),
    [
        ("s3://models/a/\uff0e\uff0e/b", "U+FF0E"),
        ("s3://models/m\uff0e1/config.pbtxt", "U+FF0E"),
        ("oss://kubeai-models/\uff0e/x", "U+FF0E"),
        ("gs://kubeai-models/a\uff0fb", "U+FF0F"),
        ("file://{root}/\uff0e\uff0e/x", "U+FF0E"),
        ("s3://models/cafe\u0301/1", "decomposed"),
        ("s3://models/\ufb01le", "U+FB01"),
    ],
)
def test_look_alike_characters_are_a_bad_uri_not_an_outage(
    store: ArtifactStore, root: Path, uri: str, named: str
) -> None:
    """Full-width dots and other NFKC look-alikes are refused as a bad URI (the caller's fault)
    before any backend is touched, even where the backend is not configured (no S3 keys or
    endpoint, no OSS endpoint, no gcsfs here)."""
    uri = uri.replace("{root}", str(root))
    with pytest.raises(InvalidArtifactURI) as info:
        store.check_uri(uri)
    assert named in str(info.value) and "NFKC" in str(info.value)
    with pytest.raises(InvalidArtifactURI):
        store.read_bytes(uri, max_bytes=10)


def test_plain_unicode_keys_stay_valid(store: ArtifactStore) -> None:
    assert store.check_uri("s3://models/模型/café/1") == "s3://models/模型/café/1"


@pytest.mark.parametrize(
    ("uri", "limit"),
    [
        ("s3://models/" + "é" * 600, "1024"),
        ("gs://kubeai-models/" + "é" * 513, "1024"),
        ("oss://kubeai-models/" + "k" * 1024, "1023"),
    ],
)
def test_keys_longer_than_the_store_allows_are_a_bad_uri(
    store: ArtifactStore, uri: str, limit: str
) -> None:
    with pytest.raises(InvalidArtifactURI, match=f"at most {limit}"):
        store.check_uri(uri)


def test_a_local_name_too_long_for_the_file_system_is_a_bad_uri(
    store: ArtifactStore, root: Path
) -> None:
    """A name longer than the file system allows is the URI's fault (``InvalidArtifactURI``,
    refused before any I/O), never ``StorageUnavailable``."""
    uri = f"file://{root}/m/{'n' * 256}"
    for call in (
        lambda: store.check_uri(uri),
        lambda: store.read_bytes(uri, max_bytes=10),
        lambda: store.write_bytes(uri, b"x"),
    ):
        with pytest.raises(InvalidArtifactURI, match="at most 255"):
            call()
    store.check_uri(f"file://{root}/m/{'n' * 255}")


def test_misconfiguration_names_the_variable_of_the_settings_owner(root: Path) -> None:
    """A store built from settings nested in a service's settings names that service's variable."""
    store = ArtifactStore(
        ArtifactSettings(local_root=root), env_prefix="KUBEAI_REGISTRY_ARTIFACTS__"
    )
    with pytest.raises(StorageMisconfigured) as info:
        store.exists("oss://kubeai-models/m/1")
    assert info.value.setting == "KUBEAI_REGISTRY_ARTIFACTS__OSS__ENDPOINT_URL"
    assert "KUBEAI_REGISTRY_ARTIFACTS__OSS__ENDPOINT_URL" in str(info.value)
    assert not isinstance(info.value, StorageUnavailable)
