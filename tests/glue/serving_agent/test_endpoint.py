"""The agent's HTTP endpoint: /metrics, /readyz and /healthz on one loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from glue.serving_agent.endpoint import AgentEndpoint
from glue.serving_agent.metrics import AgentMetrics
from glue.serving_agent.readiness import NOT_STARTED, ReadinessGate, assess
from tests.glue.serving_agent.support import desired, row


@pytest.fixture
def served() -> Iterator[tuple[AgentEndpoint, str]]:
    """An endpoint on a free loopback port and its base URL; stopped after the test."""
    endpoint = AgentEndpoint(AgentMetrics(), ReadinessGate())
    port = endpoint.start(0, "127.0.0.1")
    try:
        yield endpoint, f"http://127.0.0.1:{port}"
    finally:
        endpoint.stop()


def test_serve_and_stop_on_loopback() -> None:
    metrics = AgentMetrics()
    metrics.served_version.labels(model="m").set(7)
    endpoint = AgentEndpoint(metrics, ReadinessGate())
    port = endpoint.start(0, "127.0.0.1")
    assert endpoint.port == port
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'kubeai_agent_served_version{model="m"} 7.0' in body
    finally:
        endpoint.stop()
    assert endpoint.port is None
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
    endpoint.stop()  # idempotent


def test_readyz_is_503_with_the_reason_until_the_gate_says_ready(
    served: tuple[AgentEndpoint, str],
) -> None:
    endpoint, url = served
    answer = httpx.get(f"{url}/readyz")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"ready": False, "reason": NOT_STARTED, "models": [], "unresolved": []}

    endpoint.readiness.set(assess(desired(("m", 2)), [row("m", 1, "READY")], {}))
    answer = httpx.get(f"{url}/readyz")
    assert answer.status_code == 200
    assert answer.json()["models"] == [
        {"model": "m", "version": 2, "role": "primary", "state": "previous", "serving": 1}
    ]

    endpoint.readiness.set(assess(desired(("m", 2)), [], {("m", 2): "layout: bad"}))
    answer = httpx.get(f"{url}/readyz")
    assert answer.status_code == 503
    assert answer.json()["reason"] == "not loaded: m version 2 (primary): layout: bad"


def test_healthz_answers_while_serving(served: tuple[AgentEndpoint, str]) -> None:
    _, url = served
    answer = httpx.get(f"{url}/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok"}
