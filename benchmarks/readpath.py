"""The serving agents' read path: desired state and alias resolution vs MLflow's alias GET, and
the time from an alias move to every agent having started the load.

For each backend (SQLite file, PostgreSQL server), our registry (``python -m glue.model_registry
--workers W``) and MLflow 3.17.2 (``mlflow server --workers W``, same W, same database server)
run side by side over fresh databases holding one model with versions and a ``production``
alias; ours also has a service following that alias. The load generator is bombardier (a Go
program pinned by ``tools/loadgen``, built by ``benchmarks.loadgen``: a Python client would eat
one of the two cores), keep-alive connections, fixed duration per row, at 1 and 32 clients:

- ``desired 200``: ``GET /api/v1/teams/bench/services/svc/desired?pod=P`` without a validator:
  the answer's bytes every time (served from each worker's cache after a one-query check of the
  service's generation);
- ``desired 304``: the same with ``If-None-Match`` naming the current ETag (what a polling
  agent sends): 304, no body;
- ``alias``: ``GET /api/v1/teams/bench/models/bench/versions/production`` (alias resolution);
- ``MLflow alias``: ``GET /api/2.0/mlflow/registered-models/alias?name=bench&alias=production``.

**Alias move -> load started.** Then, on SQLite, 8 real serving agents (``python -m
glue.serving_agent``, default long-poll on, ``poll_interval`` 5 s) serve 8 pods of one service
following the alias. Each agent drives a *stub* Triton (a small HTTP server in this process that
answers the repository API: index, load, unload, readiness) instead of a real tritonserver:
8 tritonservers with their Python backend stubs would swamp the 2 cores and measure Triton, not
the read path. The stub speaks HTTP only, so the agents get ``KUBEAI_AGENT_TRITON_GRPC_URL=""``
(repository control over HTTP; the agent's default is Triton's gRPC port 127.0.0.1:8001, where
nothing listens here). The alias is moved ``moves`` times (to a new version each time, once the
agents serve the previous one); for each move the figure is the time from just before the
``PUT`` to the last of the 8 agents' ``load_started`` log lines (their own JSON log timestamps,
same clock).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks import loadgen
from benchmarks.registry import Artifact, make_registry, prepare_artifacts
from benchmarks.support import keeping_partial
from glue.demo.processes import ManagedProcess
from tests.support.postgres import PostgresNotInstalled, PostgresServer

TEAM = "bench"
MODEL = "bench"
SERVICE = "svc"
BACKENDS = ("sqlite", "postgresql")
CLIENTS = (1, 32)
#: Worker processes of each server (both the same; the machine has 2 cores).
WORKERS = 2
AGENTS = 8
#: Goal of issue 12: at 32 clients, at least this many requests/s and at most this p99 (ms).
GOAL_RPS = 2000
GOAL_P99_MS = 20.0
API = f"/api/v1/teams/{TEAM}"


# ---------------------------------------------------------------------------------------------
# seeding


def _version_body(art: Artifact, index: int) -> dict[str, Any]:
    return {
        "artifact_uri": art.uri,
        "manifest": art.manifest,
        "format": "triton-python",
        "signature": art.signature,
        "source": {
            "kind": "PyTorchJob",
            "namespace": TEAM,
            "name": f"train-{index}",
            "uid": f"{MODEL}-{index}-{time.monotonic_ns()}",
        },
    }


def seed_ours(url: str, art: Artifact, *, versions: int = 3) -> str:
    """Model ``bench`` v1..v``versions``, ``production`` -> 1, service ``svc`` following it;
    returns the desired-state ETag of pod ``p1``."""
    with httpx.Client(base_url=url, timeout=60) as http:
        http.post(f"{API}/models", json={"name": MODEL, "task": "x"}).raise_for_status()
        for index in range(versions):
            http.post(f"{API}/models/{MODEL}/versions", json=_version_body(art, index))
        http.put(f"{API}/models/{MODEL}/aliases/production", json={"version": 1}).raise_for_status()
        service = {"name": SERVICE, "assignments": [{"model": MODEL, "alias": "production"}]}
        http.post(f"{API}/services", json=service).raise_for_status()
        answer = http.get(f"{API}/services/{SERVICE}/desired", params={"pod": "p1"})
        answer.raise_for_status()
        return answer.headers["etag"]


def seed_mlflow(url: str) -> None:
    """Registered model ``bench`` with 3 versions and alias ``production`` -> 1."""
    with httpx.Client(base_url=url, timeout=60) as http:
        http.post(
            "/api/2.0/mlflow/registered-models/create", json={"name": MODEL}
        ).raise_for_status()
        for _ in range(3):
            http.post(
                "/api/2.0/mlflow/model-versions/create",
                json={"name": MODEL, "source": f"s3://kubeai-bench/models/{MODEL}/shared"},
            ).raise_for_status()
        http.post(
            "/api/2.0/mlflow/registered-models/alias",
            json={"name": MODEL, "alias": "production", "version": "1"},
        ).raise_for_status()


# ---------------------------------------------------------------------------------------------
# request rates


def _row(backend: str, route: str, server: str, result: loadgen.LoadResult) -> dict[str, Any]:
    return {"backend": backend, "route": route, "server": server, **result.as_dict()}


def measure_backend(
    backend: str,
    *,
    database_url: Callable[[str], str],
    workdir: Path,
    artifacts_root: Path,
    art: dict[str, Artifact],
    seconds: float,
    clients: tuple[int, ...],
    bombardier: Path,
    on_row: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Every request-rate row of one backend (ours and MLflow started, seeded, loaded, stopped)."""
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        servers = {}
        for system in ("kubeai", "mlflow"):
            server = make_registry(
                system,
                database_url=database_url(system),
                workdir=workdir / f"{backend}-{system}",
                artifacts_root=artifacts_root,
                artifacts=art,
                workers=WORKERS,
            )
            server.start()
            stack.callback(server.stop)
            servers[system] = server
        etag = seed_ours(servers["kubeai"].url, art[MODEL])
        seed_mlflow(servers["mlflow"].url)
        ours, theirs = servers["kubeai"].url, servers["mlflow"].url
        targets = [
            ("desired 200", "ours", f"{ours}{API}/services/{SERVICE}/desired?pod=p1", {}),
            (
                "desired 304",
                "ours",
                f"{ours}{API}/services/{SERVICE}/desired?pod=p1",
                {"If-None-Match": etag},
            ),
            ("alias", "ours", f"{ours}{API}/models/{MODEL}/versions/production", {}),
            (
                "alias",
                "MLflow",
                f"{theirs}/api/2.0/mlflow/registered-models/alias?name={MODEL}&alias=production",
                {},
            ),
        ]
        for n_clients in clients:
            for route, server_name, url, headers in targets:
                loadgen.run(
                    url, clients=n_clients, seconds=1, headers=headers, executable=bombardier
                )
                result = loadgen.run(
                    url, clients=n_clients, seconds=seconds, headers=headers, executable=bombardier
                )
                row = _row(backend, route, server_name, result)
                rows.append(row)
                on_row(row)
    return rows


# ---------------------------------------------------------------------------------------------
# stub Triton for the alias-move row


class StubTriton:
    """A loopback HTTP server answering the Triton repository API the agent uses (index, load
    with a ``version_policy``, unload, live and version readiness) from memory: a load makes
    exactly the policy's versions READY at once."""

    def __init__(self) -> None:
        self.loaded: dict[str, set[int]] = {}
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _answer(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                ready = re.fullmatch(r"/v2/models/([^/]+)/versions/(\d+)/ready", self.path)
                if self.path.startswith("/v2/health/"):
                    self._answer(200)
                elif ready:
                    with stub._lock:
                        found = int(ready[2]) in stub.loaded.get(ready[1], set())
                    self._answer(200 if found else 400)
                else:
                    self._answer(404, {"error": "not in the stub"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                control = re.fullmatch(r"/v2/repository/models/([^/]+)/(load|unload)", self.path)
                if self.path == "/v2/repository/index":
                    with stub._lock:
                        index = [
                            {"name": m, "version": str(v), "state": "READY"}
                            for m, versions in stub.loaded.items()
                            for v in sorted(versions)
                        ]
                    self._answer(200, index)
                elif control and control[2] == "load":
                    versions = _policy_versions(body)
                    with stub._lock:
                        stub.loaded[control[1]] = versions
                    self._answer(200, {})
                elif control:
                    with stub._lock:
                        stub.loaded.pop(control[1], None)
                    self._answer(200, {})
                else:
                    self._answer(404, {"error": "not in the stub"})

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> StubTriton:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class _QuietServer(ThreadingHTTPServer):
    """An agent closing its keep-alive connection is no error worth a traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _policy_versions(body: dict[str, Any]) -> set[int]:
    """The versions of a load request's ``config`` override (``version_policy.specific``)."""
    config = json.loads((body.get("parameters") or {}).get("config") or "{}")
    policy = config.get("version_policy") or config.get("versionPolicy") or {}
    return {int(v) for v in (policy.get("specific") or {}).get("versions", [])}


# ---------------------------------------------------------------------------------------------
# alias move -> load started


def _load_started(log: Path, version: int) -> float | None:
    """Epoch seconds of the agent's first ``load_started`` of ``version`` in its JSON log."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if '"load_started"' not in line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("event") == "load_started" and entry.get("version") == version:
            stamp = entry["timestamp"].replace("Z", "+00:00")
            return datetime.fromisoformat(stamp).timestamp()
    return None


@contextmanager
def _agents(
    url: str, workdir: Path, artifacts_root: Path, count: int
) -> Iterator[list[tuple[ManagedProcess, Path]]]:
    with ExitStack() as stack:
        agents = []
        for index in range(count):
            triton = StubTriton().start()
            stack.callback(triton.stop)
            repo = workdir / f"agent-{index}" / "repository"
            repo.mkdir(parents=True)
            log = workdir / f"agent-{index}" / "agent.log"
            process = ManagedProcess(
                f"serving agent {index}",
                [sys.executable, "-m", "glue.serving_agent"],
                log_path=log,
                stop_timeout=15.0,
                env={
                    "KUBEAI_AGENT_REGISTRY_URL": url,
                    "KUBEAI_AGENT_SERVICE": "moves",
                    "KUBEAI_AGENT_POD": f"moves-{index}",
                    "KUBEAI_AGENT_TEAM": TEAM,
                    "KUBEAI_AGENT_TRITON_URL": triton.url,
                    # The stub speaks HTTP only: repository control over HTTP, not gRPC.
                    "KUBEAI_AGENT_TRITON_GRPC_URL": "",
                    "KUBEAI_AGENT_TRITON_METRICS_URL": "",
                    "KUBEAI_AGENT_MODEL_REPOSITORY": str(repo),
                    "KUBEAI_AGENT_ARTIFACTS__LOCAL_ROOT": str(artifacts_root),
                    "KUBEAI_AGENT_POLL_INTERVAL": "5",
                },
            )
            process.start()
            stack.callback(process.stop)
            agents.append((process, log))
        yield agents


def measure_moves(
    *,
    workdir: Path,
    artifacts_root: Path,
    art: dict[str, Artifact],
    moves: int,
    agents: int = AGENTS,
) -> dict[str, Any]:
    """Alias move -> every one of ``agents`` agents logged ``load_started`` (see the module).

    Raises ``TimeoutError`` naming the step when the agents do not get there (their logs are
    below ``workdir / "agents"``)."""
    server = make_registry(
        "kubeai",
        database_url=f"sqlite:///{workdir / 'db' / 'registry.db'}",
        workdir=workdir / "server",
        artifacts_root=artifacts_root,
        artifacts=art,
        workers=WORKERS,
    )
    (workdir / "db").mkdir(parents=True, exist_ok=True)
    server.start()
    try:
        seed_ours(server.url, art[MODEL], versions=moves + 1)
        with httpx.Client(base_url=server.url, timeout=60) as http:
            service = {"name": "moves", "assignments": [{"model": MODEL, "alias": "production"}]}
            http.post(f"{API}/services", json=service).raise_for_status()
            with _agents(server.url, workdir / "agents", artifacts_root, agents) as started:
                logs = [log for _, log in started]
                _wait(lambda: all(_load_started(log, 1) for log in logs), 120, "agents serve v1")
                _wait(lambda: _all_ready(http, 1, agents), 60, "agents report v1 READY")
                spans: list[float] = []
                for version in range(2, moves + 2):
                    moved = time.time()
                    http.put(
                        f"{API}/models/{MODEL}/aliases/production", json={"version": version}
                    ).raise_for_status()
                    _wait(
                        lambda v=version: all(_load_started(log, v) for log in logs),  # type: ignore[misc]
                        60,
                        f"agents start loading v{version}",
                    )
                    last = max(_load_started(log, version) or 0.0 for log in logs)
                    spans.append((last - moved) * 1000)
                    _wait(
                        lambda v=version: _all_ready(http, v, agents),  # type: ignore[misc]
                        60,
                        f"agents report v{version}",
                    )
    finally:
        server.stop()
    values = np.array(spans)
    return {
        "agents": agents,
        "moves": moves,
        "poll_interval_s": 5.0,
        "all_agents_started_ms": {
            "p50": round(float(np.percentile(values, 50)), 1),
            "p99": round(float(np.percentile(values, 99)), 1),
            "max": round(float(values.max()), 1),
        },
        "per_move_ms": [round(v, 1) for v in spans],
    }


def _all_ready(http: httpx.Client, version: int, agents: int) -> bool:
    service = http.get(f"{API}/services/moves").json()
    ready = {
        o["pod"] for o in service["observed"] if o["version"] == version and o["state"] == "READY"
    }
    return len(ready) == agents


def _wait(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(0.01)


# ---------------------------------------------------------------------------------------------
# the benchmark


def run_readpath_benchmark(
    *,
    workdir: Path,
    seconds: float = 5.0,
    moves: int = 10,
    clients: tuple[int, ...] = CLIENTS,
    backends: tuple[str, ...] = BACKENDS,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Request-rate rows per backend and route, then the alias-move row; see the module.

    A backend that cannot run here (PostgreSQL not installed) is listed in ``skipped``.
    Raises ``benchmarks.support.BenchmarkFailed`` when a step fails (``infra.gobuild.BuildError``
    when bombardier cannot be built, a ``TimeoutError`` when the agents do not load, ...): its
    ``partial`` is this result with every row measured before and without ``alias_move``.
    """
    load_at_start = [round(v, 2) for v in os.getloadavg()]
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    result: dict[str, Any] = {
        "workers": WORKERS,
        "seconds_per_row": seconds,
        "clients": list(clients),
        "load_generator": f"bombardier {loadgen.BOMBARDIER_VERSION}",
        "postgresql": None,
        "goal": {"clients": 32, "rps_at_least": GOAL_RPS, "p99_ms_at_most": GOAL_P99_MS},
        "rows": rows,
        "skipped": skipped,
        "notes": [
            f"Both servers run {WORKERS} worker processes over the same database server.",
            "desired 200 sends no validator; desired 304 sends the current ETag (what a "
            "polling agent sends); MLflow's alias GET has no conditional form.",
            "Alias move: 8 real serving agents against stub Tritons (8 real tritonservers would "
            "swamp the 2 cores); time from the PUT to the last agent's load_started log line.",
        ],
    }
    report = on_row or (lambda row: None)

    def record(row: dict[str, Any]) -> None:
        rows.append(row)
        report(row)

    with keeping_partial(result):
        try:
            _measure(result, workdir.resolve(), seconds, moves, clients, backends, record)
        finally:
            result["notes"].append(
                f"Load average (1/5/15 min) at start {load_at_start}, at end "
                f"{[round(v, 2) for v in os.getloadavg()]}: other work on the 2 cores moves the "
                "figures at 32 clients most."
            )
    return result


def _measure(
    result: dict[str, Any],
    workdir: Path,
    seconds: float,
    moves: int,
    clients: tuple[int, ...],
    backends: tuple[str, ...],
    record: Callable[[dict[str, Any]], None],
) -> None:
    """Fill ``result`` (``record`` each row as measured, then ``alias_move``)."""
    shutil.rmtree(workdir, ignore_errors=True)
    artifacts_root = workdir / "artifacts"
    artifacts_root.mkdir(parents=True)
    art = prepare_artifacts(artifacts_root)
    bombardier = loadgen.binary()
    with ExitStack() as stack:
        for backend in backends:
            if backend == "postgresql":
                try:
                    postgres = PostgresServer().start()
                except PostgresNotInstalled as exc:
                    result["skipped"].append({"backend": backend, "reason": str(exc)})
                    continue
                stack.callback(postgres.stop)
                result["postgresql"] = postgres.version
                database_url: Callable[[str], str] = partial(_postgres_url, postgres)
            else:
                database_url = partial(_sqlite_url, workdir)
            measure_backend(
                backend,
                database_url=database_url,
                workdir=workdir,
                artifacts_root=artifacts_root,
                art=art,
                seconds=seconds,
                clients=clients,
                bombardier=bombardier,
                on_row=record,
            )
    result["alias_move"] = measure_moves(
        workdir=workdir / "moves", artifacts_root=artifacts_root, art=art, moves=moves
    )


def _postgres_url(server: PostgresServer, system: str) -> str:
    """A fresh database for ``system``'s server on ``server``."""
    return server.create_database(prefix=f"readpath{system}")


def _sqlite_url(workdir: Path, system: str) -> str:
    """A SQLite file for ``system``'s server below ``workdir``."""
    folder = workdir / f"sqlite-{system}" / "db"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'registry.db'}"
