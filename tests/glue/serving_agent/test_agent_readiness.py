"""The pod's readiness (``/readyz``) against a real tritonserver, a real registry and the agent.

A serving pod is Ready only when a version of every model assigned to it is loaded and confirmed
by the agent: not before its first load, still while the old version serves during a hot swap or
after the new one failed, not when the assigned version failed with nothing older loaded, and on
a canary pod only once both its primary and its canary model are loaded.

Tests poll ``/readyz`` and wait on the condition they need, never for a fixed time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from glue.model_registry.schemas import Assignment
from glue.model_registry.service.inference import canary_pods
from glue.serving_agent.agent import ServingAgent
from glue.serving_agent.readiness import NOT_STARTED
from glue.triton.repository import TritonRepository
from glue.triton.server import free_ports
from tests.glue.serving_agent.support import (
    PATIENCE,
    POD,
    SERVICE,
    Env,
    FakeClock,
    reconcile_until,
    served,
)
from tests.support.triton import FaultProxy, wait_until

pytestmark = pytest.mark.integration

Answer = tuple[int, dict[str, Any]]


def readyz(agent: ServingAgent) -> Answer:
    """(status, JSON body) of the agent's ``/readyz``; starts its endpoint on first use."""
    port = agent.endpoint.port or agent.endpoint.start(0, "127.0.0.1")
    answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
    return answer.status_code, answer.json()


def models(body: dict[str, Any]) -> list[tuple[str, int, str, int | None]]:
    """(model, assigned version, state, serving version) of each model in a ``/readyz`` body."""
    return [(m["model"], m["version"], m["state"], m["serving"]) for m in body["models"]]


@contextmanager
def running(agent: ServingAgent) -> Iterator[None]:
    """The agent's run loop in a thread for the duration of the block."""
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=PATIENCE)


def probe_until(agent: ServingAgent, done: Any) -> list[Answer]:
    """Every ``/readyz`` answer, polled until ``done(status, body)`` holds (or ``PATIENCE``)."""
    answers: list[Answer] = []

    def check() -> bool:
        answers.append(readyz(agent))
        return bool(done(*answers[-1]))

    assert wait_until(check, timeout=PATIENCE, interval=0.02), answers[-1]
    return answers


def test_not_ready_before_the_assigned_version_is_loaded_ready_after(env: Env) -> None:
    """A new pod: 503 before the first reconcile, 503 naming the version while it loads (a
    slow initialize widens that window), 200 only once Triton holds it READY; the first 200 is
    followed by an inference that the assigned version answers."""
    v1 = env.publish(2.0, init_delay=1.0)
    env.assign(v1)
    agent = env.agent(poll_interval=0.1)
    assert readyz(agent) == (
        503,
        {"ready": False, "reason": NOT_STARTED, "models": [], "unresolved": []},
    )
    checked: list[tuple[int, bool]] = []

    def loaded(status: int, body: dict[str, Any]) -> bool:
        checked.append((status, v1 in served(env)))  # READY in Triton when the answer came
        return status == 200

    with running(agent):
        answers = probe_until(agent, loaded)
        assert env.answer() == (v1, 2.0)
    assert answers[-1][1]["ready"] is True
    assert models(answers[-1][1]) == [(env.model, v1, "loaded", v1)]
    assert all(in_triton for status, in_triton in checked if status == 200)
    while_loading = [body for status, body in answers if status == 503 and body["models"]]
    assert while_loading, answers
    assert models(while_loading[0]) == [(env.model, v1, "missing", None)]
    assert while_loading[0]["reason"] == f"not loaded: {env.model} version {v1} (primary)"


def test_stays_ready_while_the_old_version_serves_during_a_swap(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent(poll_interval=0.1)
    with running(agent):
        probe_until(agent, lambda status, body: status == 200)
        v2 = env.publish(3.0, init_delay=1.0)  # a slow load: the swap takes a second at least
        env.assign(v2)
        answers = probe_until(
            agent, lambda status, body: models(body) == [(env.model, v2, "loaded", v2)]
        )
    assert {status for status, _ in answers} == {200}
    swapping = [models(body) for _, body in answers]
    assert [(env.model, v2, "previous", v1)] in swapping  # the swap was seen, v1 serving
    assert env.answer() == (v2, 3.0)


def test_canary_pod_is_ready_only_when_its_primary_and_canary_versions_are_loaded(
    env: Env,
) -> None:
    """The pod serves model A's primary version and, being the service's only live pod (so in
    the canary share), model B's canary version. B's load is refused at first (a proxy answers
    it 400): the pod stays not ready with A loaded, and becomes ready once B's canary is loaded
    too."""
    other = env.add_model("b")
    a1 = env.publish(2.0)
    b1 = env.publish(5.0, model=other)
    b2 = env.publish(7.0, model=other)
    share = 0.5
    assert canary_pods(service=SERVICE, live=[POD], serving=(), share=share) == {POD}
    env.client.set_assignments(
        SERVICE,
        [
            Assignment(model=env.model, version=a1),
            Assignment(model=other, version=b1, canary_version=b2, canary_share=share),
        ],
    )
    wanted = env.client.desired_state(SERVICE, POD).models
    assert [(d.model, d.version, d.role) for d in wanted] == [
        (env.model, a1, "primary"),
        (other, b2, "canary"),
    ]
    armed = threading.Event()
    armed.set()
    load_b = f"/v2/repository/models/{other}/load"

    def rule(method: str, path: str) -> tuple[int, bytes] | None:
        if armed.is_set() and method == "POST" and path == load_b:
            return 400, b'{"error": "refused by the test"}'
        return None

    clock = FakeClock()
    with FaultProxy(env.triton.url, rule) as proxy:
        agent = env.agent(triton_url=proxy.url, clock=clock)
        result = agent.reconcile_once()
        assert result.swapped == [(env.model, a1)]
        status, body = readyz(agent)
        assert status == 503
        assert models(body) == [(env.model, a1, "loaded", a1), (other, b2, "missing", None)]
        assert body["models"][1]["role"] == "canary"
        assert "refused by the test" in body["models"][1]["error"]
        assert body["reason"].startswith(f"not loaded: {other} version {b2} (canary): ")

        armed.clear()
        clock.now += 5  # past the retry delay
        assert agent.reconcile_once().swapped == [(other, b2)]
        status, body = readyz(agent)
    assert status == 200
    assert models(body) == [(env.model, a1, "loaded", a1), (other, b2, "loaded", b2)]


def test_failed_new_version_keeps_the_pod_ready_while_the_old_one_serves(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent(clock=FakeClock())
    agent.reconcile_once()
    v2 = env.publish(3.0, fail_init=True)
    env.assign(v2)
    assert agent.reconcile_once().failed
    status, body = readyz(agent)
    assert status == 200
    assert models(body) == [(env.model, v2, "previous", v1)]
    assert "initialize failed on purpose" in body["models"][0]["error"]
    assert env.answer() == (v1, 2.0)


def test_not_ready_when_the_assigned_version_never_loaded(env: Env) -> None:
    v1 = env.publish(2.0, fail_init=True)
    env.assign(v1)
    clock = FakeClock()
    agent = env.agent(clock=clock)
    for _ in range(2):  # the first attempt and its retry
        assert (env.model, v1) in agent.reconcile_once().failed
        status, body = readyz(agent)
        assert status == 503
        assert models(body) == [(env.model, v1, "missing", None)]
        assert "initialize failed on purpose" in body["reason"]
        clock.now += 5
    assert served(env) == set()


def test_not_ready_when_the_old_version_is_gone_and_the_new_one_fails(env: Env) -> None:
    """Triton loses the served version behind the agent's back (as after a restart): the very
    next probe says not ready, before any reconcile; the assigned new version then fails to
    load and the pod stays not ready."""
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent(clock=FakeClock())
    agent.reconcile_once()
    assert readyz(agent)[0] == 200
    TritonRepository(env.triton.url).unload(env.model)
    assert wait_until(lambda: not served(env), timeout=PATIENCE)
    status, body = readyz(agent)
    assert status == 503
    assert body["models"][0]["error"] == f"version {v1} is no longer ready in tritonserver"

    v2 = env.publish(3.0, fail_init=True)
    env.assign(v2)
    assert (env.model, v2) in agent.reconcile_once().failed
    status, body = readyz(agent)
    assert status == 503
    assert models(body) == [(env.model, v2, "missing", None)]
    assert "initialize failed on purpose" in body["models"][0]["error"]


def test_not_ready_until_the_registry_is_reached_then_kept_through_an_outage(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    env.registry.stop()
    agent = env.agent(registry_timeout=2.0)
    assert not agent.reconcile_once().registry_ok
    status, body = readyz(agent)
    assert status == 503
    assert body["reason"].startswith("registry never reached (no desired state yet): ")
    assert served(env) == set()

    env.registry.start()
    reconcile_until(agent, lambda r: r.registry_ok)
    assert readyz(agent)[0] == 200

    # Reached once: a later outage keeps the last desired state, and v1 goes on serving.
    env.registry.stop()
    try:
        assert not agent.reconcile_once().registry_ok
        status, body = readyz(agent)
        assert status == 200
        assert models(body) == [(env.model, v1, "loaded", v1)]
    finally:
        env.registry.start()


def test_not_ready_while_tritonserver_is_unreachable(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent(triton_url=f"http://127.0.0.1:{free_ports(1)[0]}")
    assert not agent.reconcile_once().triton_ok
    status, body = readyz(agent)
    assert status == 503
    assert body["reason"].startswith("tritonserver unreachable: ")
