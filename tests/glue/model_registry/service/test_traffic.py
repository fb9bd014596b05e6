"""Per-version traffic: counters reported with pod status, summed over a window."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import update

from glue.model_registry import models as orm
from glue.model_registry.models import utcnow
from glue.model_registry.service.traffic import increase
from tests.glue.model_registry.conftest import Env

API = "/api/v1/teams/cv"


def _setup(env: Env) -> None:
    env.create_model()
    for n in (1, 2):
        env.client.post(f"{API}/models/digits/versions", json=env.version_body("digits", f"u{n}"))
    r = env.client.post(
        f"{API}/services",
        json={"name": "s", "assignments": [{"model": "digits", "version": 1}]},
    )
    assert r.status_code == 201, r.text


def _report(env: Env, pod: str, *traffic: dict[str, Any]) -> None:
    r = env.client.put(
        f"{API}/services/s/pods/{pod}/status",
        json={
            "models": [
                {"model": t["model"], "version": t["version"], "state": "READY"} for t in traffic
            ],
            "traffic": list(traffic),
        },
    )
    assert r.status_code == 200, r.text


def _t(version: int, success: int, failure: int, duration_us: int, p99_us: float | None = None):
    return {
        "model": "digits",
        "version": version,
        "success": success,
        "failure": failure,
        "duration_us": duration_us,
        "p99_us": p99_us,
    }


def _traffic(env: Env, window: float = 60) -> dict[int, dict[str, Any]]:
    r = env.client.get(f"{API}/services/s/traffic", params={"model": "digits", "window": window})
    assert r.status_code == 200, r.text
    return {v["version"]: v for v in r.json()["versions"]}


def test_increase_counts_restarts_from_zero() -> None:
    assert increase([]) == increase([5]) == 0
    assert increase([5, 7, 10]) == 5
    assert increase([5, 9, 2, 4]) == 4 + 2 + 2  # restarted after 9


def test_window_sums_per_version_over_pods(env: Env) -> None:
    _setup(env)
    _report(env, "a", _t(1, 10, 0, 10_000, 900.0))
    _report(env, "b", _t(2, 0, 0, 0))
    _report(env, "a", _t(1, 30, 2, 40_000, 1500.0))
    _report(env, "b", _t(2, 6, 4, 20_000, 4000.0))
    figures = _traffic(env)
    assert figures[1] == {
        "version": 1,
        "requests": 22,
        "failures": 2,
        "error_ratio": 2 / 22,
        "p99_ms": 1.5,
        "mean_ms": 30_000 / 22 / 1000,
        "pods": ["a"],
    }
    assert figures[2]["requests"] == 10 and figures[2]["error_ratio"] == 0.4
    assert figures[2]["p99_ms"] == 4.0 and figures[2]["pods"] == ["b"]


def test_the_last_sample_before_the_window_is_the_baseline_and_old_ones_drop_out(env: Env) -> None:
    _setup(env)
    _report(env, "a", _t(1, 100, 1, 0, 99_000.0))
    db = env.client.app.state.db  # type: ignore[attr-defined]
    with db.writing() as session:  # that sample is 5 minutes old now
        session.execute(update(orm.TrafficSample).values(at=utcnow() - timedelta(minutes=5)))
    assert _traffic(env) == {}  # nothing inside the window
    _report(env, "a", _t(1, 150, 3, 0, 2000.0))
    figures = _traffic(env)[1]
    assert (figures["requests"], figures["failures"]) == (52, 2)  # from the baseline 100/1
    assert figures["p99_ms"] == 2.0  # the old sample's p99 is outside the window
    assert figures["mean_ms"] == 0


def test_reports_without_traffic_and_bad_traffic(env: Env) -> None:
    _setup(env)
    r = env.client.put(
        f"{API}/services/s/pods/a/status",
        json={"models": [{"model": "digits", "version": 1, "state": "READY"}]},
    )
    assert r.status_code == 200  # older agents send no traffic
    twice = env.client.put(
        f"{API}/services/s/pods/a/status",
        json={"models": [], "traffic": [_t(1, 1, 0, 1), _t(1, 2, 0, 1)]},
    )
    assert twice.status_code == 422
    negative = env.client.put(
        f"{API}/services/s/pods/a/status", json={"models": [], "traffic": [_t(1, -1, 0, 1)]}
    )
    assert negative.status_code == 422
    assert (
        env.client.get(
            f"{API}/services/s/traffic", params={"model": "digits", "window": 0}
        ).status_code
        == 422
    )
    assert (
        env.client.get(f"{API}/services/nope/traffic", params={"model": "digits"}).status_code
        == 404
    )


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_traffic_must_be_of_versions_the_report_observes_and_the_service_is_assigned(
    env: Env,
) -> None:
    """Quoted: the stable pod ``stable-0`` reported traffic of the canary ``digits`` v3 and of a
    model ``nope`` v999 (both accepted), diluting the canary's error ratio."""
    _setup(env)
    serving_v1 = [{"model": "digits", "version": 1, "state": "READY"}]
    cases = [
        # A version the report does not observe (the pod serves v1, not v2).
        (serving_v1, [_t(2, 100_000, 0, 0)], "body.traffic[0]", "do not observe"),
        # A model the service is not assigned, after a good entry.
        (
            serving_v1,
            [_t(1, 5, 0, 0), {**_t(999, 1, 0, 0), "model": "nope"}],
            "body.traffic[1]",
            "has no assignment of model 'nope'",
        ),
        # Observed, but not a registered version.
        (
            [*serving_v1, {"model": "digits", "version": 9, "state": "READY"}],
            [_t(9, 1, 0, 0)],
            "body.traffic[0]",
            "has no version 9",
        ),
    ]
    for models, traffic, field, message in cases:
        r = env.client.put(
            f"{API}/services/s/pods/stable-0/status", json={"models": models, "traffic": traffic}
        )
        assert r.status_code == 422 and _fields(r) == [field], r.text
        assert message in r.json()["detail"]
    # Nothing of a refused report is kept: neither its state nor its counters.
    assert env.client.get(f"{API}/services/s").json()["observed"] == []
    assert _traffic(env) == {}
    _report(env, "stable-0", _t(1, 5, 0, 0))  # its own version: accepted
    assert _traffic(env)[1]["pods"] == ["stable-0"]


def test_traffic_numbers_are_json_numbers(env: Env) -> None:
    _setup(env)
    r = env.client.put(
        f"{API}/services/s/pods/a/status",
        json={
            "models": [{"model": "digits", "version": 1, "state": "READY"}],
            "traffic": [{**_t(1, 1, 0, 1), "p99_us": "900"}],
        },
    )
    assert r.status_code == 422 and _fields(r) == ["body.traffic[0].p99_us"]
