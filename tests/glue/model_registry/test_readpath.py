"""The agents' read path over HTTP: ETags and 304s, long-polls that wake on writes and time out,
two app instances on one database, and ``wait`` validation (``glue.model_registry.readpath``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from structlog.testing import capture_logs

from glue.model_registry.app import create_app
from glue.model_registry.db import Database
from glue.model_registry.readpath import ReadPath, Watcher, WatchKey, etag_matches, etag_of
from glue.model_registry.service import generations
from glue.model_registry.service.generations import Token
from tests.glue.model_registry.conftest import Env
from tests.support.registry import RegistryServer, registry_settings

API = "/api/v1/teams/cv"
DESIRED = f"{API}/services/svc/desired"
PRODUCTION = f"{API}/models/digits/versions/production"


def _seed(env: Env) -> None:
    """Model ``digits`` v1..v3, ``production`` -> 1, service ``svc`` following it."""
    env.create_model()
    for n in (1, 2, 3):
        r = env.client.post(
            f"{API}/models/digits/versions", json=env.version_body("digits", f"u{n}")
        )
        assert r.status_code == 201, r.text
    _move(env.client, 1)
    r = env.client.post(
        f"{API}/services",
        json={"name": "svc", "assignments": [{"model": "digits", "alias": "production"}]},
    )
    assert r.status_code == 201, r.text


def _move(client: TestClient, version: int) -> None:
    r = client.put(f"{API}/models/digits/aliases/production", json={"version": version})
    assert r.status_code == 200, r.text


def _desired(client: TestClient, pod: str = "p1", **headers: str) -> tuple[int, str, dict]:
    r = client.get(DESIRED, params={"pod": pod}, headers=headers)
    return r.status_code, r.headers.get("etag", ""), (r.json() if r.content else {})


@pytest.fixture
def seeded(env: Env) -> Env:
    _seed(env)
    return env


def test_etag_of_is_strong_and_matching_follows_rfc_9110() -> None:
    tag = etag_of(b"{}")
    assert tag.startswith('"') and tag.endswith('"') and tag == etag_of(b"{}")
    assert etag_matches(tag, tag)
    assert etag_matches(f'"other", W/{tag}', tag)
    assert etag_matches("*", tag)
    assert not etag_matches('"other"', tag) and not etag_matches(None, tag)


def test_desired_answers_carry_an_etag_and_a_matching_one_is_304(seeded: Env) -> None:
    status, etag, body = _desired(seeded.client)
    assert status == 200 and etag and body["models"][0]["version"] == 1
    r = seeded.client.get(DESIRED, params={"pod": "p1"}, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    # Another pod's answer names the pod: its own ETag.
    assert _desired(seeded.client, "p2")[1] != etag
    _move(seeded.client, 2)
    status, moved, body = _desired(seeded.client, **{"If-None-Match": etag})
    assert status == 200 and moved != etag and body["models"][0]["version"] == 2


def test_the_304_etag_equals_the_200_one_and_the_body_is_the_api_view(seeded: Env) -> None:
    first = seeded.client.get(DESIRED, params={"pod": "p1"})
    again = seeded.client.get(DESIRED, params={"pod": "p1"})
    assert first.headers["etag"] == again.headers["etag"] and first.content == again.content
    assert set(first.json()) == {"service", "pod", "models", "unresolved"}


def test_alias_resolution_has_etags_too_and_an_alias_move_changes_it(seeded: Env) -> None:
    r = seeded.client.get(PRODUCTION)
    assert r.status_code == 200 and r.json()["version"] == 1
    etag = r.headers["etag"]
    assert seeded.client.get(PRODUCTION, headers={"If-None-Match": etag}).status_code == 304
    _move(seeded.client, 3)
    r = seeded.client.get(PRODUCTION, headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.json()["version"] == 3 and r.headers["etag"] != etag
    # A version by number lists the aliases pointing at it: the move changed v1's answer too.
    assert (
        "production" not in seeded.client.get(f"{API}/models/digits/versions/1").json()["aliases"]
    )


def test_missing_resources_are_still_404_problems(seeded: Env) -> None:
    r = seeded.client.get(f"{API}/services/nope/desired", params={"pod": "p1"})
    assert r.status_code == 404 and r.json()["errors"][0]["field"] == "path.service"
    r = seeded.client.get(f"{API}/models/nope/versions/production")
    assert r.status_code == 404


@pytest.mark.parametrize("wait", ["-1", "abc", "nan", "inf", "-inf"])
def test_a_bad_wait_is_a_422_naming_the_query_parameter(seeded: Env, wait: str) -> None:
    for path, params in ((DESIRED, {"pod": "p1", "wait": wait}), (PRODUCTION, {"wait": wait})):
        r = seeded.client.get(path, params=params)
        assert r.status_code == 422, r.text
        assert [e["field"] for e in r.json()["errors"]] == ["query.wait"]
        if wait != "abc":  # says what is valid, not pydantic's "greater than or equal to 0"
            assert "finite number of seconds, 0 or more" in r.json()["errors"][0]["message"]


def test_a_wait_beyond_the_maximum_is_taken_as_the_maximum(tmp_path: Path) -> None:
    """LONG_POLL_MAX_SECONDS=1 and an agent asking for 5 (its poll interval): held 1 s, 304.
    With 0 (long-polls off) any wait is answered at once."""
    for maximum in (1.0, 0.0):
        (tmp_path / str(maximum)).mkdir()
        env = Env(tmp_path / str(maximum))
        settings = registry_settings(env.tmp).model_copy(update={"long_poll_max_seconds": maximum})
        env.client = TestClient(create_app(settings), raise_server_exceptions=False)
        with env.client:
            _seed(env)
            etag = _desired(env.client)[1]
            for wait in ("5", "1e9"):
                started = time.monotonic()
                r = env.client.get(
                    DESIRED, params={"pod": "p1", "wait": wait}, headers={"If-None-Match": etag}
                )
                held = time.monotonic() - started
                assert r.status_code == 304, r.text
                assert held >= maximum and (maximum or held < 10)


def test_repeated_if_none_match_lines_are_one_list(seeded: Env) -> None:
    etag = _desired(seeded.client)[1]
    r = seeded.client.get(
        DESIRED,
        params={"pod": "p1"},
        headers=[("If-None-Match", '"zzz"'), ("If-None-Match", etag)],
    )
    assert r.status_code == 304 and r.headers["etag"] == etag


def test_a_long_poll_times_out_with_304(seeded: Env) -> None:
    etag = _desired(seeded.client)[1]
    started = time.monotonic()
    r = seeded.client.get(
        DESIRED, params={"pod": "p1", "wait": 0.3}, headers={"If-None-Match": etag}
    )
    assert r.status_code == 304 and r.headers["etag"] == etag
    assert time.monotonic() - started >= 0.3


def test_a_long_poll_without_a_matching_etag_answers_at_once(seeded: Env) -> None:
    started = time.monotonic()
    r = seeded.client.get(DESIRED, params={"pod": "p1", "wait": 30})
    assert r.status_code == 200 and time.monotonic() - started < 10


def _move_later(client: TestClient, version: int, delay: float) -> threading.Thread:
    def move() -> None:
        time.sleep(delay)
        _move(client, version)

    thread = threading.Thread(target=move)
    thread.start()
    return thread


@pytest.mark.parametrize("path", [DESIRED, PRODUCTION])
def test_a_long_poll_wakes_on_an_alias_move(seeded: Env, path: str) -> None:
    params = {"pod": "p1"} if path == DESIRED else {}
    etag = seeded.client.get(path, params=params).headers["etag"]
    mover = _move_later(seeded.client, 2, 0.3)
    started = time.monotonic()
    r = seeded.client.get(path, params={**params, "wait": 30}, headers={"If-None-Match": etag})
    mover.join()
    assert r.status_code == 200 and r.headers["etag"] != etag
    body = r.json()
    assert (body["models"][0]["version"] if path == DESIRED else body["version"]) == 2
    assert time.monotonic() - started < 10  # woken by the move, not by the 30 s wait


def test_a_write_that_does_not_change_the_answer_keeps_the_poll_waiting(seeded: Env) -> None:
    """Another service's write wakes the check, not this answer: the poll times out with 304."""
    r = seeded.client.post(f"{API}/services", json={"name": "other", "assignments": []})
    assert r.status_code == 201
    etag = _desired(seeded.client)[1]

    def write() -> None:
        time.sleep(0.2)
        seeded.client.put(
            f"{API}/services/other/assignments",
            json={"assignments": [{"model": "digits", "version": 3}]},
        )

    writer = threading.Thread(target=write)
    writer.start()
    r = seeded.client.get(
        DESIRED, params={"pod": "p1", "wait": 1.0}, headers={"If-None-Match": etag}
    )
    writer.join()
    assert r.status_code == 304


@pytest.fixture(params=["sqlite", "postgresql"])
def two_apps(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Env, TestClient]]:
    """An ``Env`` and a second app instance (own cache, own watcher) on the same database:
    a SQLite file, or PostgreSQL (token reads batched off the event loop)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    env = Env(tmp_path)
    settings = registry_settings(tmp_path, url).model_copy(update={"long_poll_check_seconds": 0.05})
    env.settings = settings
    env.client = TestClient(create_app(settings), raise_server_exceptions=False)
    other = TestClient(create_app(settings), raise_server_exceptions=False)
    with env.client, other:
        _seed(env)
        yield env, other


def test_two_instances_on_one_database_never_serve_a_stale_answer(
    two_apps: tuple[Env, TestClient],
) -> None:
    env, other = two_apps
    status, etag, body = _desired(other)  # cached in the second instance
    assert status == 200 and body["models"][0]["version"] == 1
    assert _desired(env.client)[1] == etag  # same answer, same ETag, in either instance
    _move(env.client, 2)  # written through the first
    status, moved, body = _desired(other, **{"If-None-Match": etag})
    assert status == 200 and body["models"][0]["version"] == 2 and moved != etag
    assert other.get(PRODUCTION).json()["version"] == 2


def test_a_long_poll_in_one_instance_wakes_on_a_write_through_another(
    two_apps: tuple[Env, TestClient],
) -> None:
    env, other = two_apps
    etag = _desired(other)[1]
    mover = _move_later(env.client, 3, 0.3)
    started = time.monotonic()
    r = other.get(DESIRED, params={"pod": "p1", "wait": 30}, headers={"If-None-Match": etag})
    mover.join()
    assert r.status_code == 200 and r.json()["models"][0]["version"] == 3
    assert time.monotonic() - started < 10


def test_waiters_beyond_the_bound_are_answered_at_once(tmp_path: Path) -> None:
    env = Env(tmp_path)
    settings = registry_settings(tmp_path).model_copy(update={"long_poll_max_waiters": 0})
    env.client = TestClient(create_app(settings), raise_server_exceptions=False)
    with env.client:
        _seed(env)
        etag = _desired(env.client)[1]
        started = time.monotonic()
        r = env.client.get(
            DESIRED, params={"pod": "p1", "wait": 30}, headers={"If-None-Match": etag}
        )
        assert r.status_code == 304 and time.monotonic() - started < 10


def test_a_canary_answer_expires_when_a_live_pod_goes_stale(tmp_path: Path) -> None:
    """Without any write, the live set shrinks with time: the cached answer is not reused past
    the moment the first live pod's report goes stale."""
    env = Env(tmp_path)
    settings = registry_settings(tmp_path).model_copy(update={"observed_ttl_seconds": 1.0})
    env.client = TestClient(create_app(settings), raise_server_exceptions=False)
    with env.client:
        _seed(env)
        r = env.client.put(f"{API}/services/svc/canaries/digits", json={"version": 3, "share": 0.5})
        assert r.status_code == 200, r.text
        pods = ["p1", "p2"]
        roles: dict[str, str] = {}
        for pod in pods:
            (model,) = _desired(env.client, pod)[2]["models"]
            roles[pod] = model["role"]
            report = {
                "models": [{"model": "digits", "version": model["version"], "state": "READY"}]
            }
            put = env.client.put(f"{API}/services/svc/pods/{pod}/status", json=report)
            assert put.status_code == 200, put.text
        primary = next(
            p for p in pods if _desired(env.client, p)[2]["models"][0]["role"] == "primary"
        )
        time.sleep(1.2)  # both reports are stale now: the asking pod is the only live one
        assert _desired(env.client, primary)[2]["models"][0]["role"] == "canary"


# -- the database raises the generations (rolling upgrades, direct SQL) -------------------------

#: What a replica running code from before the read path writes for ``production -> 2``: the
#: alias row and its history entry, no generation bump.
OLD_CODE_MOVE = (
    "UPDATE aliases SET version_id = (SELECT v.id FROM model_versions v JOIN models m"
    " ON m.id = v.model_id WHERE m.name = 'digits' AND v.version = 2) WHERE name = 'production'",
    "INSERT INTO alias_events (model_id, alias, from_version, to_version, actor, reason, at)"
    " SELECT id, 'production', 1, 2, 'old-replica', '', CURRENT_TIMESTAMP FROM models"
    " WHERE name = 'digits'",
)


def _plain_sql(url: str, statements: tuple[str, ...]) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def test_a_move_written_by_old_code_reaches_a_replica_that_cached_the_answer(
    two_apps: tuple[Env, TestClient],
) -> None:
    """Rolling upgrade: the new replica had cached version 1 for both reads; the old replica
    (plain SQL, no bump) moves production to 2; the new replica answers 2."""
    env, new = two_apps
    desired = _desired(new)
    production = new.get(PRODUCTION)
    assert desired[2]["models"][0]["version"] == 1 and production.json()["version"] == 1
    _plain_sql(env.settings.database_url, OLD_CODE_MOVE)
    status, etag, body = _desired(new, **{"If-None-Match": desired[1]})
    assert status == 200 and etag != desired[1] and body["models"][0]["version"] == 2
    r = new.get(PRODUCTION, headers={"If-None-Match": production.headers["etag"]})
    assert r.status_code == 200 and r.json()["version"] == 2


def test_a_plain_sql_write_wakes_a_long_poll(two_apps: tuple[Env, TestClient]) -> None:
    """No process of the registry wrote: only the cross-process check can see it."""
    env, other = two_apps
    etag = _desired(other)[1]

    def move() -> None:
        time.sleep(0.3)
        _plain_sql(env.settings.database_url, OLD_CODE_MOVE)

    mover = threading.Thread(target=move)
    mover.start()
    started = time.monotonic()
    r = other.get(DESIRED, params={"pod": "p1", "wait": 30}, headers={"If-None-Match": etag})
    mover.join()
    assert r.status_code == 200 and r.json()["models"][0]["version"] == 2
    assert time.monotonic() - started < 10


def _generation(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            found = connection.scalar(
                text("SELECT generation FROM inference_services WHERE name = 'svc'")
            )
    finally:
        engine.dispose()
    assert found is not None
    return int(found)


def _report(client: TestClient, pod: str, version: int) -> None:
    report = {"models": [{"model": "digits", "version": version, "state": "READY"}]}
    r = client.put(f"{API}/services/svc/pods/{pod}/status", json=report)
    assert r.status_code == 200, r.text


def test_only_pod_reports_that_change_a_canarys_live_set_raise_the_generation(
    two_apps: tuple[Env, TestClient],
) -> None:
    env, _ = two_apps
    url = env.settings.database_url
    _report(env.client, "p1", 1)
    before = _generation(url)
    _report(env.client, "p1", 1)  # heartbeat, no canary
    _report(env.client, "p2", 1)  # a new pod, no canary: the answers do not depend on pods
    assert _generation(url) == before
    r = env.client.put(f"{API}/services/svc/canaries/digits", json={"version": 3, "share": 0.5})
    assert r.status_code == 200, r.text
    with_canary = _generation(url)
    assert with_canary > before
    _report(env.client, "p1", 1)  # heartbeat with a canary: same rows, updated in place
    assert _generation(url) == with_canary
    _report(env.client, "p3", 1)  # a new live pod changes the canary's share
    assert _generation(url) > with_canary
    changed = _generation(url)
    assert env.client.delete(f"{API}/services/svc/pods/p3").status_code == 204
    assert _generation(url) > changed


# -- long-poll slots ---------------------------------------------------------------------------


def test_a_long_poll_of_if_none_match_star_is_answered_at_once(seeded: Env) -> None:
    started = time.monotonic()
    r = seeded.client.get(DESIRED, params={"pod": "p1", "wait": 30}, headers={"If-None-Match": "*"})
    assert r.status_code == 304 and r.headers["etag"] and time.monotonic() - started < 10


def test_long_polls_given_up_by_their_clients_free_their_slots(tmp_path: Path) -> None:
    """max_waiters 5; five long-polls (wait 10) dropped after 0.5 s: a new long-poll is held
    (its wait runs out: 304 after ~1 s), not answered at once as beyond the bound."""
    env = Env(tmp_path)
    settings = registry_settings(tmp_path).model_copy(update={"long_poll_max_waiters": 5})
    env.client = TestClient(create_app(settings), raise_server_exceptions=False)
    with env.client:
        _seed(env)
    server = RegistryServer(settings).start()
    try:
        url = server.url + DESIRED
        etag = httpx.get(url, params={"pod": "p1"}).headers["etag"]

        async def drop_five_then_poll() -> tuple[int, float]:
            async with httpx.AsyncClient(timeout=30) as client:
                params = {"pod": "p1", "wait": 10}
                polls = [
                    asyncio.create_task(
                        client.get(url, params=params, headers={"If-None-Match": etag})
                    )
                    for _ in range(5)
                ]
                await asyncio.sleep(0.5)
                for poll in polls:
                    poll.cancel()
                await asyncio.gather(*polls, return_exceptions=True)
            await asyncio.sleep(0.3)
            async with httpx.AsyncClient(timeout=30) as client:
                started = time.monotonic()
                r = await client.get(
                    url, params={"pod": "p1", "wait": 1}, headers={"If-None-Match": etag}
                )
                return r.status_code, time.monotonic() - started

        status, held = asyncio.run(drop_five_then_poll())
        assert status == 304 and held >= 0.9
    finally:
        server.stop()


# -- one computation per change, quiet outages, registrations, metrics -------------------------


def test_concurrent_readers_of_a_changed_answer_compute_it_once(seeded: Env) -> None:
    """300 waiters woken by one alias move recompute once, not each (single flight)."""
    db = Database(seeded.settings.database_url)
    path = ReadPath(db, cache_size=10, check_interval=0.05, max_waiters=10)
    computed: list[int] = []

    def compute() -> tuple[bytes, None]:
        computed.append(1)
        time.sleep(0.2)
        return b'{"n": %d}' % len(computed), None

    async def readers() -> set[str]:
        key = ("model", "cv", "digits", "production")
        entries = await asyncio.gather(
            *(path.current(key, generations.model_token, compute) for _ in range(30))
        )
        return {e.etag for e in entries}

    try:
        assert len(asyncio.run(readers())) == 1 and len(computed) == 1
        _plain_sql(seeded.settings.database_url, OLD_CODE_MOVE)
        assert len(asyncio.run(readers())) == 1 and len(computed) == 2
    finally:
        path.close()
        db.dispose()


def test_a_failing_long_poll_check_backs_off_and_logs_once() -> None:
    """The database is down with one waiter: not a warning every check_interval."""
    calls: list[int] = []

    def down(keys: list[WatchKey]) -> dict[WatchKey, Token]:
        calls.append(1)
        raise OperationalError("SELECT", {}, OSError("connection refused"))

    watcher = Watcher(down, interval=0.01, max_waiters=10)
    with capture_logs() as logs:
        assert asyncio.run(watcher.wait(("service", "cv", "svc"), (1,), 1.5)) is False
    assert len(calls) <= 10  # 150 at a steady 10 ms
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["long-poll check failed"]


def test_a_registration_wakes_a_long_poll_of_the_same_process_at_once(tmp_path: Path) -> None:
    """Cross-process checks every 10 s here: only the registration's poke can wake it soon."""
    env = Env(tmp_path)
    settings = registry_settings(tmp_path).model_copy(update={"long_poll_check_seconds": 10.0})
    env.settings = settings
    env.client = TestClient(create_app(settings), raise_server_exceptions=False)
    with env.client:
        _seed(env)
        latest = f"{API}/models/digits/versions/latest"
        etag = env.client.get(latest).headers["etag"]

        def register() -> None:
            time.sleep(0.3)
            body = env.version_body("digits", "u4")
            assert env.client.post(f"{API}/models/digits/versions", json=body).status_code == 201

        registrar = threading.Thread(target=register)
        registrar.start()
        started = time.monotonic()
        r = env.client.get(latest, params={"wait": 30}, headers={"If-None-Match": etag})
        registrar.join()
        assert r.status_code == 200 and r.json()["version"] == 4
        assert time.monotonic() - started < 8


def test_the_read_path_is_counted_in_the_metrics(seeded: Env) -> None:
    etag = _desired(seeded.client)[1]
    _desired(seeded.client, **{"If-None-Match": etag})
    seeded.client.get(PRODUCTION)
    text = seeded.client.get("/metrics").text
    assert 'kubeai_registry_read_answers_total{kind="service",status="200"} 1.0' in text
    assert 'kubeai_registry_read_answers_total{kind="service",status="304"} 1.0' in text
    assert 'kubeai_registry_read_answers_total{kind="model",status="200"} 1.0' in text
    assert 'kubeai_registry_read_cache_total{kind="service",result="hit"} 1.0' in text
    assert 'kubeai_registry_read_cache_total{kind="service",result="miss"} 1.0' in text
    assert "kubeai_registry_long_poll_waiters 0.0" in text


def test_a_pods_first_report_racing_a_canary_set_still_bumps(
    postgres_url: str, tmp_path: Path
) -> None:
    """PostgreSQL, READ COMMITTED: a canary set not yet committed when a new pod's row is
    inserted. The pod's trigger waits for the service row the canary's bump holds, then sees the
    canary: both bump (else cached canary answers would miss the pod until the TTL)."""
    env = Env(tmp_path)
    env.settings = registry_settings(tmp_path, postgres_url)
    env.client = TestClient(create_app(env.settings), raise_server_exceptions=False)
    with env.client:
        _seed(env)
    before = _generation(postgres_url)
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as canary:
            canary.execute(
                text("UPDATE service_assignments SET canary_version = 3, canary_share = 0.5")
            )
            pod_done = threading.Event()

            def new_pod() -> None:
                with engine.begin() as connection:
                    connection.execute(
                        text(
                            "INSERT INTO observed_models (service_id, pod, model, version, state,"
                            " reported_at) SELECT id, 'p9', 'digits', 1, 'READY', now()"
                            " FROM inference_services WHERE name = 'svc'"
                        )
                    )
                pod_done.set()

            reporter = threading.Thread(target=new_pod)
            reporter.start()
            assert not pod_done.wait(0.5)  # waits for the canary's lock on the service row
            canary.commit()
            reporter.join(10)
        assert pod_done.is_set() and _generation(postgres_url) == before + 2
    finally:
        engine.dispose()
