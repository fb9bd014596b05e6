"""Registration throughput and latency: our registry vs. MLflow's model registry, side by side.

For each backend (SQLite file, PostgreSQL server) and each concurrency (8 and 32 clients), both
registries get a fresh database and a fresh server process, then the same number of model
version registrations over HTTP on loopback:

- ours: ``python -m glue.model_registry --workers N`` (uvicorn, 1 or 4 processes), ``POST
  /api/v1/teams/bench/models/bench/versions`` with the artifact URI, the per-file sha256
  manifest, the signature, metrics, params and the source job (distinct ``source.uid`` per
  registration). The registry reads the artifact's ``config.pbtxt`` and checks the signature
  against it on every registration (one artifact uploaded once, reused with distinct source
  uids).
- MLflow: ``mlflow server --backend-store-uri ...`` (uvicorn, its default worker count unless
  told otherwise), ``POST /api/2.0/mlflow/model-versions/create`` with a source URI, a description
  and the same lineage as tags. MLflow stores the source string and does not read the artifact.

All registrations of one configuration go to ONE model: the contended case, since version
numbers are allocated per model. Both servers use the same database server and driver (SQLite
file; PostgreSQL 15 through psycopg 3). Each client is a thread with its own keep-alive HTTP
connection; a client sends its next request when the previous one answered (closed loop). Every
configuration first registers ``2 x clients`` versions of a separate warm-up model, then the
measured run. Afterwards the model's versions are listed from the server and checked to be
exactly 1..N with no gap or duplicate. Failed registrations are counted, not retried.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore
from glue.demo.loadgen import percentiles_ms
from glue.demo.processes import ManagedProcess
from glue.model_registry.publish import upload_model
from glue.training.digits import CONFIG_TEMPLATE
from glue.triton.server import free_ports
from tests.support.postgres import PostgresNotInstalled, PostgresServer

MODEL = "bench"
WARMUP_MODEL = "warmup"
#: (system, worker processes): ours runs one uvicorn process (its CLI has no worker option);
#: MLflow once with one worker (same process count) and once with its default of 4.
SERVERS = (("kubeai", 1), ("kubeai", 4), ("mlflow", 1), ("mlflow", 4))
BACKENDS = ("sqlite", "postgresql")
CLIENTS = (8, 32)
REQUEST_TIMEOUT = 60.0
STARTUP_TIMEOUT = 180.0


@dataclass(frozen=True)
class Artifact:
    """One uploaded model directory: its URI, manifest (JSON) and signature (JSON)."""

    uri: str
    manifest: dict[str, Any]
    signature: dict[str, Any]


def prepare_artifacts(root: Path) -> dict[str, Artifact]:
    """Upload one Triton model directory per model name (``bench``, ``warmup``) below ``root``."""
    store = ArtifactStore(ArtifactSettings(local_root=root))
    out = {}
    for name in (MODEL, WARMUP_MODEL):
        src = root.parent / "src" / name
        shutil.rmtree(src, ignore_errors=True)
        (src / "1").mkdir(parents=True)
        (src / "config.pbtxt").write_text(CONFIG_TEMPLATE.format(name=name))
        (src / "1" / "model.py").write_text(f"# benchmark model {name}\n")
        uploaded = upload_model(
            store=store, model_dir=src, uri=store.local_uri("models", name, "shared")
        )
        out[name] = Artifact(
            uri=uploaded.artifact_uri,
            manifest=uploaded.manifest.model_dump(mode="json"),
            signature=uploaded.signature.model_dump(mode="json"),
        )
    return out


# ---------------------------------------------------------------------------------------------
# the two registries


@dataclass
class RegistryUnderTest:
    """A registry server process plus how to talk to it (paths, bodies, version listing)."""

    system: str
    label: str
    process: ManagedProcess
    url: str
    ready_path: str
    artifacts: dict[str, Artifact]
    startup_seconds: float = 0.0

    def start(self) -> None:
        """Start the process and wait until it answers ``ready_path`` (bounded)."""
        started = time.monotonic()
        self.process.start()
        self.process.wait_http(self.url + self.ready_path, timeout=STARTUP_TIMEOUT)
        self.startup_seconds = round(time.monotonic() - started, 2)

    def stop(self) -> None:
        """Stop the server and every process it started."""
        self.process.stop()

    # subclass hooks
    def create_model(self, http: httpx.Client, name: str) -> None:
        """Create the registered model ``name``."""
        raise NotImplementedError

    def register(self, http: httpx.Client, model: str, index: int) -> httpx.Response:
        """Register version number ``index`` (0-based) of ``model``; returns the response."""
        raise NotImplementedError

    def version_of(self, response: httpx.Response) -> int:
        """The version number a successful registration response carries."""
        raise NotImplementedError

    def list_versions(self, http: httpx.Client, model: str) -> list[int]:
        """Every version number of ``model`` the server lists."""
        raise NotImplementedError


class KubeaiRegistry(RegistryUnderTest):
    """Ours: ``python -m glue.model_registry`` (FastAPI on uvicorn, ``--workers`` processes)."""

    def create_model(self, http: httpx.Client, name: str) -> None:
        """``POST /api/v1/teams/bench/models``."""
        http.post(
            "/api/v1/teams/bench/models", json={"name": name, "task": "image-classification"}
        ).raise_for_status()

    def register(self, http: httpx.Client, model: str, index: int) -> httpx.Response:
        """``POST /api/v1/teams/bench/models/{model}/versions`` with a distinct source uid."""
        art = self.artifacts[model]
        body = {
            "artifact_uri": art.uri,
            "manifest": art.manifest,
            "format": "triton-python",
            "signature": art.signature,
            "metrics": {"accuracy": 0.97, "f1_macro": 0.97},
            "params": {"algorithm": "svc", "C": "10"},
            "source": {
                "kind": "PyTorchJob",
                "namespace": "bench",
                "name": f"train-{model}-{index}",
                "uid": f"{model}-{index}",
            },
            "description": f"benchmark registration {index}",
        }
        return http.post(f"/api/v1/teams/bench/models/{model}/versions", json=body)

    def version_of(self, response: httpx.Response) -> int:
        """``version`` (int) of the VersionRead body."""
        return int(response.json()["version"])

    def list_versions(self, http: httpx.Client, model: str) -> list[int]:
        """Pages of ``GET /api/v1/teams/bench/models/{model}/versions``."""
        found: list[int] = []
        offset: int | None = 0
        while offset is not None:
            page = http.get(
                f"/api/v1/teams/bench/models/{model}/versions",
                params={"limit": 500, "offset": offset},
            )
            page.raise_for_status()
            data = page.json()
            found += [int(v["version"]) for v in data["items"]]
            offset = data["next_offset"]
        return found


class MlflowRegistry(RegistryUnderTest):
    """MLflow: ``mlflow server`` (FastAPI wrapping the Flask handlers, uvicorn workers)."""

    workers: int = 1

    def start(self) -> None:
        """Start, wait for ``/health``, then until every uvicorn worker finished its startup."""
        started = time.monotonic()
        super().start()
        deadline = started + STARTUP_TIMEOUT
        while self._workers_up() < self.workers:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"only {self._workers_up()} of {self.workers} MLflow workers started within "
                    f"{STARTUP_TIMEOUT:.0f}s; log {self.process.log_path}"
                )
            time.sleep(0.1)
        self.startup_seconds = round(time.monotonic() - started, 2)

    def _workers_up(self) -> int:
        try:
            return self.process.log_path.read_text(errors="replace").count(
                "Application startup complete"
            )
        except OSError:
            return 0

    def create_model(self, http: httpx.Client, name: str) -> None:
        """``POST /api/2.0/mlflow/registered-models/create``."""
        response = http.post("/api/2.0/mlflow/registered-models/create", json={"name": name})
        response.raise_for_status()

    def register(self, http: httpx.Client, model: str, index: int) -> httpx.Response:
        """``POST /api/2.0/mlflow/model-versions/create``; lineage as tags."""
        uid = f"{model}-{index}"
        body = {
            "name": model,
            # MLflow refuses a local path without a run; it only stores this string.
            "source": f"s3://kubeai-bench/models/{model}/shared",
            "description": f"benchmark registration {index}",
            "tags": [
                {"key": "source.kind", "value": "PyTorchJob"},
                {"key": "source.namespace", "value": "bench"},
                {"key": "source.name", "value": f"train-{model}-{index}"},
                {"key": "source.uid", "value": uid},
                {"key": "metric.accuracy", "value": "0.97"},
                {"key": "param.algorithm", "value": "svc"},
            ],
        }
        return http.post("/api/2.0/mlflow/model-versions/create", json=body)

    def version_of(self, response: httpx.Response) -> int:
        """``model_version.version`` (a string in MLflow's JSON)."""
        return int(response.json()["model_version"]["version"])

    def list_versions(self, http: httpx.Client, model: str) -> list[int]:
        """Pages of ``GET /api/2.0/mlflow/model-versions/search?filter=name='...'``."""
        found: list[int] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"filter": f"name='{model}'", "max_results": 1000}
            if token:
                params["page_token"] = token
            page = http.get("/api/2.0/mlflow/model-versions/search", params=params)
            page.raise_for_status()
            data = page.json()
            found += [int(v["version"]) for v in data.get("model_versions", [])]
            token = data.get("next_page_token")
            if not token:
                return found


def make_registry(
    system: str,
    *,
    database_url: str,
    workdir: Path,
    artifacts_root: Path,
    artifacts: dict[str, Artifact],
    workers: int,
) -> RegistryUnderTest:
    """A not yet started server of ``system`` over ``database_url``, logging below ``workdir``."""
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    if system == "kubeai":
        process = ManagedProcess(
            "kubeai registry",
            [
                sys.executable,
                "-m",
                "glue.model_registry",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            log_path=workdir / "server.log",
            stop_timeout=15.0,
            env={
                "KUBEAI_REGISTRY_DATABASE_URL": database_url,
                "KUBEAI_REGISTRY_ARTIFACTS__LOCAL_ROOT": str(artifacts_root),
            },
        )
        label = f"ours ({workers} worker{'s' if workers > 1 else ''})"
        return KubeaiRegistry(system, label, process, url, "/readyz", artifacts)
    if system == "mlflow":
        process = ManagedProcess(
            "mlflow server",
            [
                sys.executable,
                "-m",
                "mlflow",
                "server",
                "--backend-store-uri",
                database_url,
                "--default-artifact-root",
                (workdir / "mlartifacts").as_uri(),
                "--no-serve-artifacts",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            log_path=workdir / "server.log",
            stop_timeout=15.0,
            # The job runner (huey consumers for GenAI jobs) has nothing to do with the registry.
            env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )
        registry = MlflowRegistry(
            system,
            f"MLflow ({workers} worker{'s' if workers > 1 else ''})",
            process,
            url,
            "/health",
            artifacts,
        )
        registry.workers = workers
        return registry
    raise ValueError(f"unknown system {system!r}")


# ---------------------------------------------------------------------------------------------
# driving registrations


@dataclass
class DriveResult:
    """Outcome of ``count`` registrations by ``clients`` closed-loop clients."""

    latencies: list[float] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    not_attempted: int = 0


def drive(
    server: RegistryUnderTest, model: str, *, count: int, clients: int, budget: float
) -> DriveResult:
    """Register ``count`` versions of ``model`` with ``clients`` threads; no new request after
    ``budget`` seconds (the rest is counted as ``not_attempted``)."""
    result = DriveResult()
    lock = threading.Lock()
    counter = itertools.count()
    barrier = threading.Barrier(clients + 1, timeout=60)
    deadline_box: list[float] = []

    def worker() -> None:
        with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as http:
            barrier.wait()
            deadline = deadline_box[0]
            while True:
                with lock:
                    index = next(counter)
                if index >= count:
                    return
                if time.monotonic() > deadline:
                    with lock:
                        result.not_attempted += 1
                    continue
                sent = time.perf_counter()
                try:
                    response = server.register(http, model, index)
                    elapsed = time.perf_counter() - sent
                    if response.is_success:
                        version = server.version_of(response)
                        with lock:
                            result.latencies.append(elapsed)
                            result.versions.append(version)
                    else:
                        with lock:
                            result.errors.append(f"HTTP {response.status_code}: {response.text}")
                except Exception as exc:  # transport error or an unreadable answer
                    with lock:
                        result.errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    deadline_box.append(time.monotonic() + budget)
    result.started = time.perf_counter()
    barrier.wait()
    for thread in threads:
        thread.join(timeout=budget + REQUEST_TIMEOUT + 10)
    result.finished = time.perf_counter()
    return result


def check_versions(listed: list[int], returned: list[int]) -> dict[str, Any]:
    """Whether ``listed`` is exactly 1..N and agrees with the versions the responses returned."""
    top = max(listed, default=0)
    present = set(listed)
    missing = [v for v in range(1, top + 1) if v not in present]
    return {
        "listed": len(listed),
        "max": top,
        "contiguous_1_to_n": sorted(listed) == list(range(1, len(listed) + 1)),
        "missing": missing[:20],
        "missing_count": len(missing),
        "duplicate_numbers_in_responses": len(returned) - len(set(returned)),
        "responses_match_listing": sorted(returned) == sorted(listed),
    }


def _first_errors(errors: list[str], limit: int = 3) -> list[str]:
    seen: dict[str, int] = {}
    for error in errors:
        key = " ".join(error.split())[:240]
        seen[key] = seen.get(key, 0) + 1
    ranked = sorted(seen.items(), key=lambda kv: -kv[1])
    return [f"{n}x {text}" for text, n in ranked[:limit]]


def run_configuration(
    system: str,
    backend: str,
    clients: int,
    *,
    workers: int,
    count: int,
    budget: float,
    database_url: str,
    workdir: Path,
    artifacts_root: Path,
    artifacts: dict[str, Artifact],
) -> dict[str, Any]:
    """One row: start a fresh server on ``database_url``, warm up, measure, verify, stop."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    load_before = round(os.getloadavg()[0], 2)
    server = make_registry(
        system,
        database_url=database_url,
        workdir=workdir,
        artifacts_root=artifacts_root,
        artifacts=artifacts,
        workers=workers,
    )
    with ExitStack() as stack:
        server.start()
        stack.callback(server.stop)
        with httpx.Client(base_url=server.url, timeout=REQUEST_TIMEOUT) as http:
            server.create_model(http, WARMUP_MODEL)
            server.create_model(http, MODEL)
            warm = drive(server, WARMUP_MODEL, count=2 * clients, clients=clients, budget=budget)
            measured = drive(server, MODEL, count=count, clients=clients, budget=budget)
            listed = server.list_versions(http, MODEL)
    wall = measured.finished - measured.started
    ok = len(measured.versions)
    lat = percentiles_ms(measured.latencies)
    return {
        "system": system,
        "server": server.label,
        "workers": workers,
        "backend": backend,
        "clients": clients,
        "models": 1,
        "registrations": count,
        "ok": ok,
        "errors": len(measured.errors),
        "not_attempted": measured.not_attempted,
        "first_errors": _first_errors(measured.errors),
        "warmup_errors": len(warm.errors),
        "wall_seconds": round(wall, 3),
        "registrations_per_second": round(ok / wall, 1) if wall > 0 else None,
        "latency_ms": {
            "p50": lat["p50"],
            "p99": lat["p99"],
            "mean": round(float(np.mean(measured.latencies)) * 1000, 3) if ok else None,
            "max": round(max(measured.latencies) * 1000, 3) if ok else None,
        },
        "versions": check_versions(listed, measured.versions),
        "startup_seconds": server.startup_seconds,
        "load_average_1m_before": load_before,
        "log": str(workdir / "server.log"),
    }


def run_registry_benchmark(
    *,
    workdir: Path,
    count: int,
    clients: tuple[int, ...] = CLIENTS,
    backends: tuple[str, ...] = BACKENDS,
    servers: tuple[tuple[str, int], ...] = SERVERS,
    budget: float = 120.0,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every (backend, clients, server) configuration; returns rows and skipped backends.

    A backend that cannot run here (PostgreSQL not installed) is listed in ``skipped`` with the
    reason. ``on_row`` is called after each configuration (progress output).
    """
    workdir = workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    artifacts_root = workdir / "artifacts"
    artifacts_root.mkdir(parents=True)
    artifacts = prepare_artifacts(artifacts_root)
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    postgres_version = None
    with ExitStack() as stack:
        for backend in backends:
            postgres: PostgresServer | None = None
            if backend == "postgresql":
                try:
                    postgres = PostgresServer().start()
                except PostgresNotInstalled as exc:
                    skipped.append({"backend": backend, "reason": str(exc)})
                    continue
                stack.callback(postgres.stop)
                postgres_version = postgres.version
            for n_clients in clients:
                for system, workers in servers:
                    name = f"{system}-w{workers}-{backend}-c{n_clients}"
                    if postgres is not None:
                        url = postgres.create_database(prefix=system)
                    else:
                        url = f"sqlite:///{workdir / name / 'db' / 'registry.db'}"
                        (workdir / name / "db").mkdir(parents=True, exist_ok=True)
                    row = run_configuration(
                        system,
                        backend,
                        n_clients,
                        workers=workers,
                        count=count,
                        budget=budget,
                        database_url=url,
                        workdir=workdir / name / "server",
                        artifacts_root=artifacts_root,
                        artifacts=artifacts,
                    )
                    rows.append(row)
                    if on_row is not None:
                        on_row(row)
    return {
        "registrations_per_configuration": count,
        "clients": list(clients),
        "one_model_per_configuration": True,
        "postgresql": postgres_version,
        "servers": [{"system": s, "workers": w} for s, w in servers],
        "rows": rows,
        "skipped": skipped,
        "notes": [
            "All registrations of a configuration target ONE model (version numbers are "
            "allocated per model: the contended case).",
            "Fresh database and fresh server process per configuration; 2 x clients warm-up "
            "registrations of a separate model first.",
            "Closed loop: each client thread sends its next request when the previous one "
            "answered; failed registrations are counted, not retried.",
            "Ours reads config.pbtxt from the artifact store and checks the signature on every "
            "registration; MLflow stores the source URI without reading it.",
        ],
    }
