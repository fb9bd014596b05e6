"""glue/cli/kubeconfig.py: the apiserver, TLS and credentials of a kubeconfig context."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import yaml

from glue.cli.kubeconfig import KubeconfigError, default_path, load


def write(tmp_path: Path, user: dict, cluster: dict | None = None, **context: str) -> Path:
    path = tmp_path / "config"
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": cluster
                or {"server": "https://127.0.0.1:6443", "insecure-skip-tls-verify": True},
            }
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [
            {"name": "main", "context": {"cluster": "c", "user": "u", **context}},
            {"name": "other", "context": {"cluster": "c", "user": "missing"}},
        ],
        "current-context": "main",
    }
    path.write_text(yaml.safe_dump(document))
    return path


def test_token_namespace_and_server_of_the_current_context(tmp_path: Path) -> None:
    cluster = load(write(tmp_path, {"token": "t0k"}, namespace="cv"))
    assert cluster.server == "https://127.0.0.1:6443"
    assert cluster.headers == {"Authorization": "Bearer t0k"}
    assert cluster.namespace == "cv"
    assert cluster.verify.verify_mode == ssl.CERT_NONE


def test_token_file_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    cluster = load(write(tmp_path, {"tokenFile": "token"}))
    assert cluster.headers == {"Authorization": "Bearer from-file"}
    assert cluster.namespace is None


def test_ca_data_is_used_to_verify(tmp_path: Path, tls_files) -> None:
    ca = base64.b64encode(Path(tls_files.ca).read_bytes()).decode()
    cluster = load(
        write(
            tmp_path,
            {"token": "x"},
            {"server": "https://127.0.0.1:6443", "certificate-authority-data": ca},
        )
    )
    assert cluster.verify.verify_mode == ssl.CERT_REQUIRED
    assert cluster.verify.get_ca_certs()


@pytest.mark.parametrize(
    ("user", "cluster", "context", "words"),
    [
        ({"exec": {"command": "aws"}}, None, None, "users[u].user.exec: credential plugins"),
        ({"token": "x"}, {"server": "http://127.0.0.1"}, None, "server must be https"),
        ({"token": "x"}, None, "nope", "contexts has no entry named 'nope'"),
        ({"token": "x"}, None, "other", "users has no entry named 'missing'"),
        ({"tokenFile": "absent"}, None, None, "users[u].user.tokenFile"),
        (
            {"token": "x"},
            {"server": "https://h", "certificate-authority": "ca.pem"},
            None,
            "certificate-authority: no such file",
        ),
    ],
)
def test_unusable_kubeconfigs_name_the_key(
    tmp_path: Path, user: dict, cluster: dict | None, context: str | None, words: str
) -> None:
    with pytest.raises(KubeconfigError, match=words.replace("[", r"\[").replace("]", r"\]")):
        load(write(tmp_path, user, cluster), context)


def test_missing_file_and_default_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(KubeconfigError, match="cannot read the kubeconfig"):
        load(tmp_path / "absent")
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    assert default_path() == tmp_path / "a"
