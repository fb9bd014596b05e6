"""glue/controller/kube.py: the controller's connection, from the pod's ServiceAccount or the
kubeconfig (through ``glue.kubeconfig``, the CLI's reader), and kopf's login made of it."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import yaml

from glue.controller import kube
from glue.kubeconfig import KubeconfigError
from tests.glue.cli.conftest import TlsFiles, tls_files

__all__ = ["tls_files"]  # the CLI tests' fixture: a CA and a server certificate


@pytest.fixture
def outside_a_pod(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No apiserver address in the environment, no KUBECONFIG, HOME without a kubeconfig."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def _service_account(folder: Path, tls: TlsFiles) -> Path:
    folder.mkdir()
    (folder / "token").write_text("pod-token\n")
    (folder / "ca.crt").write_bytes(tls.ca.read_bytes())
    (folder / "namespace").write_text("kubeai-system")
    return folder


@pytest.mark.parametrize(
    ("host", "server"),
    [("10.96.0.1", "https://10.96.0.1:6443"), ("fd00::1", "https://[fd00::1]:6443")],
)
def test_in_a_pod_the_service_account_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tls_files: TlsFiles, host: str, server: str
) -> None:
    folder = _service_account(tmp_path / "sa", tls_files)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    connection = kube.in_cluster(folder)
    assert connection is not None
    assert (connection.server, connection.namespace) == (server, "kubeai-system")
    assert connection.token_file == folder / "token" and connection.ca == folder / "ca.crt"
    assert isinstance(connection.verify, ssl.SSLContext) and connection.verify.get_ca_certs()
    login = kube.kopf_login(connection)
    assert (login.server, login.ca_path, login.token) == (
        server,
        str(folder / "ca.crt"),
        "pod-token",
    )
    (folder / "token").write_text("rotated\n")  # the kubelet rotates it: kopf logs in again
    assert kube.kopf_login(connection).token == "rotated"
    with kube.client(connection) as client:
        assert client.timeout.read == kube.TIMEOUT and client.headers.get("Authorization") is None
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert kube.in_cluster(folder) is None


def test_outside_a_pod_the_kubeconfig_is_read_by_the_shared_reader(
    outside_a_pod: Path, monkeypatch: pytest.MonkeyPatch, tls_files: TlsFiles
) -> None:
    """``$KUBECONFIG`` (its current context) with a client certificate: kopf gets the same
    CA, certificate and key, in forms it loads."""
    path = outside_a_pod / "controller.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "current-context": "ctl",
                "clusters": [
                    {
                        "name": "p",
                        "cluster": {
                            "server": "https://127.0.0.1:6443",
                            "certificate-authority-data": base64.b64encode(
                                tls_files.ca.read_bytes()
                            ).decode(),
                        },
                    }
                ],
                "users": [
                    {
                        "name": "ctl",
                        "user": {
                            "client-certificate": str(tls_files.cert),
                            "client-key": str(tls_files.key),
                        },
                    }
                ],
                "contexts": [{"name": "ctl", "context": {"cluster": "p", "user": "ctl"}}],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    connection = kube.discover()
    assert (connection.server, connection.context) == ("https://127.0.0.1:6443", "ctl")
    login = kube.kopf_login(connection)
    assert login.ca_data == tls_files.ca.read_bytes() and login.ca_path is None
    assert login.certificate_path == str(tls_files.cert)
    assert login.private_key_path == str(tls_files.key)
    assert login.token is None and not login.insecure
    assert login.as_ssl_context().get_ca_certs()  # kopf builds its TLS from it


def test_without_credentials_the_error_says_what_is_missing(outside_a_pod: Path) -> None:
    with pytest.raises(KubeconfigError) as caught:
        kube.discover()
    message = str(caught.value)
    assert message.startswith("no ServiceAccount token in the pod, and no kubeconfig at")
    assert str(outside_a_pod / ".kube" / "config") in message
