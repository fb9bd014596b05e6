"""The controller's own Kubernetes API access (besides kopf's watches): leases and lookups.

``Connection.discover()`` finds the credentials the way kopf's minimal login does: the pod's
ServiceAccount (token re-read before every request, since the kubelet rotates it), else the
kubeconfig named by ``$KUBECONFIG`` (current context; ``token``/``tokenFile`` and
``certificate-authority``/``-data`` only). ``Connection.client()`` is an ``httpx.Client`` on the
apiserver with that identity.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeConfigError(RuntimeError):
    """No usable credentials for the apiserver; the message says what is missing."""


class _TokenAuth(httpx.Auth):
    def __init__(self, token: str | None, token_file: Path | None) -> None:
        self.token, self.token_file = token, token_file

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.token_file.read_text().strip() if self.token_file else self.token
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        yield request


@dataclass(frozen=True)
class Connection:
    """The apiserver ``server`` URL, its ``ca_file`` and a bearer ``token`` or ``token_file``."""

    server: str
    ca_file: Path | None
    token: str | None = None
    token_file: Path | None = None

    @classmethod
    def discover(cls) -> Connection:
        """In-cluster ServiceAccount credentials, else ``$KUBECONFIG``; ``KubeConfigError``."""
        token = SERVICE_ACCOUNT_DIR / "token"
        host, port = (
            os.environ.get("KUBERNETES_SERVICE_HOST"),
            os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
        )
        if token.is_file() and host:
            server = f"https://{'[' + host + ']' if ':' in host else host}:{port}"
            return cls(server=server, ca_file=SERVICE_ACCOUNT_DIR / "ca.crt", token_file=token)
        path = os.environ.get("KUBECONFIG")
        if not path:
            raise KubeConfigError(
                "no ServiceAccount token in the pod and no $KUBECONFIG: cannot reach the apiserver"
            )
        return cls.from_kubeconfig(Path(path.split(os.pathsep)[0]))

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Connection:
        """The current context of the kubeconfig at ``path``; ``KubeConfigError`` naming it."""
        try:
            config = yaml.safe_load(path.read_text()) or {}
            named = {
                key: {item["name"]: item.get(key[:-1]) or {} for item in config.get(key) or []}
                for key in ("contexts", "clusters", "users")
            }
            context = named["contexts"][config["current-context"]]
            cluster = named["clusters"][context["cluster"]]
            user = named["users"].get(context.get("user"), {})
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            raise KubeConfigError(f"kubeconfig {path}: unusable: {exc!r}") from exc
        ca = cluster.get("certificate-authority")
        if not ca and cluster.get("certificate-authority-data"):
            data = base64.b64decode(cluster["certificate-authority-data"])
            with tempfile.NamedTemporaryFile("wb", suffix=".crt", delete=False) as out:
                out.write(data)
            ca = out.name
        token_file = user.get("tokenFile")
        if not user.get("token") and not token_file:
            raise KubeConfigError(f"kubeconfig {path}: the current user has no token")
        return cls(
            server=str(cluster["server"]),
            ca_file=Path(ca) if ca else None,
            token=user.get("token"),
            token_file=Path(token_file) if token_file else None,
        )

    def client(self, *, timeout: float = 10.0) -> httpx.Client:
        """An ``httpx.Client`` on the apiserver (TLS verified against ``ca_file``)."""
        verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True
        )
        return httpx.Client(
            base_url=self.server,
            verify=verify,
            auth=_TokenAuth(self.token, self.token_file),
            timeout=timeout,
            trust_env=False,
        )


def fluid_dataset_exists(client: httpx.Client, *, namespace: str, name: str) -> bool:
    """Whether a Fluid ``data.fluid.io/v1alpha1`` Dataset ``name`` exists in ``namespace``.

    False when the CRD is not installed (404 either way). Raises ``httpx.HTTPError`` for any
    other failure (the caller retries).
    """
    response = client.get(f"/apis/data.fluid.io/v1alpha1/namespaces/{namespace}/datasets/{name}")
    if response.status_code == 404:
        return False
    response.raise_for_status()
    return True


def status_message(response: httpx.Response) -> str:
    """The ``Status`` message of an apiserver answer, else its text (one line)."""
    try:
        body: Any = response.json()
        text = str(body.get("message", response.text))
    except ValueError:
        text = response.text
    return " ".join(text.split())[:300]
