"""The canary gate end to end on this machine: a registry on loopback, two pods each made of a
real tritonserver (summary latencies on) and a real serving agent, live traffic to both.

A canary that answers with errors is rolled back by ``verify`` + ``rollback`` while the stable
pod fails no request; a good canary passes and ``release`` makes every pod serve it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from glue.artifacts.store import ArtifactStore
from glue.model_registry.client import RegistryClient
from glue.model_registry.publish import publish_model
from glue.model_registry.schemas import Assignment, ModelCreate, ServiceCreate, SourceRef
from glue.model_registry.service.inference import canary_pods
from glue.pipelines import gate
from glue.serving_agent.agent import ServingAgent
from glue.serving_agent.settings import AgentSettings
from glue.triton.server import TritonServerError, TritonServerProcess
from tests.support.registry import RegistryServer
from tests.support.triton import infer, wait_until, write_model

TEAM, SERVICE, MODEL = "ml", "gate", "scorer"
PATIENCE = 120.0
WINDOW = 8.0
#: ``execute`` of the bad version: every request fails. It raises: tritonserver 2.51's python
#: backend counts a response carrying an error (``InferenceResponse(error=...)``) as a success in
#: ``nv_inference_request_success``; only a raising ``execute`` counts as a failure (reason
#: ``BACKEND``), as the real binary showed.
FAILING_EXECUTE = """
    def execute(self, requests):
        raise RuntimeError("bad version")
"""


def _pods() -> tuple[str, str]:
    """A stable pod and a canary pod: of two live pods, a share of 0.5 goes to one, the first
    by rank (neither serves the canary yet)."""
    pods = ("gate-pod-0", "gate-pod-1")
    (canary,) = canary_pods(service=SERVICE, live=pods, serving=(), share=0.5)
    return next(p for p in pods if p != canary), canary


class Load:
    """Requests to every pod from one thread per pod until stopped; counts answers per
    (pod, version) and failures per pod."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.answers: Counter[tuple[str, int]] = Counter()
        self.failures: Counter[str] = Counter()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(p,)) for p in urls]

    def _run(self, pod: str) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                try:
                    version, _ = infer(self.urls[pod], MODEL, [1.0], client=http)
                    self.answers[(pod, version)] += 1
                except httpx.HTTPError:
                    self.failures[pod] += 1
                time.sleep(0.02)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


@pytest.fixture
def world(registry: RegistryServer, tmp_path: Path) -> Iterator[tuple[RegistryClient, dict]]:
    """The registry client and, per pod, its tritonserver URL; agents run until teardown."""
    client = registry.client(team=TEAM)
    client.create_model(ModelCreate(name=MODEL, team=TEAM))
    store = ArtifactStore(registry.settings.artifacts)
    stop = threading.Event()
    servers: list[TritonServerProcess] = []
    threads: list[threading.Thread] = []
    agents: list[ServingAgent] = []
    urls: dict[str, str] = {}
    try:
        for pod in _pods():
            repo = tmp_path / pod / "repository"
            repo.mkdir(parents=True)
            try:
                server = TritonServerProcess(
                    repo,
                    tmp_path / pod / "work",
                    extra_args=["--metrics-config=summary_latencies=true"],
                )
            except TritonServerError as exc:
                pytest.skip(f"tritonserver cannot run here: {exc}")
            server.__enter__()
            servers.append(server)
            urls[pod] = server.http_url
            agent = ServingAgent(
                AgentSettings(
                    registry_url=registry.url,
                    service=SERVICE,
                    pod=pod,
                    team=TEAM,
                    triton_url=server.http_url,
                    triton_grpc_url=server.grpc_url,
                    triton_metrics_url=server.metrics_url,
                    model_repository=repo,
                    poll_interval=0.5,
                    ready_timeout=PATIENCE,
                    registry_timeout=PATIENCE,
                    artifacts=registry.settings.artifacts,
                )
            )
            agents.append(agent)
            threads.append(threading.Thread(target=agent.run, args=(stop,)))

        def publish(k: float, *, failing: bool = False) -> int:
            uid = uuid.uuid4().hex[:12]
            source = write_model(tmp_path / "src" / uid, MODEL, k)
            if failing:
                code = (source / "1" / "model.py").read_text()
                head = code[: code.index("    def execute")]
                (source / "1" / "model.py").write_text(head + FAILING_EXECUTE)
            return publish_model(
                store=store,
                registry=client,
                model=MODEL,
                model_dir=source,
                uri=store.local_uri("models", MODEL, uid),
                source=SourceRef(kind="Job", namespace="test", name=f"train-{uid}", uid=uid),
            ).record.version

        assert publish(1.0) == 1 and publish(2.0, failing=True) == 2 and publish(3.0) == 3
        client.set_alias(MODEL, "production", 1)
        client.create_service(
            ServiceCreate(
                name=SERVICE, team=TEAM, assignments=[Assignment(model=MODEL, alias="production")]
            )
        )
        for thread in threads:
            thread.start()
        yield client, urls
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        for agent in agents:
            agent.close()
        for server in servers:
            server.stop()
        client.close()


def _serving(client: RegistryClient, pod: str, version: int) -> bool:
    observed = client.get_service(SERVICE).observed
    return {(o.version, o.state) for o in observed if o.pod == pod} == {(version, "READY")}


def _wait_serving(client: RegistryClient, pods: dict[str, int]) -> None:
    assert wait_until(lambda: all(_serving(client, p, v) for p, v in pods.items()), PATIENCE), (
        client.get_service(SERVICE).observed
    )


def _verify(client: RegistryClient, canary: int) -> gate.GateResult:
    return gate.verify(
        client,
        service=SERVICE,
        model=MODEL,
        canary=canary,
        window_s=WINDOW,
        max_error_ratio=0.05,
        max_p99_ratio=5.0,  # a loaded test machine's latency is noisy
        min_requests=10,
    )


def test_bad_canary_rolled_back_good_canary_released(world: tuple[RegistryClient, dict]) -> None:
    client, urls = world
    stable, canary = list(urls)
    _wait_serving(client, {stable: 1, canary: 1})
    with Load(urls) as load:
        gate.start_canary(client, service=SERVICE, model=MODEL, version=2, share=0.5)
        _wait_serving(client, {canary: 2})
        (assignment,) = client.get_service(SERVICE).assignments
        assert (assignment.canary_pods, assignment.stable_pods) == (1, 1)
        time.sleep(WINDOW + 1.5)
        bad = _verify(client, 2)
        assert not bad.passed and "error ratio" in bad.reason, bad
        gate.rollback(client, service=SERVICE, model=MODEL, version=2, reason=bad.reason)
        _wait_serving(client, {canary: 1})
        assert load.failures[stable] == 0  # the stable pod never failed a request
        assert load.failures[canary] > 0 and bad.figures["canary"]["failures"] > 0

        gate.start_canary(client, service=SERVICE, model=MODEL, version=3, share=0.5)
        _wait_serving(client, {canary: 3})
        time.sleep(WINDOW + 1.5)
        good = _verify(client, 3)
        assert good.passed, good
        released = time.monotonic()
        gate.release(client, service=SERVICE, model=MODEL, version=3, reason=good.reason)
        _wait_serving(client, {stable: 3, canary: 3})
        seconds = time.monotonic() - released
    assert load.failures[stable] == 0
    assert load.answers[(stable, 1)] > 0
    assert load.answers[(canary, 3)] > 0
    assert client.get_model(MODEL).aliases["production"] == 3
    (assignment,) = client.get_service(SERVICE).assignments
    assert assignment.canary_version is None and assignment.resolved_version == 3
    print(f"release -> production served on every pod: {seconds:.2f}s")
