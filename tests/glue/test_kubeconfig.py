"""glue/kubeconfig.py: the context kubectl would use, its TLS material and credentials, and
errors that name the file and key."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from glue.kubeconfig import KubeconfigError, connect, kubeconfig_paths
from tests.glue.cli.conftest import TlsFiles, tls_files

__all__ = ["tls_files"]  # the CLI tests' fixture: a CA and a server certificate


def write(path: Path, users: list[dict[str, Any]], **extra: Any) -> Path:
    doc = {
        "current-context": "cv",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": users,
        "contexts": [{"name": "cv", "context": {"cluster": "c", "user": "u", "namespace": "cv"}}],
        **extra,
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def test_token_user(tmp_path: Path) -> None:
    path = write(tmp_path / "config", [{"name": "u", "user": {"token": "t0k"}}])
    connection = connect(path)
    assert (connection.server, connection.context, connection.namespace) == (
        "https://127.0.0.1:6443",
        "cv",
        "cv",
    )
    assert connection.token == "t0k" and "t0k" not in repr(connection)
    with connection.client() as client:
        assert client.headers["Authorization"] == "Bearer t0k"


def test_kubeconfig_list_first_file_wins(tmp_path: Path) -> None:
    first = write(tmp_path / "a", [{"name": "u", "user": {"token": "first"}}])
    second = tmp_path / "b"
    second.write_text(yaml.safe_dump({"users": [{"name": "u", "user": {"token": "second"}}]}))
    env = {"KUBECONFIG": f"{first}:{second}"}
    assert kubeconfig_paths(None, env) == [first, second]
    assert connect(None, env=env).token == "first"


def test_certificates(tmp_path: Path, tls_files: TlsFiles) -> None:
    data = base64.b64encode(tls_files.ca.read_bytes()).decode()
    users = [
        {
            "name": "u",
            "user": {
                "client-certificate-data": base64.b64encode(tls_files.cert.read_bytes()).decode(),
                "client-key": str(tls_files.key),
            },
        }
    ]
    path = write(tmp_path / "config", users)
    doc = yaml.safe_load(path.read_text())
    doc["clusters"][0]["cluster"]["certificate-authority-data"] = data
    path.write_text(yaml.safe_dump(doc))
    connection = connect(path)
    assert isinstance(connection.verify, ssl.SSLContext)
    assert connection.verify.get_ca_certs()
    # the material, for clients that build their own TLS (the controller's kopf login)
    assert connection.ca == tls_files.ca.read_bytes() and not connection.insecure
    assert connection.client_cert == tls_files.cert.read_bytes()
    assert connection.client_key == tls_files.key
    assert "PRIVATE" not in repr(connection)


@pytest.mark.parametrize(
    ("user", "words"),
    [
        ({"exec": {"command": "aws"}}, "users[u].user.exec: not supported"),
        ({"tokenFile": "missing"}, "users[u].user.tokenFile"),
        ({"client-certificate-data": "!!"}, "client-certificate-data: not base64"),
        ({"client-key-data": base64.b64encode(b"x").decode()}, "needs its key"),
    ],
)
def test_unusable_users_are_named(tmp_path: Path, user: dict[str, Any], words: str) -> None:
    path = write(tmp_path / "config", [{"name": "u", "user": user}])
    with pytest.raises(KubeconfigError) as caught:
        connect(path)
    assert words in str(caught.value) and str(path) in str(caught.value)


def test_insecure_and_ca_file(tmp_path: Path, tls_files: TlsFiles) -> None:
    path = write(tmp_path / "config", [{"name": "u", "user": {"token": "t"}}])
    doc = yaml.safe_load(path.read_text())
    doc["clusters"][0]["cluster"]["certificate-authority"] = str(tls_files.ca)
    path.write_text(yaml.safe_dump(doc))
    connection = connect(path)
    assert connection.ca == tls_files.ca and connection.client_cert is None
    doc["clusters"][0]["cluster"] = {"server": "https://x.test", "insecure-skip-tls-verify": True}
    path.write_text(yaml.safe_dump(doc))
    connection = connect(path)
    assert connection.verify is False and connection.insecure and connection.ca is None


def test_missing_pieces(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="no kubeconfig at"):
        connect(tmp_path / "none")
    path = write(tmp_path / "config", [{"name": "u", "user": {"token": "t"}}])
    with pytest.raises(KubeconfigError, match="no context 'other'"):
        connect(path, "other")
    doc = yaml.safe_load(path.read_text())
    doc["contexts"][0]["context"]["cluster"] = "gone"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(KubeconfigError, match=r"contexts\[cv\].context.cluster 'gone' unknown"):
        connect(path)
