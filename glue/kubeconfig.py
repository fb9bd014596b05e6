"""The Kubernetes API through a kubeconfig, as ``kubectl`` reads it: the one reader of the
``kubeai`` CLI (``--kubeconfig``/``--kube-context``) and of the lifecycle controller outside a pod.

``connect(kubeconfig, context)`` resolves one context and returns a ``KubeConnection`` (server,
namespace, TLS material and credentials) whose ``client()`` is an ``httpx.Client`` on the
apiserver; its fields also fill other clients' settings (the controller's kopf login).

Which file: ``--kubeconfig``, else ``KUBECONFIG`` (a ``:``-separated list; for each name the
first file that defines it wins, and the first ``current-context`` set), else
``~/.kube/config``. Which context: ``--kube-context``, else ``current-context``.

Supported credentials (the ones a platform hands out for a CLI): ``token``, ``tokenFile``
(re-read at every request: projected tokens rotate), ``client-certificate``/``client-key``
and their ``-data`` forms; TLS from ``certificate-authority``/``-data`` or
``insecure-skip-tls-verify``. ``exec`` and ``auth-provider`` users are refused with a message
saying so (run ``kubectl`` to print a token, then use a ``token`` user). Relative paths are
relative to the file that names them.

Errors are ``KubeconfigError`` naming the file and key (``users[alice].user.tokenFile``), never
a credential's value.
"""

from __future__ import annotations

import base64
import binascii
import os
import ssl
import tempfile
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

DEFAULT_KUBECONFIG = "~/.kube/config"


class KubeconfigError(ValueError):
    """The kubeconfig cannot be used; the message names the file and the key."""


class _TokenFileAuth(httpx.Auth):
    """Bearer token read from a file at every request."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add ``Authorization: Bearer <file content>``."""
        token = self._path.read_text().strip()
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


#: A certificate or key: a file, or PEM bytes (a kubeconfig's ``-data`` form, decoded).
Pem = Path | bytes


@dataclass(frozen=True)
class KubeConnection:
    """A resolved kubeconfig context (or the pod's ServiceAccount, ``glue.controller.kube``).

    Attributes:
        server: the apiserver URL.
        context: the context's name.
        namespace: the context's namespace, or None when it names none.
        verify: an ``ssl.SSLContext`` (CA and client certificate loaded) or False.
        token: a bearer token (kept out of ``repr``), or None.
        token_file: a file holding the bearer token (re-read at every request), or None.
        ca: the apiserver's CA (file or PEM), None for the system's CAs.
        insecure: TLS is not verified (``insecure-skip-tls-verify``).
        client_cert, client_key: the client certificate and its key (file or PEM), or None.
    """

    server: str
    context: str
    namespace: str | None
    verify: ssl.SSLContext | bool
    token: str | None = field(default=None, repr=False)
    token_file: Path | None = None
    ca: Pem | None = None
    insecure: bool = False
    client_cert: Pem | None = None
    client_key: Pem | None = field(default=None, repr=False)

    def client(self, *, timeout: float = 30.0, trust_env: bool = True) -> httpx.Client:
        """An ``httpx.Client`` on the apiserver with the context's credentials (``timeout``
        seconds per request; ``trust_env=False`` ignores proxy variables, as kopf does)."""
        auth: httpx.Auth | None = None
        if self.token_file is not None:
            auth = _TokenFileAuth(self.token_file)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        return httpx.Client(
            base_url=self.server.rstrip("/"),
            verify=self.verify,
            auth=auth,
            headers=headers,
            timeout=timeout,
            trust_env=trust_env,
        )


def kubeconfig_paths(path: Path | None, env: Mapping[str, str] | None = None) -> list[Path]:
    """The files read: ``path``, else the ``KUBECONFIG`` list, else ``~/.kube/config``."""
    env = os.environ if env is None else env
    if path is not None:
        return [path.expanduser()]
    listed = [Path(p).expanduser() for p in env.get("KUBECONFIG", "").split(os.pathsep) if p]
    return listed or [Path(DEFAULT_KUBECONFIG).expanduser()]


def _load(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise KubeconfigError(f"cannot read kubeconfig {path}: {exc}") from None
    except yaml.YAMLError:
        raise KubeconfigError(f"kubeconfig {path} is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KubeconfigError(f"kubeconfig {path}: not a mapping")
    return data


def _entries(
    files: list[tuple[Path, dict[str, Any]]], section: str
) -> dict[str, tuple[Path, dict[str, Any]]]:
    """``name -> (file, entry)`` of ``section`` (``clusters``...), the first file winning."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path, data in files:
        for index, item in enumerate(data.get(section) or []):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise KubeconfigError(f"kubeconfig {path}: {section}[{index}] has no name")
            found.setdefault(item["name"], (path, item))
    return found


def _data(value: Any, where: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError):
        raise KubeconfigError(f"{where}: not base64") from None


def _file(base: Path, value: Any, where: str) -> Path:
    path = (base.parent / Path(str(value)).expanduser()).resolve()
    if not path.is_file():
        raise KubeconfigError(f"{where} {path}: no such file")
    return path


@dataclass(frozen=True)
class _Tls:
    """A context's TLS material (``KubeConnection``'s fields of the same names)."""

    verify: ssl.SSLContext | bool
    ca: Pem | None = None
    insecure: bool = False
    client_cert: Pem | None = None
    client_key: Pem | None = None


def _tls(cluster: tuple[Path, dict[str, Any], str], user: tuple[Path, dict[str, Any], str]) -> _Tls:
    """The TLS of a context: ``verify`` False, or an SSLContext with CA and client cert, and
    the material it was made of. ``cluster``/``user``: (file naming it, its mapping, its key
    path for messages)."""
    cluster_path, cluster_map, where_cluster = cluster
    user_path, user_map, where_user = user
    if cluster_map.get("insecure-skip-tls-verify"):
        return _Tls(verify=False, insecure=True)
    context = ssl.create_default_context()
    ca: Pem | None = None
    if "certificate-authority-data" in cluster_map:
        ca = _data(
            cluster_map["certificate-authority-data"], f"{where_cluster}.certificate-authority-data"
        )
        try:
            context.load_verify_locations(cadata=ca.decode())
        except (ssl.SSLError, ValueError, UnicodeDecodeError):
            raise KubeconfigError(f"{where_cluster}.certificate-authority-data: no PEM") from None
    elif "certificate-authority" in cluster_map:
        ca = _file(
            cluster_path,
            cluster_map["certificate-authority"],
            f"{where_cluster}.certificate-authority",
        )
        context.load_verify_locations(cafile=str(ca))
    cert: Pem | None = None
    key: Pem | None = None
    if "client-certificate-data" in user_map:
        cert = _data(user_map["client-certificate-data"], f"{where_user}.client-certificate-data")
    elif "client-certificate" in user_map:
        cert = _file(user_path, user_map["client-certificate"], f"{where_user}.client-certificate")
    if "client-key-data" in user_map:
        key = _data(user_map["client-key-data"], f"{where_user}.client-key-data")
    elif "client-key" in user_map:
        key = _file(user_path, user_map["client-key"], f"{where_user}.client-key")
    if (cert is None) != (key is None):
        raise KubeconfigError(f"{where_user}: a client certificate needs its key, and back")
    if cert is not None and key is not None:
        _load_client_cert(context, cert, key, where_user)
    return _Tls(verify=context, ca=ca, client_cert=cert, client_key=key)


def _load_client_cert(
    context: ssl.SSLContext, cert: bytes | Path, key: bytes | Path, where: str
) -> None:
    """Load the client certificate into ``context`` (``-data`` forms through private temporary
    files, removed at once: ``ssl`` reads certificates from files only)."""
    with tempfile.TemporaryDirectory(prefix="kubeai-kubeconfig-") as folder:
        paths = []
        for name, value in (("cert.pem", cert), ("key.pem", key)):
            if isinstance(value, Path):
                paths.append(str(value))
                continue
            target = Path(folder) / name
            descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as out:
                out.write(value)
            paths.append(str(target))
        try:
            context.load_cert_chain(paths[0], paths[1])
        except ssl.SSLError:
            raise KubeconfigError(f"{where}: the client certificate and key do not load") from None


def connect(
    kubeconfig: Path | None = None,
    context: str | None = None,
    env: Mapping[str, str] | None = None,
) -> KubeConnection:
    """The connection of ``context`` (default: ``current-context``) of the kubeconfig (module
    docstring). Raises ``KubeconfigError`` naming the file and key when something is missing or
    unsupported."""
    paths = kubeconfig_paths(kubeconfig, env)
    files = [(p, _load(p)) for p in paths]
    shown = ", ".join(str(p) for p in paths)
    if not any(data for _, data in files):
        raise KubeconfigError(f"no kubeconfig at {shown} (use --kubeconfig or KUBECONFIG)")
    name = context or next(
        (d["current-context"] for _, d in files if d.get("current-context")), None
    )
    if not name:
        raise KubeconfigError(f"{shown}: no current-context; give --kube-context")
    contexts = _entries(files, "contexts")
    if name not in contexts:
        raise KubeconfigError(f"{shown}: no context {name!r} (contexts: {', '.join(contexts)})")
    path, entry = contexts[name]
    spec = entry.get("context") or {}
    clusters, users = _entries(files, "clusters"), _entries(files, "users")
    cluster_name, user_name = spec.get("cluster"), spec.get("user")
    if cluster_name not in clusters:
        raise KubeconfigError(f"{path}: contexts[{name}].context.cluster {cluster_name!r} unknown")
    cluster_path, cluster_entry = clusters[cluster_name]
    cluster = cluster_entry.get("cluster") or {}
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith(("https://", "http://")):
        raise KubeconfigError(f"{cluster_path}: clusters[{cluster_name}].cluster.server missing")
    user: dict[str, Any] = {}
    user_path = path
    if user_name is not None:
        if user_name not in users:
            raise KubeconfigError(f"{path}: contexts[{name}].context.user {user_name!r} unknown")
        user_path, user_entry = users[user_name]
        user = user_entry.get("user") or {}
    where_user = f"{user_path}: users[{user_name}].user"
    for unsupported in ("exec", "auth-provider", "username"):
        if unsupported in user:
            raise KubeconfigError(
                f"{where_user}.{unsupported}: not supported by kubeai; use a user with token, "
                "tokenFile or a client certificate (e.g. a token kubectl prints)"
            )
    where_cluster = f"{cluster_path}: clusters[{cluster_name}].cluster"
    tls = _tls((cluster_path, cluster, where_cluster), (user_path, user, where_user))
    token_file = None
    if "tokenFile" in user:
        token_file = _file(user_path, user["tokenFile"], f"{where_user}.tokenFile")
    token = str(user["token"]).strip() if user.get("token") else None
    return KubeConnection(
        server=server,
        context=name,
        namespace=spec.get("namespace") or None,
        verify=tls.verify,
        token=token,
        token_file=token_file,
        ca=tls.ca,
        insecure=tls.insecure,
        client_cert=tls.client_cert,
        client_key=tls.client_key,
    )
