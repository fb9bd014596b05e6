"""ArtifactStore against S3-compatible APIs: ``s3://`` and ``oss://`` through s3fs.

Most tests here talk to ``moto_server``, a real S3 API server on loopback (127.0.0.1) started once
per session by ``tests.support.moto``; failure tests use a closed loopback port or a tiny
loopback HTTP server that answers every request with 500.
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest

from glue.artifacts.errors import (
    ArtifactConflict,
    ArtifactError,
    ArtifactNotFound,
    ArtifactTooLarge,
    ChecksumMismatch,
    StorageMisconfigured,
    StorageUnavailable,
)
from glue.artifacts.manifest import build_manifest, verify_directory
from glue.artifacts.settings import ArtifactSettings, OssSettings, S3Settings
from glue.artifacts.store import ArtifactStore
from tests.glue.artifacts.test_store import fail_second_open
from tests.support.moto import MotoServer, free_port

pytestmark = pytest.mark.integration

FAIL_FAST_S = 5.0


def _s3_settings(server: MotoServer, **overrides: Any) -> dict[str, Any]:
    return {
        "endpoint_url": server.endpoint_url,
        "region": server.region,
        "access_key_id": server.access_key_id,
        "secret_access_key": server.secret_access_key,
        "addressing_style": "path",
        **overrides,
    }


@pytest.fixture
def s3_store(moto_s3: MotoServer, tmp_path: Path) -> ArtifactStore:
    """A store whose ``s3://`` and ``oss://`` both go to moto_server (real S3 API on loopback)."""
    return ArtifactStore(
        ArtifactSettings(
            local_root=tmp_path / "root",
            s3=S3Settings(**_s3_settings(moto_s3)),
            oss=OssSettings(**_s3_settings(moto_s3)),
        )
    )


@pytest.fixture
def s3_client(moto_s3: MotoServer) -> Any:
    """A boto3 client on moto_server, used to tamper with objects behind the store's back."""
    return boto3.client(
        "s3",
        endpoint_url=moto_s3.endpoint_url,
        region_name=moto_s3.region,
        aws_access_key_id=moto_s3.access_key_id,
        aws_secret_access_key=moto_s3.secret_access_key,
    )


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "1").mkdir(parents=True)
    (src / "config.pbtxt").write_text('name: "demo"\nbackend: "python"\n')
    (src / "1" / "model.py").write_text("class TritonPythonModel: ...\n")
    (src / "1" / "weights.bin").write_bytes(os.urandom((2 << 20) + 7))
    (src / "empty.txt").write_bytes(b"")
    return src


@pytest.mark.parametrize("scheme", ["s3", "oss"])
def test_round_trip(
    s3_store: ArtifactStore,
    s3_bucket: str,
    s3_client: Any,
    model_dir: Path,
    tmp_path: Path,
    scheme: str,
) -> None:
    """Upload and download through s3fs against moto_server, a real S3 API server on loopback;
    ``oss://`` takes the same S3-compatible path with the OSS endpoint settings."""
    uri = f"{scheme}://{s3_bucket}/models/demo/1/"
    manifest = s3_store.upload_dir(model_dir, uri)
    assert manifest == build_manifest(model_dir)
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert keys == [
        "models/demo/1/1/model.py",
        "models/demo/1/1/weights.bin",
        "models/demo/1/config.pbtxt",
        "models/demo/1/empty.txt",
    ]
    assert s3_store.list_files(uri) == ["1/model.py", "1/weights.bin", "config.pbtxt", "empty.txt"]
    assert s3_store.exists(uri)
    assert s3_store.exists(f"{scheme}://{s3_bucket}")
    assert not s3_store.exists(f"{scheme}://{s3_bucket}/models/demo/2")

    dest = tmp_path / "dest"
    s3_store.download_dir(uri, dest, manifest)
    verify_directory(dest, manifest)


def test_identical_upload_is_idempotent_and_different_is_refused(
    s3_store: ArtifactStore, s3_bucket: str, s3_client: Any, model_dir: Path
) -> None:
    """Immutability on moto_server, a real S3 API server on loopback."""
    uri = f"s3://{s3_bucket}/models/demo/1"
    manifest = s3_store.upload_dir(model_dir, uri)
    key = "models/demo/1/config.pbtxt"
    before = s3_client.head_object(Bucket=s3_bucket, Key=key)["LastModified"]
    time.sleep(1.1)  # LastModified has one-second resolution
    assert s3_store.upload_dir(model_dir, uri) == manifest
    assert s3_client.head_object(Bucket=s3_bucket, Key=key)["LastModified"] == before

    (model_dir / "1" / "model.py").write_text("class TritonPythonModel: pass\n")
    with pytest.raises(ArtifactConflict, match=r"1/model\.py"):
        s3_store.upload_dir(model_dir, uri)
    body = s3_client.get_object(Bucket=s3_bucket, Key="models/demo/1/1/model.py")["Body"].read()
    assert body == b"class TritonPythonModel: ...\n"


def test_corrupted_object_fails_and_dest_is_clean(
    s3_store: ArtifactStore, s3_bucket: str, s3_client: Any, model_dir: Path, tmp_path: Path
) -> None:
    """A bit flipped in the bucket after upload (moto_server, a real S3 API server on loopback)."""
    uri = f"s3://{s3_bucket}/models/demo/1"
    manifest = s3_store.upload_dir(model_dir, uri)
    key = "models/demo/1/1/weights.bin"
    data = bytearray(s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0x01
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=bytes(data))

    dest = tmp_path / "dest"
    with pytest.raises(ChecksumMismatch, match=r"1/weights\.bin") as info:
        s3_store.download_dir(uri, dest, manifest)
    assert info.value.field == "1/weights.bin"
    assert not dest.exists()


def test_missing_object_is_not_found_and_dest_is_clean(
    s3_store: ArtifactStore, s3_bucket: str, s3_client: Any, model_dir: Path, tmp_path: Path
) -> None:
    """An object deleted from moto_server (a real S3 API server on loopback) after upload."""
    uri = f"s3://{s3_bucket}/models/demo/1"
    manifest = s3_store.upload_dir(model_dir, uri)
    s3_client.delete_object(Bucket=s3_bucket, Key="models/demo/1/config.pbtxt")
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ArtifactNotFound, match=r"config\.pbtxt"):
        s3_store.download_dir(uri, dest, manifest)
    assert dest.is_dir() and not any(dest.iterdir())


def test_read_error_during_upload_commits_nothing(
    s3_store: ArtifactStore,
    s3_bucket: str,
    s3_client: Any,
    model_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A local read error half-way through a file: the object never appears on moto_server
    (a real S3 API server on loopback), and a retry completes the artifact."""
    uri = f"s3://{s3_bucket}/models/demo/1"
    with monkeypatch.context() as patch:
        fail_second_open(patch, "weights.bin")
        with pytest.raises(ArtifactError, match="cannot read"):
            s3_store.upload_dir(model_dir, uri)
    listed = s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert "models/demo/1/1/weights.bin" not in {o["Key"] for o in listed}
    manifest = s3_store.upload_dir(model_dir, uri)
    assert s3_store.list_files(uri) == sorted(manifest.files)


def test_bytes_on_s3(s3_store: ArtifactStore, s3_bucket: str) -> None:
    """Small objects on moto_server, a real S3 API server on loopback."""
    uri = f"s3://{s3_bucket}/models/demo/1/metrics.json"
    s3_store.write_bytes(uri, b'{"loss": 0.1}')
    assert s3_store.read_bytes(uri, max_bytes=100) == b'{"loss": 0.1}'
    with pytest.raises(ArtifactTooLarge):
        s3_store.read_bytes(uri, max_bytes=5)
    with pytest.raises(ArtifactConflict):
        s3_store.write_bytes(uri, b'{"loss": 0.9}')
    with pytest.raises(ArtifactNotFound):
        s3_store.read_bytes(f"s3://{s3_bucket}/models/demo/1/none.json", max_bytes=100)
    with pytest.raises(ArtifactNotFound, match="not a file"):
        s3_store.read_bytes(f"s3://{s3_bucket}/models/demo", max_bytes=100)


def test_absent_bucket(s3_store: ArtifactStore, moto_s3: MotoServer) -> None:
    """A bucket that does not exist on moto_server (a real S3 API server on loopback)."""
    assert not s3_store.exists("s3://no-such-bucket-here")
    assert not s3_store.exists("s3://no-such-bucket-here/models/x")
    with pytest.raises(ArtifactNotFound):
        s3_store.list_files("s3://no-such-bucket-here/models/x")


# ------------------------------------------------------------------ unreachable / failing


def _store_for(endpoint_url: str, tmp_path: Path, **overrides: Any) -> ArtifactStore:
    s3 = S3Settings(
        endpoint_url=endpoint_url,
        region="us-east-1",
        addressing_style="path",
        access_key_id="testing",
        secret_access_key="testing",
        **overrides,
    )
    return ArtifactStore(ArtifactSettings(local_root=tmp_path / "root", s3=s3))


def test_unreachable_endpoint_fails_fast_with_default_timeouts(
    model_dir: Path, tmp_path: Path
) -> None:
    """Nothing listens on the port: the main operations raise StorageUnavailable within
    seconds with the default timeout and retry settings, and leave no partial download."""
    store = _store_for(f"http://127.0.0.1:{free_port()}", tmp_path)
    manifest = build_manifest(model_dir)
    dest = tmp_path / "dest"
    calls: dict[str, Callable[[], object]] = {
        "exists": lambda: store.exists("s3://models/demo/1"),
        "upload_dir": lambda: store.upload_dir(model_dir, "s3://models/demo/1"),
        "download_dir": lambda: store.download_dir("s3://models/demo/1", dest, manifest),
    }
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(StorageUnavailable, match="KUBEAI_ARTIFACTS_S3__") as info:
            call()
        elapsed = time.monotonic() - started
        assert elapsed < FAIL_FAST_S, f"{name} took {elapsed:.1f} s"
        assert "Traceback" not in str(info.value)
        assert "EndpointConnectionError" in str(info.value)
    assert not dest.exists()


def test_unreachable_endpoint_for_every_operation(tmp_path: Path) -> None:
    """Nothing listens on the port (one attempt, to keep the test short)."""
    store = _store_for(f"http://127.0.0.1:{free_port()}", tmp_path, max_attempts=1)
    calls: dict[str, Callable[[], object]] = {
        "list_files": lambda: store.list_files("s3://models/demo/1"),
        "read_bytes": lambda: store.read_bytes("s3://models/demo/1/config.pbtxt", max_bytes=10),
        "write_bytes": lambda: store.write_bytes("s3://models/demo/1/x", b"x"),
        "exists(bucket)": lambda: store.exists("s3://models"),
    }
    for name, call in calls.items():
        try:
            call()
        except StorageUnavailable as exc:
            assert "Could not connect" in str(exc), name
        else:
            pytest.fail(f"{name} did not raise StorageUnavailable")


def _answering(status: int, code: str) -> type[http.server.BaseHTTPRequestHandler]:
    """A request handler answering every request with ``status`` and S3 error ``code``."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def _fail(self) -> None:
            body = f"<Error><Code>{code}</Code><Message>no</Message></Error>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            self._fail()

        def do_PUT(self) -> None:
            self._fail()

        def do_POST(self) -> None:
            self._fail()

        def do_HEAD(self) -> None:
            self._fail()

        def do_DELETE(self) -> None:
            self._fail()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port; yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def failing_endpoint() -> Iterator[str]:
    """A loopback HTTP server answering every request with 500 InternalError."""
    with _serving(_answering(500, "InternalError")) as url:
        yield url


def test_server_errors_are_storage_unavailable(
    failing_endpoint: str, model_dir: Path, tmp_path: Path
) -> None:
    store = _store_for(failing_endpoint, tmp_path, max_attempts=1)
    with pytest.raises(StorageUnavailable):
        store.read_bytes("s3://models/demo/1/config.pbtxt", max_bytes=10)
    with pytest.raises(StorageUnavailable):
        store.upload_dir(model_dir, "s3://models/demo/1")
    dest = tmp_path / "dest"
    with pytest.raises(StorageUnavailable):
        store.download_dir("s3://models/demo/1", dest, build_manifest(model_dir))
    assert not dest.exists()


@pytest.mark.parametrize(
    ("status", "code", "setting"),
    [
        (403, "AccessDenied", "KUBEAI_ARTIFACTS_S3__ACCESS_KEY_ID"),
        (403, "InvalidAccessKeyId", "KUBEAI_ARTIFACTS_S3__ACCESS_KEY_ID"),
        (403, "SignatureDoesNotMatch", "KUBEAI_ARTIFACTS_S3__ACCESS_KEY_ID"),
        (400, "AuthorizationHeaderMalformed", "KUBEAI_ARTIFACTS_S3__REGION"),
        (400, "InvalidRequest", "KUBEAI_ARTIFACTS_S3__REGION"),
    ],
)
def test_refused_credentials_are_misconfiguration_not_an_outage(
    model_dir: Path, tmp_path: Path, status: int, code: str, setting: str
) -> None:
    """A store that answers (over real HTTP on loopback) that the credentials or region are wrong
    will answer so again: ``StorageMisconfigured`` naming the setting, for reads and uploads."""
    with _serving(_answering(status, code)) as url:
        store = _store_for(url, tmp_path, max_attempts=1)
        calls: dict[str, Callable[[], object]] = {
            "read_bytes": lambda: store.read_bytes("s3://models/demo/1/config.pbtxt", max_bytes=9),
            "upload_dir": lambda: store.upload_dir(model_dir, "s3://models/demo/1"),
            "list_files": lambda: store.list_files("s3://models/demo/1"),
        }
        for name, call in calls.items():
            with pytest.raises(StorageMisconfigured) as info:
                call()
            assert info.value.setting == setting, name
            assert setting in str(info.value), name
            assert not isinstance(info.value, StorageUnavailable)


def clear_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Leave botocore's default chain nothing to find: no key variables, no profile files, no
    web identity or container credentials, and no instance-metadata probing."""
    for name in list(os.environ):
        if name.startswith(("AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION", "AWS_PROFILE")) or (
            name.startswith(("AWS_WEB_IDENTITY", "AWS_CONTAINER", "AWS_ROLE"))
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_s3_without_credentials_names_the_key_settings(
    moto_s3: MotoServer, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No keys in the settings and none for the SDK's default chain: a permanent
    ``StorageMisconfigured`` naming the variables, not a "retry later"."""
    clear_aws_credentials(monkeypatch, tmp_path)
    s3 = S3Settings(
        endpoint_url=moto_s3.endpoint_url, region=moto_s3.region, addressing_style="path"
    )
    store = ArtifactStore(ArtifactSettings(local_root=tmp_path / "root", s3=s3))
    with pytest.raises(StorageMisconfigured) as info:
        store.read_bytes(f"s3://{s3_bucket}/m/1/config.pbtxt", max_bytes=10)
    assert info.value.setting == "KUBEAI_ARTIFACTS_S3__ACCESS_KEY_ID"
    assert "KUBEAI_ARTIFACTS_S3__SECRET_ACCESS_KEY" in str(info.value)
    assert "NoCredentialsError" in str(info.value)


# ----------------------------------------------------------------------- folder markers


@pytest.mark.parametrize("scheme", ["s3", "oss"])
def test_folder_markers_are_not_files(
    s3_store: ArtifactStore,
    s3_bucket: str,
    s3_client: Any,
    model_dir: Path,
    tmp_path: Path,
    scheme: str,
) -> None:
    """0-byte ``<prefix>/`` objects, as the S3 console's "Create folder" makes them, at the
    target prefix and below it (on moto_server, a real S3 API server on loopback): upload
    succeeds, listing shows only real files, download and a repeated upload work."""
    s3_client.put_object(Bucket=s3_bucket, Key="models/demo/1/", Body=b"")
    uri = f"{scheme}://{s3_bucket}/models/demo/1"
    manifest = s3_store.upload_dir(model_dir, uri)
    s3_client.put_object(Bucket=s3_bucket, Key="models/demo/1/1/", Body=b"")
    s3_client.put_object(Bucket=s3_bucket, Key="models/demo/1/empty-folder/", Body=b"")
    assert s3_store.list_files(uri) == sorted(manifest.files)
    assert s3_store.upload_dir(model_dir, uri) == manifest
    dest = tmp_path / "dest"
    s3_store.download_dir(uri, dest, manifest)
    verify_directory(dest, manifest)
    assert not (dest / "empty-folder").exists()


def test_a_folder_named_object_with_content_is_a_conflict(
    s3_store: ArtifactStore, s3_bucket: str, s3_client: Any, model_dir: Path
) -> None:
    """An object whose key ends in ``/`` but holds bytes is no folder marker and can be no file
    of a directory: an upload to that prefix is refused; listing leaves it out."""
    s3_client.put_object(Bucket=s3_bucket, Key="models/demo/1/1/", Body=b"data")
    uri = f"s3://{s3_bucket}/models/demo/1"
    assert s3_store.list_files(uri) == []
    with pytest.raises(ArtifactConflict, match="ends in '/'"):
        s3_store.upload_dir(model_dir, uri)
