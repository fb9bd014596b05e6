"""The agent's long-poll between reconciles: a change of the desired state is reconciled at once
(not a poll interval later), and a registry that does not long-poll is asked once per interval."""

from __future__ import annotations

import threading
import time

import pytest
from structlog.testing import capture_logs

from glue.model_registry.client import RegistryError, RegistryUnavailable
from glue.serving_agent import agent as agent_module
from tests.glue.serving_agent.support import PATIENCE, POD, SERVICE, Env, desired, served


def test_an_assignment_change_is_reconciled_long_before_the_poll_interval(env: Env) -> None:
    one = env.publish(1.0)
    two = env.publish(2.0)
    env.assign(one)
    agent = env.agent(poll_interval=300.0)  # a plain poll would wait 5 minutes
    stop = threading.Event()
    runner = threading.Thread(target=agent.run, args=(stop,))
    runner.start()
    try:
        deadline = time.monotonic() + PATIENCE
        while served(env) != {one} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served(env) == {one}
        moved = time.monotonic()
        env.assign(two)
        while served(env) != {two} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert served(env) == {two}
        assert time.monotonic() - moved < PATIENCE
    finally:
        stop.set()
        env.assign(None)  # wakes the long-poll so the stop is seen at once
        runner.join(PATIENCE)
    assert not runner.is_alive()


def test_a_registry_that_answers_at_once_is_asked_once_per_interval(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = env.agent(poll_interval=0.5)
    calls: list[float] = []

    def at_once(service: str, pod: str, *, wait: float) -> tuple[object, bool]:
        assert (service, pod) == (SERVICE, POD) and wait > 0
        calls.append(wait)
        return desired(), False  # an older registry: 200 at once, nothing changed

    monkeypatch.setattr(agent.registry, "wait_desired_state", at_once)
    started = time.monotonic()
    assert agent.await_change(0.5, threading.Event()) is False
    assert time.monotonic() - started >= 0.45 and len(calls) == 1


def test_a_failing_long_poll_sleeps_the_interval_and_a_stop_ends_it(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = env.agent()

    def down(service: str, pod: str, *, wait: float) -> tuple[object, bool]:
        raise RegistryUnavailable("registry down")

    monkeypatch.setattr(agent.registry, "wait_desired_state", down)
    started = time.monotonic()
    assert agent.await_change(0.3, threading.Event()) is False
    assert time.monotonic() - started >= 0.25
    stop = threading.Event()
    stop.set()
    started = time.monotonic()
    assert agent.await_change(30.0, stop) is False and time.monotonic() - started < 5


def _counting(calls: list[float], answer: object) -> object:
    def fake(service: str, pod: str, *, wait: float) -> tuple[object, bool]:
        calls.append(wait)
        if isinstance(answer, Exception):
            raise answer
        return desired(), False

    return fake


def test_a_registry_without_long_polls_is_remembered_until_a_reprobe(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No ETag / 200 at once: one probe, then one desired read per interval (the reconcile's),
    until the re-probe."""
    agent = env.agent(poll_interval=0.2)
    calls: list[float] = []
    monkeypatch.setattr(agent.registry, "wait_desired_state", _counting(calls, None))
    monkeypatch.setattr(agent_module, "LONG_POLL_REPROBE_SECONDS", 0.5)
    with capture_logs() as logs:
        for _ in range(3):
            assert agent.await_change(0.2, threading.Event()) is False
        assert len(calls) == 1
        time.sleep(0.5)
        assert agent.await_change(0.2, threading.Event()) is False
    assert len(calls) == 2  # re-probed once the backoff ran out
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["long_poll_unsupported"]


def test_a_registry_refusing_the_wait_is_a_fallback_with_one_warning(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LONG_POLL_MAX_SECONDS=1 on a registry that still refuses a longer wait (422)."""
    agent = env.agent(poll_interval=0.2)
    calls: list[float] = []
    refused = RegistryError(
        422,
        {
            "title": "Unprocessable",
            "errors": [
                {"field": "query.wait", "message": "must be a number of seconds from 0 to 1"}
            ],
        },
    )
    monkeypatch.setattr(agent.registry, "wait_desired_state", _counting(calls, refused))
    with capture_logs() as logs:
        for _ in range(3):
            assert agent.await_change(0.2, threading.Event()) is False
    assert len(calls) == 1
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert [e["event"] for e in warnings] == ["long_poll_unsupported"]
    assert "query.wait" in warnings[0]["reason"]


def test_a_registry_holding_shorter_than_asked_is_asked_again(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry whose maximum (0.6 s here) is below the agent's wait: long-polls go on."""
    agent = env.agent()
    calls: list[float] = []

    def held(service: str, pod: str, *, wait: float) -> tuple[object, bool]:
        calls.append(wait)
        time.sleep(min(wait, 0.6))
        return desired(), False

    monkeypatch.setattr(agent.registry, "wait_desired_state", held)
    assert agent.await_change(1.5, threading.Event()) is False
    assert len(calls) >= 2 and agent._long_poll_off_until == 0
