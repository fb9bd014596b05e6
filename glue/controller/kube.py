"""The controller's own Kubernetes API access (besides kopf's watches): its connection, leases
and lookups.

``discover()`` finds the credentials as kopf's minimal login does: the pod's ServiceAccount
(token re-read before every request, since the kubelet rotates it), else the kubeconfig
(``$KUBECONFIG``, else ``~/.kube/config``; its current context), read by ``glue.kubeconfig``,
the reader the CLI uses too. Either way the result is a ``glue.kubeconfig.KubeConnection``:
``client()`` for the controller's own calls, its fields for kopf's login (``kopf_login``).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import httpx
import kopf

from glue.kubeconfig import KubeconfigError, KubeConnection, connect

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
#: Seconds per request of the controller's own apiserver calls.
TIMEOUT = 10.0


def in_cluster(directory: Path = SERVICE_ACCOUNT_DIR) -> KubeConnection | None:
    """The pod's ServiceAccount connection (``KUBERNETES_SERVICE_HOST``/``_PORT``, the token
    and CA under ``directory``), or None outside a pod."""
    token = directory / "token"
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not (token.is_file() and host):
        return None
    server = f"https://{'[' + host + ']' if ':' in host else host}:{port}"
    ca = directory / "ca.crt"
    namespace_file = directory / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else None
    return KubeConnection(
        server=server,
        context="in-cluster",
        namespace=namespace or None,
        verify=ssl.create_default_context(cafile=str(ca)),
        token_file=token,
        ca=ca,
    )


def discover() -> KubeConnection:
    """In-cluster ServiceAccount credentials, else the kubeconfig's current context.

    Raises ``KubeconfigError`` naming the file and key when neither can be used.
    """
    found = in_cluster()
    if found is not None:
        return found
    try:
        return connect()
    except KubeconfigError as exc:
        raise KubeconfigError(f"no ServiceAccount token in the pod, and {exc}") from None


def client(connection: KubeConnection) -> httpx.Client:
    """A client for the controller's own calls: ``TIMEOUT`` seconds per request, proxy
    variables ignored (as kopf's own client does)."""
    return connection.client(timeout=TIMEOUT, trust_env=False)


def kopf_login(connection: KubeConnection) -> kopf.ConnectionInfo:
    """kopf's credentials for ``connection`` (a token file is read now: kopf logs in again
    when the apiserver refuses the old token)."""

    def path_or_data(value: Path | bytes | None) -> dict[str, Any]:
        if isinstance(value, Path):
            return {"path": str(value)}
        return {"data": value} if value is not None else {}

    ca = path_or_data(connection.ca)
    cert = path_or_data(connection.client_cert)
    key = path_or_data(connection.client_key)
    token = connection.token_file.read_text().strip() if connection.token_file else None
    return kopf.ConnectionInfo(
        server=connection.server,
        ca_path=ca.get("path"),
        ca_data=ca.get("data"),
        insecure=connection.insecure or None,
        token=token or connection.token,
        certificate_path=cert.get("path"),
        certificate_data=cert.get("data"),
        private_key_path=key.get("path"),
        private_key_data=key.get("data"),
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
