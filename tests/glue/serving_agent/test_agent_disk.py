"""The agent's disk budget against a real tritonserver, a real registry and a local file store.

Versions carry ``1/weights.bin`` of ``WEIGHTS`` random bytes, so a version's size is dominated by
data, as in practice. The session's model repository is shared with other tests whose models
(unloaded at their teardown) may still have files there: budgets are computed from what the
repository holds at the time, counting those leftovers as room the agent may reclaim.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest

from glue.artifacts.manifest import Manifest
from glue.artifacts.settings import ArtifactSettings
from glue.artifacts.store import ArtifactStore
from glue.model_registry.schemas import Assignment
from glue.serving_agent.disk import BUDGET_VARIABLE, DiskBudget, disk_usage
from glue.serving_agent.installer import META_DIR, STAGING_DIR
from tests.glue.serving_agent.support import PATIENCE, SERVICE, Env, FakeClock, served
from tests.support.triton import wait_until

pytestmark = pytest.mark.integration

#: Bytes of random weights per version.
WEIGHTS = 4 << 20


class MeasuringStore(ArtifactStore):
    """The real local store; ``measure()`` runs each time a download completes, the moment the
    new version is fully staged beside everything that was there before (the swap's peak)."""

    def __init__(self, settings: ArtifactSettings, measure: object) -> None:
        super().__init__(settings)
        self.measure = measure

    def download_dir(self, uri: str, dest: Path, manifest: Manifest) -> None:
        super().download_dir(uri, dest, manifest)
        self.measure()  # type: ignore[operator]


def version_copies(repository: Path, model: str) -> dict[str, int]:
    """Bytes on disk of every copy of a version directory of ``model`` in ``repository``:
    installed (``<model>/<N>``) and staged (``.staging/<model>-*/<dir>``)."""
    copies = {}
    for path in (repository / model).iterdir():
        if path.is_dir() and path.name.isdigit():
            copies[f"installed {path.name}"] = disk_usage(path)
    for stage in (repository / STAGING_DIR).glob(f"{model}-*"):
        for path in stage.iterdir():
            if path.is_dir():
                copies[f"staged {stage.name}/{path.name}"] = disk_usage(path)
    return copies


def reclaimable(env: Env, *keep: str) -> int:
    """Bytes of the version directories (and their stored configs) of the repository's models
    other than the test's own and ``keep``: what the agent may remove to make room."""
    repository = env.triton.repository
    total = 0
    for model in repository.iterdir():
        if model.name.startswith(".") or model.name in (env.model, *keep) or not model.is_dir():
            continue
        for version in model.iterdir():
            if version.is_dir() and version.name.isdigit():
                meta = repository / META_DIR / model.name / f"{version.name}.pbtxt"
                total += disk_usage(version) + disk_usage(meta)
    return total


def need(env: Env, model: str, version: int) -> int:
    """Bytes version ``version`` of ``model`` takes once installed in the repository."""
    manifest = env.client.get_version(model, version).manifest
    return DiskBudget(env.triton.repository, None).need(manifest)


def test_a_swap_holds_at_most_the_served_and_the_new_version(env: Env) -> None:
    """With ``keep_previous=1`` the repository used to hold the kept previous version, the
    served one and the new download at once (3.00 x one version)."""
    repository = env.triton.repository
    v1, v2, v3 = (env.publish(k, weights=WEIGHTS) for k in (2.0, 3.0, 4.0))
    samples: list[dict[str, int]] = []

    def sample() -> None:
        with contextlib.suppress(FileNotFoundError):  # a directory renamed while walked
            samples.append(version_copies(repository, env.model))

    agent = env.agent(store=MeasuringStore(env.registry.settings.artifacts, sample))
    for version in (v1, v2):
        env.assign(version)
        assert agent.reconcile_once().swapped == [(env.model, version)]
    assert wait_until(
        lambda: set(version_copies(repository, env.model)) == {f"installed {v1}", f"installed {v2}"}
    )  # v1 kept as the previous version

    samples.clear()
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set():
            sample()

    thread = threading.Thread(target=sampler)
    thread.start()
    env.assign(v3)
    try:
        result = agent.reconcile_once()
    finally:
        stop.set()
        thread.join(timeout=PATIENCE)
    assert result.swapped == [(env.model, v3)] and result.failed == {}
    assert env.answer() == (v3, 4.0)

    one = disk_usage(repository / env.model / str(v3))
    peak = max(samples, key=lambda copies: sum(copies.values()))
    ratio = sum(peak.values()) / one
    print(f"\npeak during the swap: {ratio:.3f} x one version ({one} bytes): {sorted(peak)}")
    assert ratio <= 2.0, peak
    # The store's hook measured the moment the new version was fully staged.
    staged = [c for c in samples if any(name.startswith("staged") for name in c)]
    assert staged and max(sum(c.values()) for c in staged) >= 1.9 * one
    assert wait_until(
        lambda: set(version_copies(repository, env.model)) == {f"installed {v2}", f"installed {v3}"}
    )


def test_a_version_that_cannot_fit_is_refused_and_the_old_one_keeps_serving(env: Env) -> None:
    repository = env.triton.repository
    v1, v2 = (env.publish(k, weights=WEIGHTS) for k in (2.0, 3.0))
    env.assign(v1)
    assert env.agent().reconcile_once().swapped == [(env.model, v1)]

    # Room for half of v2 even after every other model's files are gone.
    needed = need(env, env.model, v2)
    budget = disk_usage(repository) - reclaimable(env) + needed // 2
    clock = FakeClock()
    agent = env.agent(repository_budget_bytes=budget, clock=clock)
    env.assign(v2)
    result = agent.reconcile_once()
    assert result.swapped == []
    error = result.failed[(env.model, v2)]
    assert error.startswith(f"no_space: version {v2} of {env.model} needs ")
    assert f"({needed} bytes) on disk" in error
    assert "budget of " in error and f"({budget} bytes) ({BUDGET_VARIABLE}" in error
    assert env.answer() == (v1, 2.0)
    assert served(env) == {v1}
    assert env.observed() == {(v1, "READY"), (v2, "FAILED")}
    reported = env.observed_errors()[v2] or ""
    assert "needs" in reported and BUDGET_VARIABLE in reported
    assert not (repository / env.model / str(v2)).exists()
    assert list((repository / STAGING_DIR).iterdir()) == []
    labels = {"model": env.model, "reason": "no_space"}
    assert agent.metrics.value("kubeai_agent_load_failures_total", labels) == 1
    assert agent.readiness.probe().ready  # the old version serves: the pod stays Ready

    # With room for the old and the new version, the retry swaps.
    roomy = env.agent(repository_budget_bytes=disk_usage(repository) + needed + (1 << 20))
    result = roomy.reconcile_once()
    assert result.swapped == [(env.model, v2)] and result.failed == {}
    assert env.answer() == (v2, 3.0)


def test_files_of_a_model_no_longer_assigned_make_room_for_a_new_one(env: Env) -> None:
    repository = env.triton.repository
    old = env.add_model("old")
    o1 = env.publish(2.0, model=old, weights=WEIGHTS)
    env.client.set_assignments(SERVICE, [Assignment(model=old, version=o1)])
    assert env.agent().reconcile_once().swapped == [(old, o1)]

    v1 = env.publish(3.0, weights=WEIGHTS)
    needed = need(env, env.model, v1)
    # Room for v1 only once the old model's files (and other leftovers) are gone.
    budget = disk_usage(repository) - reclaimable(env) + needed + (64 << 10)
    assert budget - disk_usage(repository) < needed
    clock = FakeClock()
    agent = env.agent(repository_budget_bytes=budget, clock=clock)
    env.assign(v1)  # the service now wants only the test's model

    # The old model is still loaded while v1 is synced (it is unloaded at the end of the
    # reconcile): no room yet. Once unloaded, its files go and v1 fits.
    first = agent.reconcile_once()
    assert "no_space" in first.failed[(env.model, v1)]
    swapped: list[tuple[str, int]] = []

    def retried() -> bool:
        clock.now += 10
        swapped.extend(agent.reconcile_once().swapped)
        return bool(swapped)

    assert wait_until(retried, timeout=PATIENCE)
    assert swapped == [(env.model, v1)]
    assert env.answer() == (v1, 3.0)
    assert not [p for p in (repository / old).iterdir() if p.is_dir()]
