"""Start and stop a real control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and KWOK, from the binaries ``infra.controlplane.build`` made.

Usage::

    with ControlPlane(workdir, binaries) as plane:      # refuses outside a loopback-only netns
        plane.add_nodes(stack_nodes(config.node_pools))
        with plane.client() as api:                    # httpx.Client, admin token, our CA
            api.post("/apis/apps/v1/namespaces/default/deployments", json=...)

Layout of ``workdir``: ``pki/`` (CA, serving cert, service-account keys), ``tokens.csv``,
``kubeconfig`` (admin, ``system:masters``), ``etcd/`` (data), ``kwok/`` (KWOK's work folder, so it
never reads ``~/.kwok``), ``logs/<process>.log``.

Everything listens on 127.0.0.1 only. KWOK gets only the admin kubeconfig: it reads no config
of its own (``KWOK_WORKDIR`` points into ``workdir``, so ``~/.kwok/kwok.yaml`` is never loaded),
serves nothing (no ``--server-address``/``--node-port``), exports no traces, and writes the
node IP 127.0.0.1 and pod IPs from ``POD_CIDR`` into object status only.

Every process runs in its own process group with a minimal environment (no proxy variables, HOME
is ``workdir``) and, where util-linux ``setpriv`` exists, dies with its parent. ``stop`` sends
SIGTERM to each group in reverse start order and SIGKILL after a grace period; it runs on
``__exit__`` (also on an exception or Ctrl-C), at interpreter exit, and on SIGTERM/SIGHUP while
the plane is entered from the main thread.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import yaml

from glue.signals import raise_stop
from infra.controlplane.netns import PROC_NET, require_loopback_only
from infra.controlplane.nodes import KWOK_SELECTOR
from infra.controlplane.pki import Pki, write_pki

HOST = "127.0.0.1"
ADMIN_USER = "kubeai-admin"
#: Name of the cluster and of the default context in the plane's kubeconfig.
CONTEXT = "kubeai-local"
SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
#: Pod IPs KWOK hands out (status only: nothing listens there, and the netns has no route).
POD_CIDR = "10.244.0.1/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
#: Controllers that need a cloud or real node networking.
CONTROLLERS = "*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle"
#: Node lease duration KWOK keeps (a kubelet's default).
NODE_LEASE_S = 40
_STOP_GRACE_S = 10.0
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ")


class ControlPlaneError(RuntimeError):
    """A process exited or did not become ready; the message carries its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """One running component: its ``Popen``, argv and log file."""

    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes]

    def tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of its log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def peak_rss_bytes(self) -> int:
        """Its peak resident set size so far (``VmHWM``), 0 once it has exited."""
        try:
            status = Path(f"/proc/{self.popen.pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0


@dataclass
class ControlPlane:
    """A control plane under ``workdir`` run from ``binaries`` (``{"etcd": path, ...}``).

    ``start`` returns once ``/readyz`` answers ok, the controller manager and scheduler report
    healthy and the ``default`` service account exists; ``timeout`` (s) bounds each wait.
    Raises ``NotIsolatedError`` outside a loopback-only network namespace and ``ControlPlaneError``
    when a component fails.
    """

    workdir: Path
    binaries: Mapping[str, Path]
    timeout: float = 120.0
    #: The namespace view checked before anything starts (``/proc/self/net``; tests pass a fake).
    proc_net: Path = PROC_NET
    log: Callable[[str], None] = field(default=lambda _msg: None, repr=False)
    processes: list[Process] = field(default_factory=list, init=False, repr=False)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), init=False, repr=False)
    apiserver_port: int = field(default=0, init=False)
    started_at: float = field(default=0.0, init=False)
    ready_after_s: float = field(default=0.0, init=False)
    _pki: Pki | None = field(default=None, init=False, repr=False)
    _previous_handlers: dict[int, Any] = field(default_factory=dict, init=False, repr=False)

    # -- paths and clients --------------------------------------------------------------------

    @property
    def server(self) -> str:
        """The apiserver URL, ``https://127.0.0.1:<port>``."""
        return f"https://{HOST}:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (token in ``system:masters``, our CA)."""
        return self.workdir / "kubeconfig"

    @property
    def ca_cert(self) -> Path:
        """The CA that signed every serving certificate."""
        return self.pki.ca_cert

    @property
    def pki(self) -> Pki:
        """Keys and certificates (after ``start``)."""
        if self._pki is None:
            raise ControlPlaneError("the control plane has not been started")
        return self._pki

    @property
    def logs_dir(self) -> Path:
        """Folder of ``<process>.log`` files."""
        return self.workdir / "logs"

    def client(self, *, timeout: float = 30.0) -> httpx.Client:
        """An ``httpx.Client`` on the apiserver as admin (environment proxies ignored)."""
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        return httpx.Client(
            base_url=self.server,
            verify=context,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=timeout,
            trust_env=False,
        )

    def peak_rss_bytes(self) -> dict[str, int]:
        """Peak RSS of each running process (``VmHWM``), by process name."""
        return {p.name: p.peak_rss_bytes() for p in self.processes}

    # -- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> ControlPlane:
        self._install_signal_handlers()
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Write the PKI and kubeconfig, start every process in order, wait until ready."""
        require_loopback_only(self.proc_net)
        missing = [n for n in _COMPONENTS if not Path(self.binaries.get(n, "")).is_file()]
        if missing:
            raise ControlPlaneError(f"binaries missing: {missing} (run `make controlplane`)")
        atexit.register(self.stop)
        self.started_at = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        self._pki = write_pki(self.workdir / "pki")
        etcd_port, peer_port = free_port(), free_port()
        self.apiserver_port = free_port()
        self._write_credentials()

        self._spawn("etcd", self._etcd_args(etcd_port, peer_port))
        self._wait(f"http://{HOST}:{etcd_port}/health", "etcd", verify=False)
        self._spawn("kube-apiserver", self._apiserver_args(etcd_port))
        self._wait(f"{self.server}/readyz", "kube-apiserver", authorized=True)
        self.ready_after_s = time.monotonic() - self.started_at
        self.log(f"kube-apiserver ready after {self.ready_after_s:.1f} s")
        health: dict[str, int] = {}
        for name in ("kube-controller-manager", "kube-scheduler"):
            health[name] = free_port()
            self._spawn(name, self._component_args(name, health[name]))
        self._spawn("kwok", self._kwok_args())
        for name, port in health.items():
            self._wait(f"https://{HOST}:{port}/healthz", name)
        self._wait_for(
            lambda api: api.get("/api/v1/namespaces/default/serviceaccounts/default").is_success,
            "the default service account (kube-controller-manager's token controllers)",
        )
        self.log(f"control plane up after {time.monotonic() - self.started_at:.1f} s")

    def stop(self) -> None:
        """Stop every process (SIGTERM to its group, SIGKILL after a grace period); idempotent."""
        for process in reversed(self.processes):
            _signal_group(process.popen, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE_S
        for process in reversed(self.processes):
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process.popen, signal.SIGKILL)
                process.popen.wait()
        self.processes.clear()
        atexit.unregister(self.stop)
        self._restore_signal_handlers()

    # -- nodes --------------------------------------------------------------------------------

    def add_nodes(self, manifests: Iterable[dict[str, Any]], *, wait: bool = True) -> list[str]:
        """Create KWOK Node objects; with ``wait``, return once every one is Ready and schedulable.

        Returns the node names; raises ``ControlPlaneError`` when the apiserver refuses one.
        """
        names: list[str] = []
        with self.client() as api:
            for manifest in manifests:
                response = api.post("/api/v1/nodes", json=manifest)
                if not response.is_success:
                    raise ControlPlaneError(
                        f"creating node {manifest['metadata']['name']}: {response.text}"
                    )
                names.append(manifest["metadata"]["name"])
        if wait:
            wanted = set(names)
            self._wait_for(
                lambda api: wanted <= _ready_nodes(api.get("/api/v1/nodes").json()),
                f"{len(names)} KWOK node(s) Ready",
            )
        return names

    def write_kubeconfig(self, path: Path, contexts: Sequence[str] = (CONTEXT,)) -> Path:
        """Write the admin kubeconfig (mode 0600) to ``path`` with one context per name in
        ``contexts``, all on this plane, the first one current; returns ``path``.

        Stack files name the context of the cluster they were written for (``local`` names
        ``kind-kubeai``); a kubeconfig holding that name lets them run here unchanged. Raises
        ``ValueError`` for no context names.
        """
        if not contexts:
            raise ValueError("at least one context name is needed")
        names = list(dict.fromkeys(contexts))
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT,
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_cert)},
                }
            ],
            "users": [{"name": ADMIN_USER, "user": {"token": self.token}}],
            "contexts": [
                {"name": name, "context": {"cluster": CONTEXT, "user": ADMIN_USER}}
                for name in names
            ],
            "current-context": names[0],
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(config, handle, sort_keys=False)
        return path

    # -- internals ----------------------------------------------------------------------------

    def _write_credentials(self) -> None:
        (self.workdir / "tokens.csv").write_text(
            f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n'
        )
        os.chmod(self.workdir / "tokens.csv", 0o600)
        self.write_kubeconfig(self.kubeconfig)

    def _etcd_args(self, port: int, peer_port: int) -> list[str]:
        client, peer = f"http://{HOST}:{port}", f"http://{HOST}:{peer_port}"
        return [
            "--name=default",
            f"--data-dir={self.workdir / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_args(self, etcd_port: int) -> list[str]:
        pki = self.pki
        return [
            f"--etcd-servers=http://{HOST}:{etcd_port}",
            f"--bind-address={HOST}",
            f"--advertise-address={HOST}",
            f"--secure-port={self.apiserver_port}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            f"--service-account-key-file={pki.service_account_public_key}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--profiling=false",
        ]

    def _component_args(self, name: str, port: int) -> list[str]:
        pki, kubeconfig = self.pki, str(self.kubeconfig)
        args = [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--bind-address={HOST}",
            f"--secure-port={port}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            "--leader-elect=false",
            "--profiling=false",
        ]
        if name == "kube-controller-manager":
            args += [
                f"--controllers={CONTROLLERS}",
                f"--service-account-private-key-file={pki.service_account_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--use-service-account-credentials=false",
            ]
        return args

    def _kwok_args(self) -> list[str]:
        return [
            f"--kubeconfig={self.kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_SELECTOR}",
            f"--cidr={POD_CIDR}",
            f"--node-ip={HOST}",
            # Heartbeat through node Leases as a kubelet does (40 s, renewed well within it);
            # without them KWOK refreshes node status only about once a minute, past the node
            # controller's grace period, so nodes (and their pods' Ready) flap under load.
            f"--node-lease-duration-seconds={NODE_LEASE_S}",
        ]

    def _env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        (self.workdir / "kwok").mkdir(exist_ok=True)
        return {**env, "HOME": str(self.workdir), "KWOK_WORKDIR": str(self.workdir / "kwok")}

    def _spawn(self, name: str, args: list[str]) -> None:
        argv = [str(self.binaries[name]), *args]
        setpriv = shutil.which("setpriv")
        prefix = [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
        log = self.logs_dir / f"{name}.log"
        with open(log, "ab") as handle:
            popen = subprocess.Popen(
                [*prefix, *argv],
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=self._env(),
                cwd=self.workdir,
                start_new_session=True,
            )
        self.processes.append(Process(name, argv, log, popen))
        self.log(f"started {name} (pid {popen.pid}), log {log}")

    def _check_alive(self) -> None:
        for process in self.processes:
            code = process.popen.poll()
            if code is not None:
                raise ControlPlaneError(
                    f"{process.name} exited with status {code}; last lines of {process.log}:\n"
                    f"{process.tail()}"
                )

    def _wait(self, url: str, what: str, *, verify: bool = True, authorized: bool = False) -> None:
        context: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=str(self.ca_cert)) if verify else False
        )
        headers = {"Authorization": f"Bearer {self.token}"} if authorized else {}
        with httpx.Client(verify=context, headers=headers, timeout=2.0, trust_env=False) as http:
            self._poll(lambda: _ok(http, url), f"{what} ({url})")

    def _wait_for(self, ready: Callable[[httpx.Client], bool], what: str) -> None:
        with self.client(timeout=5.0) as api:
            self._poll(lambda: ready(api), what)

    def _poll(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            self._check_alive()
            try:
                if ready():
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                logs = "\n".join(f"--- {p.name}:\n{p.tail(10)}" for p in self.processes)
                raise ControlPlaneError(
                    f"timed out after {self.timeout:.0f} s waiting for {what}\n{logs}"
                )
            time.sleep(0.1)

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGHUP):
            self._previous_handlers[signum] = signal.signal(signum, raise_stop)

    def _restore_signal_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()


#: Prefix of the taints the node lifecycle controller puts on nodes that are not (yet) Ready.
_NODE_CONDITION_TAINT = "node.kubernetes.io/"
_COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")


def _signal_group(popen: subprocess.Popen[bytes], signum: int) -> None:
    if popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signum)


def _ok(http: httpx.Client, url: str) -> bool:
    """Whether a health endpoint answers 200 ``ok`` (Kubernetes) or ``"health":"true"`` (etcd)."""
    response = http.get(url)
    body = response.text.strip()
    return response.status_code == 200 and (body == "ok" or '"health":"true"' in body)


def _ready_nodes(node_list: dict[str, Any]) -> set[str]:
    """Names of nodes in a NodeList that are Ready and schedulable.

    Ready: condition ``Ready`` is ``True`` and the node lifecycle controller has removed its
    ``node.kubernetes.io/not-ready`` (or ``unreachable``) taint.
    """
    return {
        item["metadata"]["name"]
        for item in node_list.get("items", [])
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in item.get("status", {}).get("conditions", [])
        )
        and not any(
            t.get("key", "").startswith(_NODE_CONDITION_TAINT)
            for t in item.get("spec", {}).get("taints", [])
        )
    }
