"""An ``httpx.Client`` on the apiserver of a kubeconfig context, for the CLI's cluster commands.

The kubeconfig is ``--kubeconfig``, else the first file of ``$KUBECONFIG``, else
``~/.kube/config``; the context is ``--context``, else its ``current-context``. Supported
credentials: ``token``, ``tokenFile``, ``client-certificate``/``client-key`` (files or
``-data``); the server's CA from ``certificate-authority`` (file or ``-data``),
``insecure-skip-tls-verify`` honoured. Exec and auth-provider plugins are refused with a
``KubeconfigError`` saying so (no library here runs them; ``kubectl`` can mint a token:
``kubectl create token``). kopf's ``login_with_kubeconfig`` reads only ``$KUBECONFIG``'s current
context and no ``tokenFile``, hence this reader. Nothing here prints a credential.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Cluster:
    """Where and how to reach the apiserver: ``server`` URL, TLS ``verify`` (its SSL context,
    with the client certificate if any), ``headers`` (the bearer token), the context's
    ``namespace`` (None: unset)."""

    server: str
    verify: ssl.SSLContext
    headers: dict[str, str]
    namespace: str | None

    def client(self, timeout: float = 30.0) -> httpx.Client:
        """A client on the apiserver (the environment's proxies are not used)."""
        return httpx.Client(
            base_url=self.server,
            verify=self.verify,
            headers=self.headers,
            timeout=timeout,
            trust_env=False,
        )


def _named(config: dict[str, Any], section: str, name: str, path: Path) -> dict[str, Any]:
    for item in config.get(section) or []:
        if isinstance(item, dict) and item.get("name") == name:
            body = item.get(section[:-1]) or {}
            if isinstance(body, dict):
                return body
    raise KubeconfigError(f"{path}: {section} has no entry named {name!r}")


def _file(value: str, base: Path) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else base / candidate


def _materialise(entry: dict[str, Any], key: str, base: Path, where: str) -> str | None:
    """A path holding ``entry[key]`` (a file) or the decoded ``entry[key + '-data']``."""
    if entry.get(f"{key}-data"):
        try:
            data = base64.b64decode(entry[f"{key}-data"], validate=True)
        except ValueError:
            raise KubeconfigError(f"{where}.{key}-data is not base64") from None
        handle = tempfile.NamedTemporaryFile(delete=False, prefix="kubeai-", suffix=".pem")  # noqa: SIM115
        with handle:
            handle.write(data)
        os.chmod(handle.name, 0o600)
        return handle.name
    if entry.get(key):
        path = _file(str(entry[key]), base)
        if not path.is_file():
            raise KubeconfigError(f"{where}.{key}: no such file {path}")
        return str(path)
    return None


def default_path() -> Path:
    """``$KUBECONFIG``'s first file, else ``~/.kube/config``."""
    env = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    return Path(env[0]).expanduser() if env else Path.home() / ".kube" / "config"


def load(path: Path | None = None, context: str | None = None) -> Cluster:
    """The ``Cluster`` of ``context`` (default: current) in ``path`` (default ``default_path``).

    Raises ``KubeconfigError`` naming the file and key for a missing file, context, cluster or
    user, an unsupported credential or an unreadable certificate.
    """
    path = path or default_path()
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise KubeconfigError(f"{path}: cannot read the kubeconfig ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"{path}: not YAML ({exc})") from None
    if not isinstance(config, dict):
        raise KubeconfigError(f"{path}: not a kubeconfig (a mapping with contexts)")
    name = context or config.get("current-context")
    if not name:
        raise KubeconfigError(f"{path}: no current-context; pass --context")
    ctx = _named(config, "contexts", str(name), path)
    cluster = _named(config, "clusters", str(ctx.get("cluster")), path)
    user = _named(config, "users", str(ctx.get("user")), path)
    base = path.parent
    where = f"{path}: users[{ctx.get('user')}].user"
    for plugin in ("exec", "auth-provider"):
        if user.get(plugin):
            raise KubeconfigError(
                f"{where}.{plugin}: credential plugins are not supported; use a context with a "
                "token (e.g. from `kubectl create token`) or a client certificate"
            )
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        raise KubeconfigError(
            f"{path}: clusters[{ctx.get('cluster')}].cluster.server must be https"
        )
    if cluster.get("insecure-skip-tls-verify"):
        verify = ssl.create_default_context()
        verify.check_hostname = False
        verify.verify_mode = ssl.CERT_NONE
    else:
        ca = _materialise(
            cluster, "certificate-authority", base, f"{path}: clusters[{ctx.get('cluster')}]"
        )
        verify = ssl.create_default_context(cafile=ca)
    headers: dict[str, str] = {}
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token_path = _file(str(user["tokenFile"]), base)
        try:
            token = token_path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise KubeconfigError(f"{where}.tokenFile: {exc.strerror}") from None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    cert = _materialise(user, "client-certificate", base, where)
    key = _materialise(user, "client-key", base, where)
    if cert:
        try:
            verify.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise KubeconfigError(f"{where}.client-certificate: {exc}") from None
    namespace = ctx.get("namespace")
    return Cluster(server.rstrip("/"), verify, headers, str(namespace) if namespace else None)
