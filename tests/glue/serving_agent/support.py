"""Shared world of the serving agent's real-server tests: a registry, a local artifact store, the
session's tritonserver, one model name per test (``Env`` and the ``env`` fixture).

Tests wait on the condition they need, never for a fixed time: the machine may be slow.
``PATIENCE`` only bounds a wait that would otherwise never end.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from glue.artifacts.manifest import FileDigest, Manifest
from glue.artifacts.store import ArtifactStore
from glue.model_registry.client import RegistryClient
from glue.model_registry.publish import publish_model
from glue.model_registry.schemas import (
    Assignment,
    DesiredState,
    DesiredVersion,
    ModelCreate,
    ServiceCreate,
    SourceRef,
)
from glue.serving_agent.agent import ReconcileResult, ServingAgent
from glue.serving_agent.settings import AgentSettings
from glue.triton.repository import RepositoryEntry, TritonRepository
from tests.support.registry import RegistryServer
from tests.support.triton import TritonFixture, infer, write_model

SERVICE = "scoring"
POD = "scoring-pod-0"
#: The team owning the test service and its models.
TEAM = "ml"

#: Seconds after which a wait on a condition gives up (a safety net: on a healthy machine the
#: conditions hold within a second or two, and every wait returns as soon as its condition holds).
PATIENCE = 60.0


def desired(
    *versions: tuple[str, int] | tuple[str, int, str], unresolved: tuple[str, ...] = ()
) -> DesiredState:
    """A desired state of the test pod: ``(model, version[, role])`` each (role default
    ``primary``), with a placeholder artifact."""
    manifest = Manifest(files={"config.pbtxt": FileDigest(sha256="0" * 64, size=1)})
    return DesiredState(
        service=SERVICE,
        pod=POD,
        models=[
            DesiredVersion(
                model=v[0],
                version=v[1],
                role=v[2] if len(v) > 2 else "primary",  # type: ignore[misc]
                artifact_uri="file:///a",
                manifest=manifest,
            )
            for v in versions
        ],
        unresolved=list(unresolved),
    )


def row(name: str, version: int | None, state: str, reason: str = "") -> RepositoryEntry:
    """One repository index row."""
    return RepositoryEntry(name=name, version=version, state=state, reason=reason)


class FakeClock:
    """A monotonic clock the test moves forward by hand (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    """One test's world: registry, artifact store, the shared tritonserver, a model name."""

    registry: RegistryServer
    client: RegistryClient
    store: ArtifactStore
    triton: TritonFixture
    model: str
    tmp: Path
    agents: list[ServingAgent] = field(default_factory=list)
    extra_models: list[str] = field(default_factory=list)

    def add_model(self, suffix: str) -> str:
        """Register one more model, ``<model>-<suffix>`` (unloaded at teardown); returns it."""
        name = f"{self.model}-{suffix}"
        self.client.create_model(ModelCreate(name=name, team=TEAM))
        self.extra_models.append(name)
        return name

    def publish(
        self, k: float, *, model: str | None = None, weights: int = 0, **kwargs: object
    ) -> int:
        """Write, upload and register a version answering ``x * k``; returns its number.

        ``model`` defaults to the test's model; ``weights`` > 0 adds ``1/weights.bin`` of that
        many random bytes (a larger version); ``kwargs`` go to ``write_model``.
        """
        model = model or self.model
        uid = uuid.uuid4().hex[:12]
        source = write_model(self.tmp / "src" / uid, model, k, **kwargs)  # type: ignore[arg-type]
        if weights:
            (source / "1" / "weights.bin").write_bytes(os.urandom(weights))
        published = publish_model(
            store=self.store,
            registry=self.client,
            model=model,
            model_dir=source,
            uri=self.store.local_uri("models", model, uid),
            source=SourceRef(kind="Job", namespace="test", name=f"train-{uid}", uid=uid),
        )
        return published.record.version

    def artifact_dir(self, version: int) -> Path:
        """Local directory of a registered version's artifact."""
        uri = self.client.get_version(self.model, version).artifact_uri
        return Path(uri.removeprefix("file://"))

    def assign(self, version: int | None) -> None:
        """Make ``version`` the service's desired version of the model (None: no model)."""
        assignments = [] if version is None else [Assignment(model=self.model, version=version)]
        self.client.set_assignments(SERVICE, assignments)

    def agent(self, *, triton_url: str | None = None, **overrides: object) -> ServingAgent:
        """A serving agent for the test's service and pod (closed at teardown).

        Repository control goes over the server's gRPC endpoint (the agent's default path),
        except when ``triton_url`` is given (a fault-injecting HTTP proxy): then it goes over
        that URL, so the proxy sees and can break every control call. ``overrides`` are
        settings, except ``clock`` and ``store`` (``ServingAgent`` arguments).
        """
        values: dict[str, object] = {
            "registry_url": self.registry.url,
            "service": SERVICE,
            "pod": POD,
            "triton_url": triton_url or self.triton.url,
            "triton_grpc_url": "" if triton_url else self.triton.server.grpc_url,
            "model_repository": self.triton.repository,
            "ready_timeout": PATIENCE,
            "backoff_initial": 0.2,
            "backoff_max": 1.0,
            "registry_timeout": PATIENCE,  # a slow answer under load is not an outage
            "artifacts": self.registry.settings.artifacts,
            "team": TEAM,
        }
        extra = {k: overrides.pop(k) for k in ("clock", "store") if k in overrides}
        values.update(overrides)
        agent = ServingAgent(AgentSettings(**values), **extra)  # type: ignore[arg-type]
        self.agents.append(agent)
        return agent

    def observed(self) -> set[tuple[int, str]]:
        """(version, state) the registry recorded for the test's pod and model."""
        service = self.client.get_service(SERVICE)
        return {
            (o.version, o.state) for o in service.observed if o.pod == POD and o.model == self.model
        }

    def observed_errors(self) -> dict[int, str | None]:
        service = self.client.get_service(SERVICE)
        return {
            o.version: o.error for o in service.observed if o.pod == POD and o.model == self.model
        }

    def answer(self, url: str | None = None) -> tuple[int, float]:
        """(version, output) of one inference with input 1.0."""
        version, out = infer(url or self.triton.url, self.model, [1.0])
        return version, out[0]


@pytest.fixture
def env(
    registry: RegistryServer,
    triton_server: TritonFixture,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Env]:
    name = "agent-" + request.node.name.removeprefix("test_").replace("_", "-")[:40].strip("-")
    client = registry.client(team=TEAM)  # the tests' generous timeout (CLIENT_TIMEOUT)
    client.create_model(ModelCreate(name=name, team=TEAM))
    client.create_service(ServiceCreate(name=SERVICE, team=TEAM))
    world = Env(
        registry=registry,
        client=client,
        store=ArtifactStore(registry.settings.artifacts),
        triton=triton_server,
        model=name,
        tmp=tmp_path,
    )
    yield world
    for agent in world.agents:
        agent.close()
    client.close()
    repo = TritonRepository(triton_server.url)
    if repo.is_live():
        for model in (name, *world.extra_models):
            repo.unload(model)


def served(env: Env) -> set[int]:
    return TritonRepository(env.triton.url).ready_versions(env.model)


def reconcile_until(
    agent: ServingAgent, done: Callable[[ReconcileResult], bool]
) -> ReconcileResult:
    """Reconcile until ``done(result)`` holds and return that result.

    For a step that needs the registry to answer after an outage: the first reconcile after a
    restart may still fail (a slow answer, a stale connection) and the agent retries on the next
    one. After ``PATIENCE`` seconds the last result is returned for the caller's assertions.
    """
    deadline = time.monotonic() + PATIENCE
    while True:
        result = agent.reconcile_once()
        if done(result) or time.monotonic() >= deadline:
            return result
        time.sleep(0.05)
