"""The client's conditional reads of the desired state: ETags sent back, 304 answered from the
last answer, long-polls, and a registry that ignores both (always 200)."""

from __future__ import annotations

import json

import httpx

from glue.model_registry.client import RegistryClient

BODY = {"service": "svc", "pod": "p1", "models": [], "unresolved": []}


def _client(handler: httpx.MockTransport) -> RegistryClient:
    client = RegistryClient("http://registry.test", team="cv")
    client._http = httpx.Client(base_url="http://registry.test", transport=handler)
    return client


def test_etags_are_sent_back_and_a_304_returns_the_last_answer() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("if-none-match") == '"a"':
            return httpx.Response(304, headers={"etag": '"a"'})
        return httpx.Response(200, json=BODY, headers={"etag": '"a"'})

    client = _client(httpx.MockTransport(handle))
    first = client.desired_state("svc", "p1")
    again, changed = client.wait_desired_state("svc", "p1", wait=2.5)
    assert again == first and changed is False
    assert "if-none-match" not in seen[0].headers and seen[1].headers["if-none-match"] == '"a"'
    assert seen[1].url.params["wait"] == "2.5" and "wait" not in seen[0].url.params


def test_a_registry_without_etags_or_long_polls_still_works() -> None:
    bodies = [BODY, BODY, {**BODY, "unresolved": ["m"]}]

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=json.dumps(bodies.pop(0)))  # no ETag, wait ignored

    client = _client(httpx.MockTransport(handle))
    assert client.desired_state("svc", "p1").unresolved == []
    assert client.wait_desired_state("svc", "p1", wait=5)[1] is False  # same body: no change
    state, changed = client.wait_desired_state("svc", "p1", wait=5)
    assert changed is True and state.unresolved == ["m"]


def test_the_first_long_poll_is_a_plain_read() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        assert "wait" not in request.url.params
        return httpx.Response(200, json=BODY, headers={"etag": '"a"'})

    state, changed = _client(httpx.MockTransport(handle)).wait_desired_state("svc", "p1", wait=9)
    assert changed is True and state.service == "svc"
