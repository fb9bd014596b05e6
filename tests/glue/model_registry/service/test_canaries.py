"""The canary rule: a canary not newer than the resolved primary is never served.

It is refused when assigned, cleared (audited, in the move's transaction) when an alias move
catches up with it, never handed out by ``desired`` should one be found in the database, and
the service's status flags every cleared or stale canary.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from glue.model_registry import models as orm
from tests.glue.model_registry.conftest import Env
from tests.glue.model_registry.service.agents import settle

API = "/api/v1/teams/cv"
PODS = [f"digits-{i}" for i in range(40)]


def _versions(env: Env, count: int) -> None:
    env.create_model()
    for n in range(1, count + 1):
        r = env.client.post(
            f"{API}/models/digits/versions", json=env.version_body("digits", f"u{n}")
        )
        assert r.status_code == 201, r.text


def _alias(env: Env, version: int, alias: str = "production") -> None:
    r = env.client.put(f"{API}/models/digits/aliases/{alias}", json={"version": version})
    assert r.status_code == 200, r.text


def _service(env: Env, **assignment: Any) -> dict[str, Any]:
    r = env.client.post(
        f"{API}/services",
        json={"name": "digits", "assignments": [{"model": "digits", **assignment}]},
    )
    assert r.status_code == 201, r.text
    return r.json()


def _served(env: Env) -> dict[str, tuple[int, str]]:
    """pod -> (version, role) for every test pod, once their agents' polls have settled (the
    canary goes to a share of the pods that reported)."""
    return {
        pod: models["digits"] for pod, models in settle(env.client, API, "digits", PODS).items()
    }


def _assignment(env: Env) -> dict[str, Any]:
    (assignment,) = env.client.get(f"{API}/services/digits").json()["assignments"]
    return assignment


def _fields(response: Any) -> list[str]:
    return [e["field"] for e in response.json()["errors"]]


def test_production_moved_past_the_canary_clears_it_audited_and_flagged(env: Env) -> None:
    """The quoted input: after `production` moved from v1 to v3, pods kept getting canary v2,
    and the service status did not flag it."""
    _versions(env, 3)
    _alias(env, 1)
    _service(env, alias="production", canary_version=2, canary_share=0.5)
    before = _served(env)
    assert {v for v, role in before.values() if role == "canary"} == {2}
    assert _assignment(env)["canary_status"] == "active"

    _alias(env, 3)

    assert set(_served(env).values()) == {(3, "primary")}  # no pod gets v2 any more
    assignment = _assignment(env)
    assert assignment["canary_version"] is None and assignment["canary_share"] is None
    assert assignment["resolved_version"] == 3
    assert assignment["canary_status"] == "cleared"
    assert assignment["canary_cleared"]["version"] == 2
    assert "moved to version 3" in assignment["canary_cleared"]["reason"]
    audit = env.client.get("/api/v1/audit", params={"team": "cv"}).json()["items"]
    assert [(e["action"], e["resource"]) for e in audit[:2]] == [
        ("canary.clear", "services/digits/canaries/digits"),
        ("alias.set", "models/digits/aliases/production"),
    ]
    assert audit[0]["detail"]["version"] == 2


def test_a_move_to_the_canary_itself_clears_it_and_an_older_primary_keeps_it(env: Env) -> None:
    _versions(env, 4)
    _alias(env, 1)
    _service(env, alias="production", canary_version=3, canary_share=0.5)
    _alias(env, 2)  # still older than the canary: it stays
    assert _assignment(env)["canary_status"] == "active"
    _alias(env, 3)  # equal: cleared
    assert _assignment(env)["canary_status"] == "cleared"


def test_a_canary_following_another_alias_is_untouched(env: Env) -> None:
    _versions(env, 3)
    _alias(env, 1)
    _alias(env, 1, "staging")
    _service(env, alias="production", canary_version=2, canary_share=0.5)
    _alias(env, 3, "staging")
    assert _assignment(env)["canary_status"] == "active"


def test_rollback_that_moves_past_the_canary_clears_it(env: Env) -> None:
    _versions(env, 3)
    _alias(env, 3)
    _alias(env, 1)
    _service(env, alias="production", canary_version=2, canary_share=0.5)
    r = env.client.post(f"{API}/models/digits/aliases/production/rollback")
    assert r.status_code == 200 and r.json()["to_version"] == 3
    assert _assignment(env)["canary_status"] == "cleared"


def test_a_canary_not_newer_than_the_primary_is_refused_when_assigned(env: Env) -> None:
    _versions(env, 3)
    _alias(env, 2)
    for canary in (1, 2):
        r = env.client.post(
            f"{API}/services",
            json={
                "name": "digits",
                "assignments": [
                    {
                        "model": "digits",
                        "alias": "production",
                        "canary_version": canary,
                        "canary_share": 0.5,
                    }
                ],
            },
        )
        assert r.status_code == 422 and _fields(r) == ["body.assignments[0].canary_version"]
        assert "not newer than the primary" in r.json()["detail"]
    r = env.client.post(
        f"{API}/services",
        json={
            "name": "digits",
            "assignments": [
                {"model": "digits", "version": 3, "canary_version": 2, "canary_share": 0.5}
            ],
        },
    )
    assert r.status_code == 422 and _fields(r) == ["body.assignments[0].canary_version"]
    _service(env, alias="production")
    r = env.client.put(
        f"{API}/services/digits/assignments",
        json={
            "assignments": [
                {"model": "digits", "alias": "production", "canary_version": 1, "canary_share": 0.3}
            ]
        },
    )
    assert r.status_code == 422 and _fields(r) == ["body.assignments[0].canary_version"]


def test_a_canary_of_an_unset_alias_is_allowed(env: Env) -> None:
    _versions(env, 1)
    _service(env, alias="production", canary_version=1, canary_share=0.5)
    assert _assignment(env)["canary_status"] == "active"


def test_set_and_clear_canary_routes(env: Env) -> None:
    _versions(env, 3)
    _alias(env, 2)
    _service(env, alias="production")
    older = env.client.put(
        f"{API}/services/digits/canaries/digits", json={"version": 2, "share": 0.5}
    )
    assert older.status_code == 422 and _fields(older) == ["body.version"]
    missing = env.client.put(
        f"{API}/services/digits/canaries/digits", json={"version": 9, "share": 0.5}
    )
    assert missing.status_code == 422 and _fields(missing) == ["body.version"]
    other = env.client.put(
        f"{API}/services/digits/canaries/other", json={"version": 3, "share": 0.5}
    )
    assert other.status_code == 404 and _fields(other) == ["path.model"]
    started = env.client.put(
        f"{API}/services/digits/canaries/digits", json={"version": 3, "share": 0.5}
    )
    assert started.status_code == 200, started.text
    assert started.json()["assignments"][0]["canary_status"] == "active"
    served = _served(env)
    assert sorted(v for v, _ in served.values()) == [2] * 20 + [3] * 20  # half of 40 pods
    assert _served(env) == served  # asked again, every pod keeps its side
    assignment = _assignment(env)
    assert (assignment["canary_pods"], assignment["stable_pods"]) == (20, 20)

    cleared = env.client.delete(
        f"{API}/services/digits/canaries/digits", params={"reason": "error ratio 0.4 > 0.01"}
    )
    assert cleared.status_code == 200, cleared.text
    assignment = cleared.json()["assignments"][0]
    assert assignment["canary_status"] == "cleared"
    assert assignment["canary_cleared"]["version"] == 3
    assert assignment["canary_cleared"]["reason"] == "error ratio 0.4 > 0.01"
    assert set(_served(env).values()) == {(2, "primary")}
    actions = [e["action"] for e in env.client.get("/api/v1/audit").json()["items"][:2]]
    assert actions == ["canary.clear", "canary.set"]

    again = env.client.delete(f"{API}/services/digits/canaries/digits")
    assert again.status_code == 200
    assert again.json()["assignments"][0]["canary_cleared"]["version"] == 3  # unchanged
    clears = env.client.get("/api/v1/audit", params={"action": "canary.clear"}).json()
    assert clears["total"] == 1  # nothing cleared, nothing audited

    # A new canary resets the record; replacing the assignments without one keeps it.
    env.client.put(f"{API}/services/digits/canaries/digits", json={"version": 3, "share": 0.2})
    assert _assignment(env)["canary_cleared"] is None
    env.client.delete(f"{API}/services/digits/canaries/digits", params={"reason": "r"})
    r = env.client.put(
        f"{API}/services/digits/assignments",
        json={"assignments": [{"model": "digits", "alias": "production"}]},
    )
    assert r.status_code == 200
    assert r.json()["assignments"][0]["canary_cleared"]["reason"] == "r"


def test_a_stale_canary_found_in_the_database_is_never_served_and_is_flagged(env: Env) -> None:
    """Rows written before the rule (or by hand) are not trusted: ``desired`` skips them."""
    _versions(env, 3)
    _alias(env, 1)
    _service(env, alias="production", canary_version=2, canary_share=0.5)
    db = env.client.app.state.db  # type: ignore[attr-defined]
    with db.writing() as session:  # production moves without the service layer
        v3 = session.scalar(
            orm.ModelVersion.__table__.select()
            .with_only_columns(orm.ModelVersion.id)
            .where(orm.ModelVersion.version == 3)
        )
        session.execute(update(orm.Alias).values(version_id=v3))
    assert set(_served(env).values()) == {(3, "primary")}
    assert _assignment(env)["canary_status"] == "stale"
