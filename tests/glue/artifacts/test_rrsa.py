"""``oss://`` with RRSA: ACK's pod identity exchanged for STS credentials, on loopback only.

Stand-ins, because Alibaba Cloud STS and OSS are unreachable here:

- a fake STS (``FakeSts``): an HTTPS server on 127.0.0.1 (certificate from
  ``infra.controlplane.pki``, trusted through ``SSL_CERT_FILE``) answering ``AssumeRoleWithOIDC``
  as Alibaba Cloud STS documents it (query parameters in, ``Credentials`` JSON out); it records
  every call and can be told to fail;
- OSS: moto_server (a real S3 API server, ``tests.support.moto``) behind ``StsCheckingProxy``,
  which, like OSS for an STS access key (error 0002-00000003), refuses any request whose
  ``x-amz-security-token`` is not a token the fake STS issued for the request's access key id and
  that has not expired, and forwards the others.

The pod side is real: the three variables ack-pod-identity-webhook injects and a token file.
"""

from __future__ import annotations

import http.client
import http.server
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from glue.artifacts.errors import StorageMisconfigured, StorageUnavailable
from glue.artifacts.manifest import verify_directory
from glue.artifacts.rrsa import (
    OIDC_PROVIDER_ARN_ENV,
    OIDC_TOKEN_FILE_ENV,
    ROLE_ARN_ENV,
    RrsaIdentity,
    role_session_name,
    rrsa_identity,
)
from glue.artifacts.settings import ArtifactSettings, OssSettings
from glue.artifacts.store import ArtifactStore
from infra.controlplane.pki import write_pki
from tests.support.moto import MotoServer, free_port

pytestmark = pytest.mark.integration

ROLE_ARN = "acs:ram::1234567890123456:role/kubeai-registry"
PROVIDER_ARN = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c0ffee"
FAIL_FAST_S = 6.0


@dataclass
class FakeSts:
    """State of the fake STS: its ``endpoint`` (``127.0.0.1:<port>``), the query of every call,
    the credentials it issued (access key id -> (security token, expiry)), how long new ones
    live, and ``fail`` (an HTTP status to answer with instead)."""

    endpoint: str = ""
    calls: list[dict[str, str]] = field(default_factory=list)
    issued: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    lifetime: timedelta = timedelta(hours=1)
    fail: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls.append(query)
            request_id = str(uuid.uuid4())
            if self.fail is not None:
                return self.fail, {
                    "RequestId": request_id,
                    "Code": "AuthenticationFail.OIDCToken.Invalid",
                    "Message": "The OIDC token is invalid.",
                }
            if query.get("Action") != "AssumeRoleWithOIDC":
                return 400, {"RequestId": request_id, "Code": "InvalidAction"}
            number = len(self.issued) + 1
            key, token = f"STS.key{number}", f"security-token-{number}-{uuid.uuid4().hex}"
            expiry = (datetime.now(UTC) + self.lifetime).replace(microsecond=0)
            self.issued[key] = (token, expiry)
        return 200, {
            "RequestId": request_id,
            "Credentials": {
                "AccessKeyId": key,
                "AccessKeySecret": f"secret-{number}",
                "SecurityToken": token,
                "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
            },
            "AssumedRoleUser": {"Arn": f"{ROLE_ARN}/{query.get('RoleSessionName')}"},
        }


@dataclass
class StsCheckingProxy:
    """The OSS stand-in's front: ``url`` to use as endpoint, the (access key id, token) of every
    request it let through and how many it refused."""

    url: str
    accepted: list[tuple[str, str]] = field(default_factory=list)
    refused: int = 0


@contextmanager
def _serving(server: http.server.ThreadingHTTPServer) -> Iterator[None]:
    """Run ``server`` in a thread for the duration of the block."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def ca_and_cert(tmp_path: Path) -> Any:
    return write_pki(tmp_path / "pki")


@pytest.fixture
def sts(ca_and_cert: Any) -> Iterator[FakeSts]:
    """The fake STS on HTTPS 127.0.0.1 (see the module docstring)."""
    state = FakeSts()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._handle(dict(parse_qsl(urlsplit(self.path).query)))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            query = dict(parse_qsl(urlsplit(self.path).query))
            query.update(parse_qsl(self.rfile.read(length).decode()))
            self._handle(query)

        def _handle(self, query: dict[str, str]) -> None:
            status, body = state.answer(query)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(ca_and_cert.serving_cert, ca_and_cert.serving_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.endpoint = f"127.0.0.1:{server.server_address[1]}"
    with _serving(server):
        yield state


_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


@pytest.fixture
def oss(moto_s3: MotoServer, sts: FakeSts) -> Iterator[StsCheckingProxy]:
    """moto_server behind a proxy that accepts only unexpired credentials the fake STS issued."""
    moto = urlsplit(moto_s3.endpoint_url)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _proxy(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            match = _CREDENTIAL.search(self.headers.get("Authorization", ""))
            key = match.group(1) if match else ""
            token = self.headers.get("x-amz-security-token", "")
            with sts.lock:
                issued = sts.issued.get(key)
            if issued is None or issued[0] != token or issued[1] <= datetime.now(UTC):
                state.refused += 1
                self._reply(403, {"Content-Type": "application/xml"}, _access_denied(key))
                return
            state.accepted.append((key, token))
            upstream = http.client.HTTPConnection(moto.hostname, moto.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            out = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in ("transfer-encoding", "connection", "content-length")
            }
            length_header = response.getheader("Content-Length")
            upstream.close()
            self._reply(response.status, out, data, head_length=length_header)

        def _reply(
            self, status: int, headers: dict[str, str], data: bytes, head_length: str | None = None
        ) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if self.command == "HEAD":
                self.send_header("Content-Length", head_length or "0")
                self.end_headers()
                return
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _proxy  # noqa: N815 - http.server names

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = StsCheckingProxy(url=f"http://127.0.0.1:{server.server_address[1]}")
    with _serving(server):
        yield state


def _access_denied(key: str) -> bytes:
    return (
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>InvalidAccessKeyId</Code>"
        f"<Message>no valid STS security token for {key!r}</Message></Error>"
    ).encode()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens" / "token"
    path.parent.mkdir()
    path.write_text("eyJhbGciOiJSUzI1NiJ9.first-projected-token.sig")
    return path


@pytest.fixture
def rrsa_env(monkeypatch: pytest.MonkeyPatch, token_file: Path, ca_and_cert: Any) -> None:
    """What ack-pod-identity-webhook injects, plus trust in the fake STS's CA; no proxies, no
    instance metadata."""
    monkeypatch.setenv(ROLE_ARN_ENV, ROLE_ARN)
    monkeypatch.setenv(OIDC_PROVIDER_ARN_ENV, PROVIDER_ARN)
    monkeypatch.setenv(OIDC_TOKEN_FILE_ENV, str(token_file))
    monkeypatch.setenv("ALIBABA_CLOUD_ROLE_SESSION_NAME", "kubeai-registry-0")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_and_cert.ca_cert))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)


def _store(tmp_path: Path, endpoint_url: str, sts: FakeSts, **oss: Any) -> ArtifactStore:
    return ArtifactStore(
        ArtifactSettings(
            local_root=tmp_path / "root",
            oss=OssSettings(
                endpoint_url=endpoint_url,
                region="us-east-1",
                addressing_style="path",
                sts_endpoint=sts.endpoint,
                **oss,
            ),
        )
    )


def test_round_trip_with_rrsa_credentials(
    rrsa_env: None,
    sts: FakeSts,
    oss: StsCheckingProxy,
    s3_bucket: str,
    token_file: Path,
    tmp_path: Path,
) -> None:
    """Upload, download, write and read through the STS-checking OSS stand-in: every request
    carries the temporary key and its security token, obtained with one AssumeRoleWithOIDC call
    that sent the pod's token and role (the keys last an hour, so they are reused)."""
    src = tmp_path / "src"
    (src / "1").mkdir(parents=True)
    (src / "config.pbtxt").write_text('name: "demo"\n')
    (src / "1" / "model.onnx").write_bytes(b"\x08\x07" * 5000)
    store = _store(tmp_path, oss.url, sts)
    uri = f"oss://{s3_bucket}/models/demo/1"

    manifest = store.upload_dir(src, uri)
    store.download_dir(uri, tmp_path / "dest", manifest)
    verify_directory(tmp_path / "dest", manifest)
    store.write_bytes(f"{uri}/metrics.json", b'{"accuracy": 0.9}')
    assert store.read_bytes(f"{uri}/metrics.json", max_bytes=100) == b'{"accuracy": 0.9}'

    [call] = sts.calls
    assert call["Action"] == "AssumeRoleWithOIDC"
    assert call["RoleArn"] == ROLE_ARN
    assert call["OIDCProviderArn"] == PROVIDER_ARN
    assert call["OIDCToken"] == token_file.read_text()
    assert call["RoleSessionName"] == "kubeai-registry-0"
    assert oss.refused == 0
    token = sts.issued["STS.key1"][0]
    assert len(oss.accepted) >= 6 and set(oss.accepted) == {("STS.key1", token)}


def test_credentials_are_refreshed_before_they_expire(
    rrsa_env: None,
    sts: FakeSts,
    oss: StsCheckingProxy,
    s3_bucket: str,
    token_file: Path,
    tmp_path: Path,
) -> None:
    """Keys with 12 minutes left are inside botocore's 15-minute refresh window: the next request
    exchanges the (meanwhile rotated) token file again and goes out with the new keys, while the
    old ones are still valid."""
    sts.lifetime = timedelta(minutes=12)
    store = _store(tmp_path, oss.url, sts)
    store.write_bytes(f"oss://{s3_bucket}/a.txt", b"first")
    first = len(sts.calls)
    assert first >= 1

    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.rotated-projected-token.sig")
    assert store.read_bytes(f"oss://{s3_bucket}/a.txt", max_bytes=10) == b"first"

    assert len(sts.calls) > first
    assert sts.calls[-1]["OIDCToken"] == token_file.read_text()
    newest = f"STS.key{len(sts.issued)}"
    assert oss.accepted[-1] == (newest, sts.issued[newest][0])
    assert oss.refused == 0
    assert all(expiry > datetime.now(UTC) for _, expiry in sts.issued.values())


@pytest.mark.parametrize("failure", ["refused", "unreachable"])
def test_failing_sts_is_a_clear_storage_error(
    rrsa_env: None,
    sts: FakeSts,
    oss: StsCheckingProxy,
    s3_bucket: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    failure: str,
) -> None:
    """STS refusing the token (400 with its error code) or not answering (closed loopback port)
    ends the request quickly naming RRSA, the role and the cause; no request reaches the store
    and no traceback is printed. A refusal is permanent (``StorageMisconfigured`` naming the role
    variable), an unreachable STS transient (``StorageUnavailable``)."""
    if failure == "refused":
        sts.fail = 400
    else:
        sts.endpoint = f"127.0.0.1:{free_port()}"
    store = _store(tmp_path, oss.url, sts)
    started = time.monotonic()
    expected = StorageMisconfigured if failure == "refused" else StorageUnavailable
    with pytest.raises(expected) as caught:
        store.write_bytes(f"oss://{s3_bucket}/b.txt", b"data")
    assert time.monotonic() - started < FAIL_FAST_S
    message = str(caught.value)
    assert "RRSA" in message and ROLE_ARN in message and sts.endpoint in message
    assert "\n" not in message
    if failure == "refused":
        assert "AuthenticationFail.OIDCToken.Invalid" in message
        assert isinstance(caught.value, StorageMisconfigured)
        assert caught.value.setting == ROLE_ARN_ENV
    else:
        assert not isinstance(caught.value, StorageMisconfigured)
    assert caught.value.field == "oss"
    assert oss.accepted == []
    assert "Traceback" not in capfd.readouterr().err


def test_static_keys_win_over_rrsa(
    rrsa_env: None, sts: FakeSts, moto_s3: MotoServer, s3_bucket: str, tmp_path: Path
) -> None:
    """With ``oss.access_key_id`` set, the store uses the static keys and never calls STS."""
    store = _store(
        tmp_path,
        moto_s3.endpoint_url,
        sts,
        access_key_id=moto_s3.access_key_id,
        secret_access_key=moto_s3.secret_access_key,
    )
    store.write_bytes(f"oss://{s3_bucket}/c.txt", b"static")
    assert store.read_bytes(f"oss://{s3_bucket}/c.txt", max_bytes=10) == b"static"
    assert sts.calls == []


def test_half_injected_identity_is_refused(
    monkeypatch: pytest.MonkeyPatch, sts: FakeSts, tmp_path: Path
) -> None:
    """One RRSA variable without the others is a broken pod: the store says which are missing
    instead of falling back to another credential source."""
    monkeypatch.setenv(ROLE_ARN_ENV, ROLE_ARN)
    monkeypatch.delenv(OIDC_PROVIDER_ARN_ENV, raising=False)
    monkeypatch.delenv(OIDC_TOKEN_FILE_ENV, raising=False)
    store = _store(tmp_path, "http://127.0.0.1:9", sts)
    with pytest.raises(StorageMisconfigured) as caught:
        store.exists("oss://models/x")
    assert OIDC_PROVIDER_ARN_ENV in str(caught.value) and OIDC_TOKEN_FILE_ENV in str(caught.value)
    assert caught.value.field == "oss"
    assert caught.value.setting == OIDC_PROVIDER_ARN_ENV
    assert sts.calls == []


def test_rrsa_identity_reads_the_webhooks_variables() -> None:
    env = {ROLE_ARN_ENV: ROLE_ARN, OIDC_PROVIDER_ARN_ENV: PROVIDER_ARN, OIDC_TOKEN_FILE_ENV: "/t"}
    assert rrsa_identity(env) == RrsaIdentity(ROLE_ARN, PROVIDER_ARN, "/t")
    assert rrsa_identity({}) is None
    assert rrsa_identity({ROLE_ARN_ENV: " "}) is None


def test_role_session_name_is_what_sts_accepts() -> None:
    assert role_session_name({"ALIBABA_CLOUD_ROLE_SESSION_NAME": "a b/c"}) == "a-b-c"
    name = role_session_name({})
    assert name.startswith("kubeai-") and re.fullmatch(r"[A-Za-z0-9.@_-]{2,64}", name)
    assert len(role_session_name({"ALIBABA_CLOUD_ROLE_SESSION_NAME": "x" * 80})) == 64
