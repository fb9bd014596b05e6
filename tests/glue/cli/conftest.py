"""Every CLI test runs without the user's kubeai config file and connection variables;
``publish_digits`` gives a registry a model with two versions; ``tls_files`` a CA and a server
certificate for 127.0.0.1 signed by it; ``apiserver`` answers the commands' Kubernetes requests
(made with the kubeconfig's credentials) through a handler the test gives."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from glue.artifacts.store import ArtifactStore
from glue.kubeconfig import KubeConnection
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient
from glue.model_registry.publish import publish_model
from tests.glue.model_registry.conftest import CONFIG, SIGNATURE
from tests.support.registry import RegistryServer

#: Variables ``glue.cli.context`` reads; a developer's shell must not change a test's answer.
CONNECTION_VARIABLES = (
    "KUBEAI_CONFIG",
    "KUBEAI_CONTEXT",
    "KUBEAI_TEAM",
    "KUBEAI_REGISTRY_URL",
    "KUBEAI_REGISTRY_TOKEN",
    "KUBEAI_REGISTRY_TOKEN_FILE",
    "KUBEAI_REGISTRY_CA_FILE",
)


@pytest.fixture(autouse=True)
def no_user_config(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """``KUBEAI_CONFIG`` names a file that does not exist (an empty config); the connection
    variables are unset. Returns the config path a test may write."""
    for name in CONNECTION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    path = tmp_path_factory.mktemp("kubeai-config") / "config.yaml"
    monkeypatch.setenv("KUBEAI_CONFIG", str(path))
    return path


@dataclass
class Apiserver:
    """Stands in for the apiserver: records requests, answers with ``handler``."""

    handler: Callable[[httpx.Request], httpx.Response]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, handler: Callable[[httpx.Request], httpx.Response]) -> list[httpx.Request]:
        """Answer with ``handler`` from now on; returns the list the requests are recorded in."""
        self.handler = handler
        return self.requests

    def transport(self) -> httpx.MockTransport:
        """A transport recording each request and answering it with ``handler``."""

        def handle(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return self.handler(request)

        return httpx.MockTransport(handle)


@pytest.fixture
def apiserver(monkeypatch: pytest.MonkeyPatch) -> Apiserver:
    """``KubeConnection.client`` answers through an ``Apiserver`` (its base URL and auth kept);
    it answers 500 until the test gives a handler."""
    server = Apiserver(lambda request: httpx.Response(500))
    original = KubeConnection.client

    def client(
        self: KubeConnection, *, timeout: float = 30.0, trust_env: bool = True
    ) -> httpx.Client:
        real = original(self, timeout=timeout, trust_env=trust_env)
        return httpx.Client(
            base_url=real.base_url, auth=real.auth, headers=real.headers,
            transport=server.transport(),
        )  # fmt: skip

    monkeypatch.setattr(KubeConnection, "client", client)
    return server


def publish_digits(registry: RegistryServer, client: RegistryClient, tmp_path: Path) -> None:
    """Create model ``digits`` in the client's team and publish versions 1 and 2 (accuracy
    0.91 and 0.92, params C=1 and C=2, sources ``job-1``/``job-2`` with uids u1/u2)."""
    store = ArtifactStore(registry.settings.artifacts)
    src = tmp_path / "src" / "digits"
    (src / "1").mkdir(parents=True)
    (src / "config.pbtxt").write_text(CONFIG.format(name="digits"))
    (src / "1" / "model.py").write_text("# m\n")
    for i in (1, 2):
        published = publish_model(
            store=store,
            registry=client,
            model=schemas.ModelCreate(name="digits", task="classification"),
            model_dir=src,
            uri=store.local_uri("models", "digits", "a"),
            metrics={"accuracy": 0.9 + i / 100},
            params={"C": str(i)},
            source=schemas.SourceRef(
                kind="PyTorchJob", namespace="cv", name=f"job-{i}", uid=f"u{i}"
            ),
        )
        assert published.created and published.record.version == i
        assert published.record.signature == schemas.Signature(**SIGNATURE)


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: ``ca`` (the CA's certificate), ``cert``/``key`` (a server on 127.0.0.1)."""

    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A fresh CA (P-256, one day) and a server certificate for IP 127.0.0.1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)

    def certificate(
        subject: str,
        key: ec.EllipticCurvePrivateKey,
        issuer: x509.Name | None,
        signer: ec.EllipticCurvePrivateKey,
        *,
        ca: bool,
    ) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("kubeai test CA", ca_key, None, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = certificate("127.0.0.1", server_key, ca_cert.subject, ca_key, ca=False)
    files = TlsFiles(ca=folder / "ca.crt", cert=folder / "server.crt", key=folder / "server.key")
    files.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files
