"""Session dependencies: a write route's transaction ends before its response is sent."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Request
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from glue.model_registry.auth.principal import Principal, Unauthenticated
from glue.model_registry.deps import authenticated
from tests.glue.model_registry.conftest import Env

API = "/api/v1/teams/cv"


def test_a_failed_commit_is_answered_as_an_error_and_writes_nothing(env: Env) -> None:
    engine = env.client.app.state.db.engine

    def refuse(_connection: Any) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(engine, "commit", refuse)
    try:
        r = env.client.post(f"{API}/models", json={"name": "digits", "team": "cv"})
    finally:
        event.remove(engine, "commit", refuse)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert env.client.get(f"{API}/models").json()["total"] == 0
    assert (
        env.client.post(f"{API}/models", json={"name": "digits", "team": "cv"}).status_code == 201
    )


def test_reads_never_commit(env: Env) -> None:
    env.create_model()
    engine = env.client.app.state.db.engine
    commits: list[object] = []

    def count(connection: Any) -> None:
        commits.append(connection)

    event.listen(engine, "commit", count)
    try:
        assert env.client.get(f"{API}/models/digits").status_code == 200
        assert env.client.get(f"{API}/models").status_code == 200
        assert env.client.get("/readyz").json()["database"] == "sqlite"
    finally:
        event.remove(engine, "commit", count)
    assert commits == []


def test_authenticated_is_the_caller_the_team_dependency_resolved() -> None:
    """``authenticated`` hands a route the principal ``caller`` stored for the request, and
    refuses (401) a request no ``caller`` ran for, rather than acting as nobody."""
    request = Request({"type": "http", "headers": [], "state": {}})
    with pytest.raises(Unauthenticated):
        authenticated(request)
    who = Principal(name="alice", groups=frozenset({"cv"}))
    request.state.principal = who
    assert authenticated(request) is who
