"""``ReadFastPath``: the read path's plain requests are answered without FastAPI's routing and
dependencies, byte for byte as the routes answer them; everything else reaches the routes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from glue.model_registry.api.fastpath import ReadFastPath
from glue.model_registry.app import create_app
from glue.model_registry.auth.settings import AuthSettings
from tests.glue.model_registry.conftest import Env

API = "/api/v1/teams/cv"
DESIRED = f"{API}/services/svc/desired"
PRODUCTION = f"{API}/models/digits/versions/production"
TOKENS = {u: f"token-of-{u}-" + "x" * 32 for u in ("bob", "dave", "root")}


def _seed(client: TestClient, env: Env, headers: dict[str, str] | None = None) -> None:
    """Model ``digits`` v1..v2, ``production`` -> 1, service ``svc`` following it."""
    r = client.post(f"{API}/models", json={"name": "digits", "task": "x"}, headers=headers)
    assert r.status_code == 201, r.text
    for uid in ("u1", "u2"):
        body = env.version_body("digits", uid)
        r = client.post(f"{API}/models/digits/versions", json=body, headers=headers)
        assert r.status_code == 201, r.text
    r = client.put(f"{API}/models/digits/aliases/production", json={"version": 1}, headers=headers)
    assert r.status_code == 200, r.text
    service = {"name": "svc", "assignments": [{"model": "digits", "alias": "production"}]}
    assert client.post(f"{API}/services", json=service, headers=headers).status_code == 201


def _without_fast_path(app: FastAPI) -> FastAPI:
    """``app`` answering every request through its routes (before its first request)."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not ReadFastPath]
    return app


@pytest.fixture
def pair(env: Env) -> Iterator[tuple[TestClient, TestClient]]:
    """The app with its fast path, and a second app on the same database without it."""
    routed = TestClient(_without_fast_path(create_app(env.settings)))
    with env.client, routed:
        _seed(env.client, env)
        yield env.client, routed


def _answer(client: TestClient, url: str, headers: list[tuple[str, str]]) -> tuple[Any, ...]:
    r = client.get(url, headers=httpx.Headers(headers))
    return (
        r.status_code,
        r.headers.get("etag"),
        r.headers.get("cache-control"),
        r.headers.get("content-type"),
        r.content,
    )


#: (url, headers): plain reads the fast path takes, and requests it must leave to the routes.
CASES: list[tuple[str, list[tuple[str, str]]]] = [
    (f"{DESIRED}?pod=p1", []),
    (f"{DESIRED}?pod=p1&unknown=1", []),
    (f"{DESIRED}?pod=p1&wait=0", []),
    (f"{DESIRED}?pod=p1", [("If-None-Match", '"stale"'), ("If-None-Match", "{etag}")]),
    (f"{DESIRED}?pod=p1", [("If-None-Match", "W/{etag}")]),
    (f"{DESIRED}?pod=p1&wait=0.2", [("If-None-Match", '"stale"')]),
    (f"{DESIRED}?pod=p1&wait=0.2", [("If-None-Match", "*")]),
    (PRODUCTION, []),
    (f"{API}/models/digits/versions/2", []),
    (f"{API}/models/digits/versions/latest", []),
    # left to the routes: unknown resources, invalid or unusual values
    (f"{API}/services/nope/desired?pod=p1", []),
    (f"{API}/models/nope/versions/production", []),
    (f"{API}/models/digits/versions/9", []),
    (f"{API}/models/digits/versions/v1", []),
    (f"{API}/models/digits/versions/Prod", []),
    (f"{DESIRED}", []),
    (f"{DESIRED}?pod=", []),
    (f"{DESIRED}?pod=P_1", []),
    (f"{DESIRED}?pod=p1&pod=p2", []),
    (f"{DESIRED}?pod=p1&wait=1e-3", []),
    (f"{DESIRED}?pod=p1&wait=-1", []),
    (f"{DESIRED}?pod=p1&wait=nan", []),
    (f"{DESIRED}?pod=p1&wait=", []),
    (f"{DESIRED}?pod=p1&wait=0&wait=0", []),
    ("/api/v1/teams/CV/services/svc/desired?pod=p1", []),
    (f"{DESIRED}/more?pod=p1", []),
]


@pytest.mark.parametrize(("url", "headers"), CASES)
def test_answers_equal_the_routes_answers(
    pair: tuple[TestClient, TestClient], url: str, headers: list[tuple[str, str]]
) -> None:
    fast, routed = pair
    etag = fast.get(f"{DESIRED}?pod=p1").headers["etag"]
    headers = [(k, v.replace("{etag}", etag)) for k, v in headers]
    assert _answer(fast, url, headers) == _answer(routed, url, headers)


class _Router:
    """A stand-in for the rest of the app: records what reached it, answers 599."""

    def __init__(self) -> None:
        self.reached: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.reached.append(scope["path"])
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _through(app: FastAPI, method: str, url: str, headers: list[tuple[str, str]]) -> int:
    """Send one request through a ``ReadFastPath`` in front of a ``_Router``; the status, or
    599 when the request went on to the router."""
    router = _Router()
    fast = ReadFastPath(router)

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        scope["app"] = app
        await fast(scope, receive, send)

    async def send() -> int:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.request(method, url, headers=httpx.Headers(headers))
            return r.status_code

    status = asyncio.run(send())
    assert (status == 599) == bool(router.reached)
    return status


def test_plain_reads_are_answered_without_the_router(env: Env) -> None:
    with env.client:
        _seed(env.client, env)
        app = env.client.app
        assert isinstance(app, FastAPI)
        etag = env.client.get(f"{DESIRED}?pod=p1").headers["etag"]
        assert _through(app, "GET", f"{DESIRED}?pod=p1", []) == 200
        assert _through(app, "GET", f"{DESIRED}?pod=p1", [("If-None-Match", etag)]) == 304
        assert _through(app, "GET", PRODUCTION, []) == 200
        assert _through(app, "GET", f"{API}/models/digits/versions/1?wait=0", []) == 200
        # what only the routes answer
        assert _through(app, "HEAD", PRODUCTION, []) == 599
        assert _through(app, "GET", f"{API}/models/digits/versions/7", []) == 599  # 404
        assert _through(app, "GET", f"{DESIRED}?pod=p1&wait=inf", []) == 599  # 422
        assert _through(app, "GET", f"{API}/models/digits", []) == 599  # another route
        # answered by the fast path inside the app: the metrics name the route template
        assert (
            env.client.get(f"{DESIRED}?pod=p1", headers={"If-None-Match": etag}).status_code == 304
        )
        text = env.client.get("/metrics").text
        assert 'route="/api/v1/teams/{team}/services/{service}/desired",status="304"' in text, text


@pytest.fixture
def secured(env: Env, tmp_path: Path) -> Iterator[Env]:
    """A registry with static tokens: bob reads team cv, dave only team search."""
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("".join(f'{t},{u},{u}-uid,""\n' for u, t in TOKENS.items()))
    auth = AuthSettings.model_validate(
        {
            "static_tokens_file": tokens,
            "admins": {"users": ["root"]},
            "bindings": [
                {"team": "cv", "role": "reader", "users": ["bob"]},
                {"team": "search", "role": "reader", "users": ["dave"]},
            ],
        }
    )
    env.settings = env.settings.model_copy(update={"auth": auth})
    env.client = TestClient(create_app(env.settings), raise_server_exceptions=False)
    with env.client:
        _seed(env.client, env, {"Authorization": f"Bearer {TOKENS['root']}"})
        yield env


@pytest.mark.parametrize(
    ("headers", "fast_status", "app_status"),
    [
        ([("Authorization", f"Bearer {TOKENS['bob']}")], 200, 200),
        ([("Authorization", f"Bearer {TOKENS['dave']}")], 599, 403),
        ([("Authorization", "Bearer " + "u" * 40)], 599, 401),
        ([], 599, 401),
        (
            [
                ("Authorization", f"Bearer {TOKENS['bob']}"),
                ("Authorization", f"Bearer {TOKENS['bob']}"),
            ],
            599,
            401,
        ),
    ],
)
def test_callers_the_fast_path_cannot_clear_get_the_routes_answer(
    secured: Env, headers: list[tuple[str, str]], fast_status: int, app_status: int
) -> None:
    app = secured.client.app
    assert isinstance(app, FastAPI)
    assert _through(app, "GET", PRODUCTION, headers) == fast_status
    got = secured.client.get(PRODUCTION, headers=httpx.Headers(headers))
    assert got.status_code == app_status, got.text
