"""Manifests: per-file sha256 digests, safe relative keys, directory verification."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from pydantic import ValidationError

from glue.artifacts.errors import ChecksumMismatch
from glue.artifacts.manifest import (
    FileDigest,
    Manifest,
    build_manifest,
    check_digest,
    check_relative_path,
    compare_listing,
    digest_bytes,
    hash_stream,
    verify_directory,
)

ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _tree(root: Path) -> Path:
    (root / "1").mkdir(parents=True)
    (root / "config.pbtxt").write_bytes(b"abc")
    (root / "1" / "model.py").write_bytes(b"print('hi')\n")
    return root


def test_build_manifest_digests_every_file(tmp_path: Path) -> None:
    manifest = build_manifest(_tree(tmp_path / "m"))
    assert sorted(manifest.files) == ["1/model.py", "config.pbtxt"]
    assert manifest.files["config.pbtxt"] == FileDigest(sha256=ABC_SHA256, size=3)
    model = b"print('hi')\n"
    assert manifest.files["1/model.py"].sha256 == hashlib.sha256(model).hexdigest()
    assert manifest.total_bytes == 3 + len(model)


def test_hash_stream_reads_to_the_end() -> None:
    data = b"x" * (3 << 20) + b"tail"
    assert hash_stream(io.BytesIO(data)) == FileDigest(
        sha256=hashlib.sha256(data).hexdigest(), size=len(data)
    )


def test_build_manifest_refuses_symlinks_and_empty_dirs(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no files"):
        build_manifest(tmp_path / "empty")
    root = _tree(tmp_path / "m")
    (root / "link").symlink_to(root / "config.pbtxt")
    with pytest.raises(ValueError, match="symlink"):
        build_manifest(root)


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b", "a\\b", "", "a/"])
def test_manifest_keys_must_be_safe_relative_paths(key: str) -> None:
    with pytest.raises(ValidationError):
        Manifest(files={key: FileDigest(sha256=ABC_SHA256, size=3)})
    with pytest.raises(ValueError):
        check_relative_path(key)


def test_digest_fields_are_validated() -> None:
    with pytest.raises(ValidationError):
        FileDigest(sha256="ABC", size=3)
    with pytest.raises(ValidationError):
        FileDigest(sha256=ABC_SHA256, size=-1)


def test_verify_directory_accepts_an_exact_copy(tmp_path: Path) -> None:
    manifest = build_manifest(_tree(tmp_path / "a"))
    verify_directory(_tree(tmp_path / "b"), manifest)


def test_verify_directory_names_the_differing_file(tmp_path: Path) -> None:
    manifest = build_manifest(_tree(tmp_path / "a"))
    changed = _tree(tmp_path / "b")
    (changed / "1" / "model.py").write_bytes(b"print('ho')\n")  # same size, other bytes
    with pytest.raises(ChecksumMismatch) as info:
        verify_directory(changed, manifest)
    assert info.value.field == "1/model.py"

    extra = _tree(tmp_path / "c")
    (extra / "notes.txt").write_bytes(b"")
    with pytest.raises(ChecksumMismatch, match=r"notes\.txt"):
        verify_directory(extra, manifest)

    missing = _tree(tmp_path / "d")
    (missing / "config.pbtxt").unlink()
    with pytest.raises(ChecksumMismatch, match="missing"):
        verify_directory(missing, manifest)


@pytest.mark.parametrize("size", [True, False, "1", 1 << 53, 1 << 63, 1.5, -1, None])
def test_sizes_are_strict_json_integers_of_at_most_int64(size: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Manifest.model_validate({"files": {"a": {"sha256": ABC_SHA256, "size": size}}})
    assert caught.value.errors()[0]["loc"] == ("files", "a", "size")


@pytest.mark.parametrize("size", [0, 3, (1 << 53) - 1])
def test_sizes_in_range_are_accepted(size: int) -> None:
    Manifest.model_validate_json(
        f'{{"files": {{"a": {{"sha256": "{ABC_SHA256}", "size": {size}}}}}}}'
    )


@pytest.mark.parametrize("sha256", [ABC_SHA256.upper(), ABC_SHA256[:-1], "g" * 64, 7, None])
def test_sha256_must_be_64_lowercase_hex(sha256: object) -> None:
    with pytest.raises(ValidationError):
        Manifest.model_validate({"files": {"a": {"sha256": sha256, "size": 3}}})


def test_compare_listing_names_the_first_difference() -> None:
    files = {
        "a": FileDigest(sha256=ABC_SHA256, size=3),
        "b/c": FileDigest(sha256=ABC_SHA256, size=0),
    }
    compare_listing(files, {"a": 3, "b/c": 0})
    for listing, field, message in [
        ({"a": 3, "b/c": 0, "b/d": 1}, "b/d", "not in the manifest"),
        ({"a": 3}, "b/c", "missing"),
        ({"a": 0, "b/c": 0}, "a", "0 bytes, the manifest says 3"),
    ]:
        with pytest.raises(ChecksumMismatch, match=message) as caught:
            compare_listing(files, listing)
        assert caught.value.field == field


def test_check_digest_and_digest_bytes() -> None:
    expected = FileDigest(sha256=ABC_SHA256, size=3)
    check_digest("a", digest_bytes(b"abc"), expected)
    with pytest.raises(ChecksumMismatch, match="does not match") as caught:
        check_digest("a", digest_bytes(b"abd"), expected)
    assert caught.value.field == "a"
