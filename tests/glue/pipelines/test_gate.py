"""The canary gate against a real registry served on loopback (its database shared with the
``env`` app that sets the scene; pod reports stand in for the serving agents)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from glue.model_registry.client import RegistryClient, RegistryError
from glue.model_registry.service.inference import canary_pods
from glue.pipelines import gate
from tests.glue.model_registry.conftest import Env, env
from tests.support.registry import RegistryServer

__all__ = ["env"]  # the registry tests' fixture: the app that sets the scene

API = "/api/v1/teams/cv"
#: Thresholds of the tests' gate.
LIMITS: dict[str, Any] = {
    "window_s": 60,
    "max_error_ratio": 0.01,
    "max_p99_ratio": 1.5,
    "min_requests": 20,
}


@pytest.fixture
def client(env: Env, registry: RegistryServer) -> Iterator[RegistryClient]:
    """A registry with digits v1..v3, production -> 1, service ``s`` following production."""
    env.create_model()
    for n in (1, 2, 3):
        env.client.post(f"{API}/models/digits/versions", json=env.version_body("digits", f"u{n}"))
    env.client.put(f"{API}/models/digits/aliases/production", json={"version": 1})
    r = env.client.post(
        f"{API}/services",
        json={"name": "s", "assignments": [{"model": "digits", "alias": "production"}]},
    )
    assert r.status_code == 201, r.text
    with registry.client() as c:
        yield c


def _serve(env: Env, pod: str, version: int, counts: list[tuple[int, int, float]]) -> None:
    """Report ``pod`` serving ``version`` with cumulative (success, failure, p99 ms) samples."""
    for success, failure, p99 in counts:
        r = env.client.put(
            f"{API}/services/s/pods/{pod}/status",
            json={
                "models": [{"model": "digits", "version": version, "state": "READY"}],
                "traffic": [
                    {
                        "model": "digits",
                        "version": version,
                        "success": success,
                        "failure": failure,
                        "duration_us": (success + failure) * 1000,
                        "p99_us": p99 * 1000,
                    }
                ],
            },
        )
        assert r.status_code == 200, r.text


def _verify(client: RegistryClient, canary: int = 3) -> gate.GateResult:
    return gate.verify(client, service="s", model="digits", canary=canary, **LIMITS)


def test_bad_canary_fails_the_gate_and_rollback_clears_it(env: Env, client: RegistryClient) -> None:
    gate.start_canary(client, service="s", model="digits", version=3, share=0.5)
    _serve(env, "stable-0", 1, [(0, 0, 2.0), (100, 0, 2.0)])
    _serve(env, "canary-0", 3, [(0, 0, 2.0), (60, 40, 2.0)])
    result = _verify(client)
    assert not result.passed
    assert "error ratio 0.4000 (40/100) > 0.01" in result.reason
    assert result.figures["canary"]["failures"] == 40 and result.figures["stable_version"] == 1

    gate.rollback(client, service="s", model="digits", version=3, reason=result.reason)
    (assignment,) = client.get_service("s").assignments
    assert assignment.canary_version is None and assignment.canary_status == "cleared"
    assert assignment.canary_cleared is not None
    assert (
        assignment.canary_cleared.version == 3 and "error ratio" in assignment.canary_cleared.reason
    )
    assert client.audit(action="canary.clear").items[0].detail["reason"] == result.reason
    assert {d.version for d in [*client.desired_state("s", "canary-0").models]} == {1}


def test_good_canary_passes_and_release_moves_production(env: Env, client: RegistryClient) -> None:
    gate.start_canary(client, service="s", model="digits", version=3, share=0.5)
    _serve(env, "stable-0", 1, [(0, 0, 2.0), (100, 0, 2.0)])
    _serve(env, "canary-0", 3, [(0, 0, 2.5), (50, 0, 2.5)])
    result = _verify(client)
    assert result.passed, result.reason
    assert result.figures["p99_ratio"] == pytest.approx(1.25)

    gate.release(client, service="s", model="digits", version=3, reason=result.reason)
    assert client.get_model("digits").aliases["production"] == 3
    (assignment,) = client.get_service("s").assignments
    assert assignment.resolved_version == 3 and assignment.canary_version is None
    assert client.alias_history("digits").items[0].reason == result.reason


@pytest.mark.parametrize(
    ("canary", "stable", "expected"),
    [
        ([(0, 0, 2.0), (10, 0, 2.0)], [(0, 0, 2.0), (100, 0, 2.0)], "fewer than 20"),
        ([(0, 0, 5.0), (50, 0, 5.0)], [(0, 0, 2.0), (100, 0, 2.0)], "2.50x stable's"),
        ([(0, 0, 2.0), (50, 0, 2.0)], [], "stable version 1 served no requests"),
    ],
)
def test_gate_refuses_on_thin_traffic_slow_canary_or_nothing_to_compare(
    env: Env, client: RegistryClient, canary: Any, stable: Any, expected: str
) -> None:
    gate.start_canary(client, service="s", model="digits", version=3, share=0.5)
    _serve(env, "canary-0", 3, canary)
    if stable:
        _serve(env, "stable-0", 1, stable)
    result = _verify(client)
    assert not result.passed and expected in result.reason


def test_gate_fails_for_a_version_that_is_not_the_active_canary(client: RegistryClient) -> None:
    result = _verify(client, canary=2)
    assert not result.passed and "not the active canary" in result.reason


def test_start_canary_refuses_a_version_not_newer_than_production(client: RegistryClient) -> None:
    with pytest.raises(RegistryError) as caught:
        gate.start_canary(client, service="s", model="digits", version=1, share=0.5)
    assert caught.value.status == 422


def test_rollback_leaves_another_canary_alone(client: RegistryClient) -> None:
    gate.start_canary(client, service="s", model="digits", version=2, share=0.5)
    gate.rollback(client, service="s", model="digits", version=3, reason="not this one")
    assert client.get_service("s").assignments[0].canary_status == "active"


# ---------------------------------------------------------------------------------------------
# thresholds that judge nothing


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_error_ratio", float("nan")),
        ("max_error_ratio", float("inf")),
        ("max_p99_ratio", float("nan")),
        ("max_p99_ms", float("nan")),
        ("window_s", float("nan")),
        ("max_error_ratio", 1.5),
    ],
)
def test_verify_refuses_a_threshold_that_is_not_finite(
    env: Env, client: RegistryClient, key: str, value: float
) -> None:
    """The trial's canary with 100% errors passed with ``max_error_ratio=nan`` ("error ratio
    1.0000 <= nan"): the gate itself refuses such thresholds, whoever calls it."""
    gate.start_canary(client, service="s", model="digits", version=3, share=0.5)
    _serve(env, "stable-0", 1, [(0, 0, 2.0), (100, 0, 2.0)])
    _serve(env, "canary-0", 3, [(0, 0, 2.0), (0, 100, 2.0)])
    with pytest.raises(ValueError, match=key):
        gate.verify(client, service="s", model="digits", canary=3, **{**LIMITS, key: value})


# ---------------------------------------------------------------------------------------------
# waiting for the canary to load and serve before judging


def _pods(share: float, *, canary: bool, count: int, live: int) -> list[str]:
    """``count`` of the ``live`` pods ``s-0``.. of service ``s`` that the registry puts in (or
    out of) the canary share when exactly those pods are live (its own rule, ``canary_pods``)."""
    names = [f"s-{n}" for n in range(live)]
    chosen = canary_pods(service="s", live=names, serving=(), share=share)
    return [p for p in names if (p in chosen) == canary][:count]


def _report(env: Env, pod: str, version: int, state: str, error: str | None = None) -> None:
    r = env.client.put(
        f"{API}/services/s/pods/{pod}/status",
        json={"models": [{"model": "digits", "version": version, "state": state, "error": error}]},
    )
    assert r.status_code == 200, r.text


class Clock:
    """A monotonic clock that ``sleep`` advances, running each scheduled action (what the
    agents report meanwhile) at its sleep."""

    def __init__(self, actions: list[Any]) -> None:
        self.now = 0.0
        self.slept: list[float] = []
        self.actions = actions

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept.append(seconds)
        if self.actions:
            self.actions.pop(0)()


def _wait_and_verify(client: RegistryClient, clock: Clock, timeout: float) -> gate.GateResult:
    return gate.wait_and_verify(
        client,
        service="s",
        model="digits",
        canary=3,
        ready_timeout_s=timeout,
        interval_s=1.0,
        clock=clock,
        sleep=clock.sleep,
        **LIMITS,
    )


def test_a_canary_that_becomes_ready_and_serves_enough_passes(
    env: Env, client: RegistryClient
) -> None:
    """Right after the canary step the canary pods still load the version: the gate waits until
    each reports it READY, then for the window's traffic, then judges (the trial's pipeline
    judged at once and rolled back a good version: "canary served 0 requests")."""
    gate.start_canary(client, service="s", model="digits", version=3, share=0.5)
    [stable] = _pods(0.5, canary=False, count=1, live=3)
    first, second = _pods(0.5, canary=True, count=2, live=3)
    _report(env, stable, 1, "READY")
    _report(env, first, 3, "LOADING")
    _report(env, second, 3, "READY")
    clock = Clock(
        [
            lambda: None,  # still loading after the first poll
            lambda: _report(env, first, 3, "READY"),
            lambda: (
                _serve(env, stable, 1, [(0, 0, 2.0), (100, 0, 2.0)]),
                _serve(env, first, 3, [(0, 0, 2.0), (30, 0, 2.0)]),
                _serve(env, second, 3, [(0, 0, 2.0), (30, 0, 2.0)]),
            ),
        ]
    )
    result = _wait_and_verify(client, clock, timeout=30)
    assert result.passed, result.reason
    assert result.figures["canary"]["requests"] == 60
    assert clock.slept == [1.0, 1.0, LIMITS["window_s"]]  # two polls, then the window


def test_a_canary_that_never_loads_fails_saying_so(env: Env, client: RegistryClient) -> None:
    gate.start_canary(client, service="s", model="digits", version=3, share=0.5)
    [stable] = _pods(0.5, canary=False, count=1, live=2)
    [pod] = _pods(0.5, canary=True, count=1, live=2)
    _report(env, stable, 1, "READY")
    _report(env, pod, 3, "LOADING")
    clock = Clock([])
    result = _wait_and_verify(client, clock, timeout=5)
    assert not result.passed
    assert result.reason == (
        f"canary version 3 not READY on every canary pod of 's' after 5s: {pod} LOADING"
    )
    assert LIMITS["window_s"] not in clock.slept and clock.now == 5


def test_a_canary_pod_that_fails_to_load_ends_the_wait(env: Env, client: RegistryClient) -> None:
    gate.start_canary(client, service="s", model="digits", version=3, share=0.5)
    [pod] = _pods(0.5, canary=True, count=1, live=1)
    _report(env, pod, 3, "FAILED", error="model.onnx: invalid protobuf")
    clock = Clock([])
    result = _wait_and_verify(client, clock, timeout=600)
    assert not result.passed and clock.slept == []
    assert (
        result.reason == f"canary pod {pod} failed to load version 3: model.onnx: invalid protobuf"
    )


def test_no_pod_in_the_canary_share_is_not_ready(env: Env, client: RegistryClient) -> None:
    """No live pod at all (none has reported): nothing serves the canary, so nothing is judged
    (with one live pod, that pod serves the canary: ``canary_count``)."""
    gate.start_canary(client, service="s", model="digits", version=3, share=0.5)
    result = _wait_and_verify(client, Clock([]), timeout=2)
    assert not result.passed and "no pod of 's' is in the canary share yet" in result.reason


def test_wait_and_verify_refuses_non_finite_thresholds(client: RegistryClient) -> None:
    with pytest.raises(ValueError, match="max_p99_ms"):
        gate.wait_and_verify(
            client, service="s", model="digits", canary=3, ready_timeout_s=1,
            **{**LIMITS, "max_p99_ms": float("nan")},
        )  # fmt: skip


def _report_traffic(
    env: Env, pod: str, models: list[tuple[str, int]], traffic: list[dict[str, Any]]
):
    return env.client.put(
        f"{API}/services/s/pods/{pod}/status",
        json={
            "models": [{"model": m, "version": v, "state": "READY"} for m, v in models],
            "traffic": traffic,
        },
    )


def test_a_stable_pod_cannot_dilute_the_canary(env: Env, client: RegistryClient) -> None:
    """Quoted: ``stable-0`` reported 100000 successes of the canary ``digits`` v3 and traffic of
    a model ``nope`` v999 (both 200); a canary with 100/100 failures then passed "100100
    requests, error ratio 0.0010"."""
    gate.start_canary(client, service="s", model="digits", version=3, share=0.5)
    counters = {"success": 100_000, "failure": 0, "duration_us": 100_000_000, "p99_us": 2000.0}
    diluting = _report_traffic(
        env, "stable-0", [("digits", 1)], [{"model": "digits", "version": 3, **counters}]
    )
    assert diluting.status_code == 422
    assert [e["field"] for e in diluting.json()["errors"]] == ["body.traffic[0]"]
    unknown = _report_traffic(
        env,
        "stable-0",
        [("digits", 1), ("nope", 999)],
        [
            {"model": "digits", "version": 1, **counters},
            {"model": "nope", "version": 999, **counters},
        ],
    )
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["body.traffic[1]"]
    _serve(env, "stable-0", 1, [(0, 0, 2.0), (100, 0, 2.0)])
    _serve(env, "canary-0", 3, [(0, 0, 2.0), (0, 100, 2.0)])
    result = _verify(client)
    assert not result.passed
    assert "error ratio 1.0000 (100/100) > 0.01" in result.reason
    assert result.figures["canary"]["pods"] == ["canary-0"]


def test_a_single_pod_service_has_no_stable_side_and_verify_says_so(
    env: Env, client: RegistryClient
) -> None:
    """One live pod serves the canary; the gate has no stable traffic to compare with: it fails
    when latency is judged and says why; on the error ratio alone it passes and says so."""
    gate.start_canary(client, service="s", model="digits", version=3, share=0.2)
    assert client.desired_state("s", "only-0").models[0].role == "canary"
    _serve(env, "only-0", 3, [(0, 0, 2.0), (50, 0, 2.0)])
    result = _verify(client)
    assert not result.passed
    assert "no live pod serves stable version 1 (1 serve the canary)" in result.reason
    assert (result.figures["canary_pods"], result.figures["stable_pods"]) == (1, 0)
    ratio_only = gate.verify(
        client, service="s", model="digits", canary=3, window_s=60, max_error_ratio=0.01
    )
    assert ratio_only.passed
    assert "no live pod serves stable version 1" in ratio_only.reason
    assert "nothing to compare with" in ratio_only.reason


def test_share_must_be_a_json_number(env: Env, client: RegistryClient) -> None:
    """Quoted: ``PUT canaries`` accepted ``share: "0.5"``, a string."""
    for share in ("0.5", True, 0, 1, None):
        r = env.client.put(f"{API}/services/s/canaries/digits", json={"version": 3, "share": share})
        assert r.status_code == 422, (share, r.text)
        assert [e["field"] for e in r.json()["errors"]] == ["body.share"]
    assert (
        env.client.put(
            f"{API}/services/s/canaries/digits", json={"version": 3, "share": 0.5}
        ).status_code
        == 200
    )
