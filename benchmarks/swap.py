"""Hot swap under load vs. a restart rollout done right, same model versions, one run.

Both scenarios serve the digits classifier trained twice here (v1: logistic regression, v2: SVC,
the demo's hyperparameters) as Triton python-backend models, and both run the same closed-loop
load generator (``clients`` threads, batches of ``batch`` rows) during the rollout:

- **hot swap**: one tritonserver + serving agent + registry (SQLite). ``production`` moves
  v1 -> v2 in the registry; the agent (poll interval ``AGENT_POLL`` s) downloads v2, loads it
  beside v1, confirms READY and unloads v1. Rollout start = the alias move.
- **restart rollout done right**: tritonserver A serves v1. Rollout start = launching
  tritonserver B with v2; once B reports v2 READY the load generator's target is switched to B
  (workers read the URL from a shared holder before every request and close their connection to
  A), requests in flight to A are drained, then A is stopped.

Figures per scenario: requests sent, failed requests, time from the rollout start until every
request gets v2 (``summarize_swap``), latency p50/p99 (whole run and per phase), and extra peak
memory: the RSS of every tritonserver process tree (server + python backend stubs) sampled every
~50 ms, peak during the rollout minus the mean of the second before it.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks.support import BenchmarkSkipped, RssSampler, mib
from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore
from glue.demo.loadgen import LoadGenerator, Sample, evaluate, infer_once, percentiles_ms
from glue.demo.loadgen import summarize_swap as _summarize_swap
from glue.demo.processes import ChildProcesses, start_registry, start_serving
from glue.demo.runner import V1, V2
from glue.model_registry import schemas
from glue.model_registry.client import RegistryClient
from glue.model_registry.publish import publish_model
from glue.training.datasets import DigitsSplit, make_digits_split
from glue.training.digits import parse_params, train_and_evaluate, write_model_directory
from glue.triton.repository import TritonRepository
from glue.triton.server import (
    TritonServerError,
    TritonServerProcess,
    UnsupportedPlatform,
    find_pytriton_install,
    free_ports,
)

MODEL = "digits"
SERVICE = "digits"
TEAM = "bench"
POD = "digits-bench-0"
AGENT_POLL = 0.5
ROLLOUT_TIMEOUT = 90.0
MAX_LOAD_SECONDS = 300.0


# ---------------------------------------------------------------------------------------------
# a load generator whose target can be switched mid-run


class SwitchableTarget:
    """The URL the load workers send to, read before every request; counts requests in flight."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._inflight: dict[str, int] = {}

    @property
    def url(self) -> str:
        """The current target URL."""
        with self._lock:
            return self._url

    def switch(self, url: str) -> None:
        """Send every request from now on to ``url``."""
        with self._lock:
            self._url = url

    def begin(self) -> str:
        """A worker is about to send: returns the URL to use and counts it in flight."""
        with self._lock:
            self._inflight[self._url] = self._inflight.get(self._url, 0) + 1
            return self._url

    def end(self, url: str) -> None:
        """A request to ``url`` finished."""
        with self._lock:
            self._inflight[url] -= 1

    def inflight(self, url: str) -> int:
        """Requests to ``url`` not answered yet."""
        with self._lock:
            return self._inflight.get(url, 0)

    def wait_drained(self, url: str, *, timeout: float) -> bool:
        """Wait until no request to ``url`` is in flight; False after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while self.inflight(url):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True


@dataclass
class SwitchableLoadGenerator(LoadGenerator):
    """``LoadGenerator`` whose workers follow ``target`` and stop early when ``cancel`` is set.

    A worker that sees a new URL closes its connection to the old server first (an open
    keep-alive connection would hold a stopping tritonserver for its exit timeout).
    """

    target: SwitchableTarget | None = None
    #: Set to end the run early (``LoadGenerator.stop`` is the method that joins the threads).
    cancel: threading.Event = field(default_factory=threading.Event)

    def _worker(self, seed: int, deadline: float, out: list[Sample]) -> None:
        import tritonclient.http as httpclient

        assert self.target is not None
        rng = np.random.default_rng(seed)
        client: Any = None
        client_url = ""
        try:
            while (
                (now := time.monotonic()) < deadline
                and not self.cancel.is_set()
                and not self._stop.is_set()
            ):
                rows = self.x[rng.integers(0, len(self.x), self.batch)]
                url = self.target.begin()
                try:
                    if url != client_url:
                        if client is not None:
                            client.close()
                        client = httpclient.InferenceServerClient(
                            url.removeprefix("http://"), network_timeout=30.0
                        )
                        client_url = url
                    _, version = infer_once(client, self.model, rows)
                    out.append(Sample(now, time.monotonic() - now, True, version))
                except Exception as exc:
                    out.append(Sample(now, time.monotonic() - now, False, None, str(exc)[:300]))
                finally:
                    self.target.end(url)
        finally:
            if client is not None:
                client.close()


class LoadRun:
    """Runs a ``SwitchableLoadGenerator`` in a background thread until ``finish()``."""

    def __init__(self, url: str, x: np.ndarray, *, clients: int, batch: int) -> None:
        self.target = SwitchableTarget(url)
        self.generator = SwitchableLoadGenerator(
            url,
            MODEL,
            x,
            clients=clients,
            duration=MAX_LOAD_SECONDS,
            batch=batch,
            target=self.target,
        )
        self._thread = threading.Thread(target=self.generator.run, name="load", daemon=True)

    def start(self) -> LoadRun:
        """Start the workers."""
        self._thread.start()
        return self

    def finish(self) -> list[Sample]:
        """Stop the workers; returns every sample sorted by send time."""
        self.generator.cancel.set()
        self._thread.join(timeout=60)
        return self.generator.samples


# ---------------------------------------------------------------------------------------------
# model versions


@dataclass(frozen=True)
class TrainedVersions:
    """v1 and v2 model directories (Triton layout, version dir ``1``) and their test accuracy."""

    split: DigitsSplit
    v1: Path
    v2: Path
    accuracy: dict[str, float]


def train_versions(workdir: Path) -> TrainedVersions:
    """Train v1 and v2 once (the demo's algorithms and parameters) and write both directories."""
    split = make_digits_split()
    dirs, accuracy = {}, {}
    for tag, (algorithm, params) in (("v1", V1), ("v2", V2)):
        estimator, metrics = train_and_evaluate(split, algorithm, parse_params(params))
        out = workdir / "models" / tag / MODEL
        shutil.rmtree(out.parent, ignore_errors=True)
        dirs[tag] = write_model_directory(out, model=MODEL, estimator=estimator)
        accuracy[tag] = round(metrics["accuracy"], 4)
    return TrainedVersions(split, dirs["v1"], dirs["v2"], accuracy)


def install_version(model_dir: Path, repository: Path, number: int) -> None:
    """Copy a model directory into ``repository/<model>/`` with its version dir named ``number``."""
    target = repository / MODEL
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(model_dir / "config.pbtxt", target / "config.pbtxt")
    shutil.copytree(model_dir / "1", target / str(number))


def publish_version(store: ArtifactStore, client: RegistryClient, model_dir: Path, tag: str) -> int:
    """Upload ``model_dir`` as ``models/<MODEL>/<tag>`` and register it as a version of
    ``MODEL`` in ``TEAM`` (source: a ``LocalRun`` named ``train-<tag>``); returns its number."""
    published = publish_model(
        store=store,
        registry=client,
        model=schemas.ModelCreate(name=MODEL, team=TEAM),
        model_dir=model_dir,
        uri=store.local_uri("models", MODEL, tag),
        source=schemas.SourceRef(
            kind="LocalRun", namespace=TEAM, name=f"train-{tag}", uid=str(uuid.uuid4())
        ),
    )
    return published.record.version


# ---------------------------------------------------------------------------------------------
# figures


def triton_version(url: str) -> str | None:
    """The server's version from ``GET /v2`` (None if it cannot be read)."""
    try:
        return str(httpx.get(f"{url}/v2", timeout=5).json().get("version"))
    except (httpx.HTTPError, ValueError):
        return None


def summarize(
    samples: list[Sample],
    *,
    started: float,
    finished: float,
    sampler: RssSampler,
    load_started: float,
) -> dict[str, Any]:
    """Request, latency and memory figures of one scenario (rollout ``started``..``finished``)."""
    swap = _summarize_swap(samples, moved_at=started, new_version=2)
    ok = [s.latency for s in samples if s.ok]
    rollout = [s.latency for s in samples if s.ok and started <= s.sent <= finished]
    baseline = sampler.mean(started - 1.0, started)
    peak = sampler.peak(started, finished + 0.5)
    span = samples[-1].sent - samples[0].sent if samples else 0.0
    return {
        "load_average_1m": round(os.getloadavg()[0], 2),
        "requests_sent": swap["requests_sent"],
        "failed_requests": swap["failed_requests"],
        "first_errors": swap["first_errors"],
        "all_v2_after_seconds": swap["swap_duration_seconds"],
        "first_v2_after_seconds": swap["first_new_version_after_seconds"],
        "versions_answering": swap["versions_answering"],
        "requests_per_second": round(len(samples) / span, 1) if span > 0 else None,
        "rollout_max_latency_ms": round(max(rollout) * 1000, 1) if rollout else None,
        "rollout_requests_over_100ms": sum(1 for v in rollout if v > 0.1),
        "latency_ms": {
            "all": percentiles_ms(ok),
            "rollout": percentiles_ms(rollout),
            **swap["latency_ms"],
        },
        "memory_mib": {
            "baseline": mib(baseline),
            "peak": mib(peak),
            "extra_peak": mib(peak - baseline),
            "after": mib(sampler.mean(finished + 0.5, time.monotonic())),
            "samples_during_rollout": len(sampler.window(started, finished + 0.5)),
            "sample_interval_ms": int(sampler.interval * 1000),
        },
        "rollout_seconds": round(finished - started, 3),
        "load_seconds": round(time.monotonic() - load_started, 1),
    }


# ---------------------------------------------------------------------------------------------
# scenario 1: hot swap through the registry and the serving agent


def _wait_until(check: Any, *, timeout: float, poll: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic()
        time.sleep(poll)
    raise TimeoutError(f"{what} not reached within {timeout:.0f}s")


def run_hot_swap(
    versions: TrainedVersions,
    workdir: Path,
    *,
    clients: int,
    batch: int,
    warmup: float,
    tail: float,
) -> dict[str, Any]:
    """Scenario 1 (see the module docstring); returns its figures."""
    state = workdir / "hot-swap"
    shutil.rmtree(state, ignore_errors=True)
    artifacts = state / "artifacts"
    repository = state / "model-repository"
    artifacts.mkdir(parents=True)
    repository.mkdir()
    (registry_port,) = free_ports(1)
    store = ArtifactStore(ArtifactSettings(local_root=artifacts))
    with ExitStack() as stack:
        children = stack.enter_context(ChildProcesses(str(state)))
        registry_url = start_registry(
            children,
            port=registry_port,
            state=state,
            log_path=state / "logs" / "registry.log",
            env={},
        )
        client = stack.enter_context(RegistryClient(registry_url, team=TEAM, timeout=30))
        numbers = {
            tag: publish_version(store, client, path, tag)
            for tag, path in (("v1", versions.v1), ("v2", versions.v2))
        }
        if numbers != {"v1": 1, "v2": 2}:
            raise RuntimeError(f"expected versions 1 and 2 in a fresh registry, got {numbers}")

        serving = start_serving(
            children,
            client,
            registry_url=registry_url,
            service=SERVICE,
            team=TEAM,
            model=MODEL,
            alias="production",
            pod=POD,
            model_repository=repository,
            artifacts_root=artifacts,
            logs=state / "logs",
            env={},
            poll_interval=AGENT_POLL,
        )
        triton = serving.triton
        index = TritonRepository(triton.http_url)

        def reported(version: int) -> bool:
            observed = client.get_service(SERVICE).observed
            return {o.version for o in observed if o.state == "READY"} == {version}

        client.set_alias(MODEL, "production", 1, reason="baseline")
        _wait_until(lambda: reported(1), timeout=120, poll=0.1, what="v1 served")

        sampler = RssSampler(triton.rss_bytes).start()
        stack.callback(sampler.stop)
        load = LoadRun(triton.http_url, versions.split.x_test, clients=clients, batch=batch)
        load_started = time.monotonic()
        load.start()
        stack.callback(load.finish)
        time.sleep(warmup)

        started = time.monotonic()
        client.set_alias(MODEL, "production", 2, reason="benchmark")
        only_v2 = _wait_until(
            lambda: index.ready_versions(MODEL) == {2},
            timeout=ROLLOUT_TIMEOUT,
            poll=0.02,
            what="Triton serving only v2",
        )
        agent_reported = _wait_until(
            lambda: reported(2), timeout=ROLLOUT_TIMEOUT, poll=0.1, what="agent reporting v2"
        )

        def v1_gone() -> bool:
            row = index.versions(MODEL).get(1)
            return row is None or row.state not in ("READY", "UNLOADING")

        unloaded = _wait_until(
            v1_gone, timeout=ROLLOUT_TIMEOUT, poll=0.05, what="v1 unloaded (its stub exited)"
        )
        time.sleep(tail)
        samples = load.finish()
        sampler.stop()
        accuracy, answered = evaluate(
            triton.http_url, MODEL, versions.split.x_test, versions.split.y_test
        )
        figures = summarize(
            samples,
            started=started,
            finished=max(unloaded, agent_reported),
            sampler=sampler,
            load_started=load_started,
        )
        version = triton_version(triton.http_url)
    return {
        "scenario": "hot swap (one tritonserver, serving agent, registry alias move)",
        "tritonserver_version": version,
        "agent_poll_interval_seconds": AGENT_POLL,
        "steps_seconds": {
            "triton_only_v2": round(only_v2 - started, 3),
            "agent_reported_v2": round(agent_reported - started, 3),
            "v1_unloaded": round(unloaded - started, 3),
        },
        "accuracy_after": round(accuracy, 4),
        "versions_after": sorted(answered),
        **figures,
    }


# ---------------------------------------------------------------------------------------------
# scenario 2: restart rollout done right (second server, switch, stop the old one)


def _start_server(repository: Path, workdir: Path, version: int) -> TritonServerProcess:
    server = TritonServerProcess(repository, workdir)
    server.start()
    server.wait_live(timeout=60)
    repo = TritonRepository(server.http_url)
    repo.load(MODEL)
    repo.wait_ready(MODEL, [version], timeout=60, poll=0.02)
    return server


def run_restart_rollout(
    versions: TrainedVersions,
    workdir: Path,
    *,
    clients: int,
    batch: int,
    warmup: float,
    tail: float,
) -> dict[str, Any]:
    """Scenario 2 (see the module docstring); returns its figures."""
    state = workdir / "restart-rollout"
    shutil.rmtree(state, ignore_errors=True)
    repo_a, repo_b = state / "repository-a", state / "repository-b"
    install_version(versions.v1, repo_a, 1)
    install_version(versions.v2, repo_b, 2)
    servers: dict[str, TritonServerProcess | None] = {"a": None, "b": None}

    def rss() -> int:
        return sum(s.rss_bytes() for s in list(servers.values()) if s is not None)

    with ExitStack() as stack:
        server_a = _start_server(repo_a, state / "triton-a", 1)
        servers["a"] = server_a
        stack.callback(server_a.stop)
        sampler = RssSampler(rss).start()
        stack.callback(sampler.stop)
        load = LoadRun(server_a.http_url, versions.split.x_test, clients=clients, batch=batch)
        load_started = time.monotonic()
        load.start()
        stack.callback(load.finish)
        time.sleep(warmup)

        started = time.monotonic()
        server_b = TritonServerProcess(repo_b, state / "triton-b")
        servers["b"] = server_b
        stack.callback(server_b.stop)
        server_b.start()
        server_b.wait_live(timeout=60)
        live = time.monotonic()
        repo = TritonRepository(server_b.http_url)
        repo.load(MODEL)
        repo.wait_ready(MODEL, [2], timeout=60, poll=0.02)
        ready = time.monotonic()
        load.target.switch(server_b.http_url)
        switched = time.monotonic()
        drained_ok = load.target.wait_drained(server_a.http_url, timeout=30)
        drained = time.monotonic()
        server_a.stop()
        stopped = time.monotonic()
        time.sleep(tail)
        samples = load.finish()
        sampler.stop()
        accuracy, answered = evaluate(
            server_b.http_url, MODEL, versions.split.x_test, versions.split.y_test
        )
        figures = summarize(
            samples,
            started=started,
            finished=stopped,
            sampler=sampler,
            load_started=load_started,
        )
        version = triton_version(server_b.http_url)
    return {
        "scenario": "restart rollout done right (second tritonserver, switch traffic, stop old)",
        "tritonserver_version": version,
        "steps_seconds": {
            "b_live": round(live - started, 3),
            "b_v2_ready": round(ready - started, 3),
            "traffic_switched": round(switched - started, 3),
            "a_drained": round(drained - started, 3),
            "a_stopped": round(stopped - started, 3),
            "a_stop_took": round(stopped - drained, 3),
        },
        "a_drained_in_time": drained_ok,
        "accuracy_after": round(accuracy, 4),
        "versions_after": sorted(answered),
        **figures,
    }


def run_swap_benchmark(
    *, workdir: Path, clients: int = 4, batch: int = 8, warmup: float = 4.0, tail: float = 3.0
) -> dict[str, Any]:
    """Train v1/v2 once, then run both scenarios with the same load; returns their figures.

    Raises ``BenchmarkSkipped`` when this machine cannot run the wheel's tritonserver.
    """
    try:
        find_pytriton_install()
    except (UnsupportedPlatform, TritonServerError) as exc:
        raise BenchmarkSkipped(str(exc)) from exc
    workdir = workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    versions = train_versions(workdir)
    hot = run_hot_swap(versions, workdir, clients=clients, batch=batch, warmup=warmup, tail=tail)
    restart = run_restart_rollout(
        versions, workdir, clients=clients, batch=batch, warmup=warmup, tail=tail
    )
    return {
        "model": MODEL,
        "v1": {"algorithm": V1[0], "params": V1[1], "accuracy": versions.accuracy["v1"]},
        "v2": {"algorithm": V2[0], "params": V2[1], "accuracy": versions.accuracy["v2"]},
        "load": {
            "clients": clients,
            "batch": batch,
            "warmup_seconds": warmup,
            "tail_seconds": tail,
            "closed_loop": True,
        },
        "hot_swap": hot,
        "restart_rollout": restart,
        "notes": [
            "Rollout start: the alias move (hot swap) / launching the second tritonserver "
            "(restart rollout).",
            "all_v2_after_seconds: from the rollout start until every later request (by "
            "completion) was answered by v2.",
            "rollout_seconds: from the rollout start until the old version is gone: v1 unloaded "
            "in Triton (hot swap) / tritonserver A stopped (restart rollout).",
            "Hot swap includes the agent's poll delay (poll interval "
            f"{AGENT_POLL} s) between the alias move and the start of the load.",
            "memory_mib: RSS of all tritonserver process trees (server + python backend stubs), "
            "sampled every 50 ms; extra_peak = peak during the rollout - mean of the second "
            "before it.",
        ],
    }
