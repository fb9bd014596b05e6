"""Generation counters: every write that can change a read-path answer changes its token, in
the write's transaction; reads and steady heartbeats change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from glue.model_registry.service import generations
from glue.model_registry.service.generations import Token
from tests.glue.model_registry.conftest import Env

API = "/api/v1/teams/cv"


@pytest.fixture
def seeded(env: Env) -> Env:
    env.create_model()
    for n in (1, 2, 3):
        r = env.client.post(
            f"{API}/models/digits/versions", json=env.version_body("digits", f"u{n}")
        )
        assert r.status_code == 201, r.text
    assert env.client.put(f"{API}/models/digits/aliases/production", json={"version": 1}).is_success
    r = env.client.post(
        f"{API}/services",
        json={"name": "svc", "assignments": [{"model": "digits", "alias": "production"}]},
    )
    assert r.status_code == 201, r.text
    return env


def _tokens(env: Env) -> tuple[Token | None, Token | None]:
    db = env.client.app.state.db  # type: ignore[attr-defined]
    with db.engine.connect() as connection:
        return (
            generations.service_token(connection, team="cv", name="svc"),
            generations.model_token(connection, team="cv", name="digits"),
        )


def _report(env: Env, pod: str, *versions: int) -> None:
    models = [{"model": "digits", "version": v, "state": "READY"} for v in versions]
    r = env.client.put(f"{API}/services/svc/pods/{pod}/status", json={"models": models})
    assert r.status_code == 200, r.text


def test_tokens_name_the_resource_and_missing_ones_are_none(seeded: Env) -> None:
    service, model = _tokens(seeded)
    assert service is not None and model is not None
    assert len(service[2]) == 1 and service[2][0][0] == model[0]
    db = seeded.client.app.state.db  # type: ignore[attr-defined]
    with db.engine.connect() as connection:
        assert generations.service_token(connection, team="cv", name="nope") is None
        assert generations.model_token(connection, team="other", name="digits") is None
        many = generations.service_tokens(connection, [("cv", "svc"), ("cv", "nope")])
        assert many == {("cv", "svc"): service}
        assert generations.model_tokens(connection, [("cv", "digits")]) == {("cv", "digits"): model}


def test_reads_never_change_a_token(seeded: Env) -> None:
    before = _tokens(seeded)
    for _ in range(3):
        assert seeded.client.get(f"{API}/services/svc/desired", params={"pod": "p"}).is_success
        assert seeded.client.get(f"{API}/models/digits/versions/production").is_success
        assert seeded.client.get(f"{API}/services/svc").is_success
        assert seeded.client.get(f"{API}/models/digits/aliases/history").is_success
    assert _tokens(seeded) == before


WRITES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("alias move", "PUT", f"{API}/models/digits/aliases/production", {"version": 2}),
    (
        "assignments",
        "PUT",
        f"{API}/services/svc/assignments",
        {"assignments": [{"model": "digits", "version": 3}]},
    ),
    ("canary set", "PUT", f"{API}/services/svc/canaries/digits", {"version": 3, "share": 0.5}),
]


@pytest.mark.parametrize(("what", "method", "path", "body"), WRITES, ids=[w[0] for w in WRITES])
def test_each_write_that_changes_the_answer_changes_the_service_token(
    seeded: Env, what: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    before, _ = _tokens(seeded)
    r = seeded.client.request(method, path, json=body)
    assert r.is_success, r.text
    assert _tokens(seeded)[0] != before, what


def test_an_alias_move_changes_the_model_token_and_a_rollback_again(seeded: Env) -> None:
    _, before = _tokens(seeded)
    assert seeded.client.put(
        f"{API}/models/digits/aliases/production", json={"version": 2}
    ).is_success
    _, moved = _tokens(seeded)
    assert moved != before
    assert seeded.client.post(f"{API}/models/digits/aliases/production/rollback").is_success
    assert _tokens(seeded)[1] not in (before, moved)


def test_a_version_registration_changes_both_tokens(seeded: Env) -> None:
    service, model = _tokens(seeded)
    r = seeded.client.post(
        f"{API}/models/digits/versions", json=seeded.version_body("digits", "u4")
    )
    assert r.status_code == 201
    assert _tokens(seeded) != (service, model) and _tokens(seeded)[1][2] == 4  # type: ignore[index]


def test_canary_clear_changes_the_token_and_clearing_nothing_does_not(seeded: Env) -> None:
    path = f"{API}/services/svc/canaries/digits"
    assert seeded.client.put(path, json={"version": 3, "share": 0.5}).is_success
    before, _ = _tokens(seeded)
    assert seeded.client.delete(path).is_success
    cleared, _ = _tokens(seeded)
    assert cleared != before
    assert seeded.client.delete(path).is_success  # no canary: nothing changes
    assert _tokens(seeded)[0] == cleared


def test_an_alias_move_that_clears_a_canary_changes_the_service_token(seeded: Env) -> None:
    assert seeded.client.put(
        f"{API}/services/svc/canaries/digits", json={"version": 2, "share": 0.5}
    ).is_success
    before, _ = _tokens(seeded)
    assert seeded.client.put(
        f"{API}/models/digits/aliases/production", json={"version": 2}
    ).is_success
    service = seeded.client.get(f"{API}/services/svc").json()
    assert service["assignments"][0]["canary_status"] == "cleared"
    assert _tokens(seeded)[0] != before


def test_pod_reports_change_the_token_only_when_a_canary_can_see_them(seeded: Env) -> None:
    before, _ = _tokens(seeded)
    _report(seeded, "p1", 1)  # no canary: the live set does not matter
    _report(seeded, "p2", 1)
    assert _tokens(seeded)[0] == before
    assert seeded.client.put(
        f"{API}/services/svc/canaries/digits", json={"version": 3, "share": 0.5}
    ).is_success
    canary, _ = _tokens(seeded)
    _report(seeded, "p1", 1)  # steady heartbeat: same versions, fresh
    assert _tokens(seeded)[0] == canary
    _report(seeded, "p3", 1)  # a new live pod
    joined, _ = _tokens(seeded)
    assert joined != canary
    _report(seeded, "p1", 3)  # what a pod serves changed
    switched, _ = _tokens(seeded)
    assert switched != joined
    assert seeded.client.delete(f"{API}/services/svc/pods/p3").status_code == 204  # pod gone
    assert _tokens(seeded)[0] != switched
