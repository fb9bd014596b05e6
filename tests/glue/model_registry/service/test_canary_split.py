"""The canary split: ``share`` is a share of the service's live pods (rounded half up, at least one
canary pod and, from two pods on, at least one stable pod), chosen without flapping, and the
service's status counts the pods serving each side.

Quoted inputs (pods ``triton-0``/``triton-1``): service ``mnist-serving`` with share 0.5 made
both pods canary; services ``digits`` and ``s`` with the default share 0.2 made none canary.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from glue.model_registry import models as orm
from glue.model_registry.models import utcnow
from glue.model_registry.service.inference import canary_count, canary_pods
from tests.glue.model_registry.conftest import Env
from tests.glue.model_registry.service.agents import poll, settle

API = "/api/v1/teams/cv"


@pytest.mark.parametrize(
    ("share", "counts"),
    [
        # pods:  0  1  2  3  4  5
        (0.2, [0, 1, 1, 1, 1, 1]),
        (0.5, [0, 1, 1, 2, 2, 3]),  # half up: 1.5 -> 2, 2.5 -> 3
        (0.3, [0, 1, 1, 1, 1, 2]),  # 0.3 x 5 = 1.5 exactly as written -> 2
        (0.9, [0, 1, 1, 2, 3, 4]),  # never all pods once there are two
        (0.01, [0, 1, 1, 1, 1, 1]),  # never none
    ],
)
def test_canary_count(share: float, counts: list[int]) -> None:
    assert [canary_count(share, n) for n in range(6)] == counts


@pytest.mark.parametrize("service", ["mnist-serving", "digits", "s", "gate"])
@pytest.mark.parametrize("share", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_canary_pods_for_one_to_five_pods(service: str, share: float, n: int) -> None:
    live = [f"triton-{i}" for i in range(n)]
    chosen = canary_pods(service=service, live=live, serving=(), share=share)
    assert len(chosen) == canary_count(share, n) and chosen <= set(live)
    assert len(chosen) >= 1 and (n == 1 or len(chosen) <= n - 1)
    assert canary_pods(service=service, live=reversed(live), serving=(), share=share) == chosen


def _stable_after(service: str, live: set[str], share: float, serving: frozenset[str]):
    """The split once the pods told to serve the canary report it (one more decision)."""
    chosen = canary_pods(service=service, live=live, serving=serving, share=share)
    return canary_pods(service=service, live=live, serving=chosen, share=share)


def test_a_pod_joining_or_leaving_moves_only_what_the_count_needs() -> None:
    rng = random.Random(11)
    for trial in range(300):
        service, share = f"svc-{trial}", rng.choice([0.1, 0.2, 0.3, 0.5, 0.7])
        live = {f"p-{rng.randrange(10_000)}" for _ in range(rng.randint(1, 12))}
        before = _stable_after(service, live, share, frozenset())
        assert canary_pods(service=service, live=live, serving=before, share=share) == before
        joined = live | {f"new-{trial}"}
        after = canary_pods(service=service, live=joined, serving=before, share=share)
        grown = canary_count(share, len(joined)) - len(before)
        # Existing pods keep their side, except the one pod a grown count needs.
        assert len((after ^ before) - {f"new-{trial}"}) <= abs(grown), (live, before, after)
        if len(live) > 1:
            gone = sorted(live)[rng.randrange(len(live))]
            left = live - {gone}
            after = canary_pods(service=service, live=left, serving=before - {gone}, share=share)
            needed = abs(canary_count(share, len(left)) - len(before - {gone}))
            assert len(after ^ (before - {gone})) <= needed, (live, gone, before, after)


def _setup(env: Env, service: str, share: float, *, pods: int = 2) -> list[str]:
    env.create_model()
    for n in (1, 2):
        r = env.client.post(
            f"{API}/models/digits/versions", json=env.version_body("digits", f"u{n}")
        )
        assert r.status_code == 201, r.text
    assignment = {"model": "digits", "version": 1, "canary_version": 2, "canary_share": share}
    r = env.client.post(f"{API}/services", json={"name": service, "assignments": [assignment]})
    assert r.status_code == 201, r.text
    return [f"triton-{i}" for i in range(pods)]


def _assignment(env: Env, service: str) -> dict[str, Any]:
    (assignment,) = env.client.get(f"{API}/services/{service}").json()["assignments"]
    return assignment


def _roles(split: dict[str, dict[str, tuple[int, str]]]) -> list[str]:
    return sorted(models["digits"][1] for models in split.values())


@pytest.mark.parametrize(
    ("service", "share"), [("mnist-serving", 0.5), ("digits", 0.2), ("s", 0.2)]
)
def test_quoted_two_pod_services_get_one_canary_and_one_stable_pod(
    env: Env, service: str, share: float
) -> None:
    pods = _setup(env, service, share)
    split = settle(env.client, API, service, pods)
    assert _roles(split) == ["canary", "primary"]
    assignment = _assignment(env, service)
    assert (assignment["canary_pods"], assignment["stable_pods"]) == (1, 1)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_one_to_five_live_pods_over_http(env: Env, n: int) -> None:
    pods = _setup(env, "digits", 0.5, pods=n)
    roles = _roles(settle(env.client, API, "digits", pods))
    canaries = canary_count(0.5, n)
    assert roles == ["canary"] * canaries + ["primary"] * (n - canaries)
    assignment = _assignment(env, "digits")
    assert (assignment["canary_pods"], assignment["stable_pods"]) == (canaries, n - canaries)


def test_a_single_pod_serves_the_canary_and_the_status_shows_no_stable_pod(env: Env) -> None:
    """n = 1: the one live pod serves the canary (chosen; the gate then reports that it has no
    stable traffic to compare with)."""
    (pod,) = _setup(env, "digits", 0.2, pods=1)
    assert settle(env.client, API, "digits", [pod]) == {pod: {"digits": (2, "canary")}}
    assignment = _assignment(env, "digits")
    assert (assignment["canary_pods"], assignment["stable_pods"]) == (1, 0)


def test_status_counts_only_ready_live_pods(env: Env) -> None:
    pods = _setup(env, "digits", 0.5)
    assignment = _assignment(env, "digits")  # nobody reported yet: both sides empty
    assert (assignment["canary_pods"], assignment["stable_pods"]) == (0, 0)
    settle(env.client, API, "digits", pods)
    stable = next(
        p
        for p in pods
        if env.client.get(f"{API}/services/digits/desired", params={"pod": p}).json()["models"][0][
            "role"
        ]
        == "primary"
    )
    loading = {"models": [{"model": "digits", "version": 1, "state": "LOADING"}]}
    assert env.client.put(f"{API}/services/digits/pods/{stable}/status", json=loading).is_success
    assignment = _assignment(env, "digits")
    assert (assignment["canary_pods"], assignment["stable_pods"]) == (1, 0)


def test_stale_pods_leave_the_live_set(env: Env) -> None:
    """A pod that stopped reporting (older than ``observed_ttl_seconds``) is not counted: the
    remaining pod is the only live one and serves the canary."""
    pods = _setup(env, "digits", 0.5)
    split = settle(env.client, API, "digits", pods)
    stable = next(p for p, models in split.items() if models["digits"][1] == "primary")
    canary = next(p for p in pods if p != stable)
    db = env.client.app.state.db  # type: ignore[attr-defined]
    with db.writing() as session:  # the canary pod's last report is an hour old
        session.execute(
            update(orm.ObservedModel)
            .where(orm.ObservedModel.pod == canary)
            .values(reported_at=utcnow() - timedelta(hours=1))
        )
        # An hour passing is simulated by rewriting the report; a cached answer learns of real
        # time passing from its expiry, of this rewrite from the generation a write bumps.
        session.execute(
            update(orm.InferenceService).values(generation=orm.InferenceService.generation + 1)
        )
    assert _assignment(env, "digits")["canary_pods"] == 0  # the empty side is visible
    assert poll(env.client, API, "digits", [stable]) == {stable: {"digits": (2, "canary")}}
    # The stale pod comes back: it asks (it is live again) and the split settles to one each.
    assert _roles(settle(env.client, API, "digits", pods)) == ["canary", "primary"]


def test_a_forgotten_pod_leaves_the_live_set(env: Env) -> None:
    pods = _setup(env, "digits", 0.5, pods=3)
    before = settle(env.client, API, "digits", pods)
    assert _roles(before) == ["canary", "canary", "primary"]
    gone = next(p for p, models in before.items() if models["digits"][1] == "canary")
    assert env.client.delete(f"{API}/services/digits/pods/{gone}").status_code == 204
    rest = [p for p in pods if p != gone]
    after = settle(env.client, API, "digits", rest)
    assert _roles(after) == ["canary", "primary"]
    assert all(after[p] == before[p] for p in rest)  # k went 2 -> 1: nobody else moved
