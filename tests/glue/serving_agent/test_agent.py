"""The serving agent against a real tritonserver, a real registry and a local file artifact store.

Every test uses its own model name: the session shares one tritonserver and its repository.
Models answer ``OUTPUT = INPUT * k`` with ``k`` differing per version, so a test sees which
version answered.

Tests wait on the condition they need (a report arrived, a version is served), never for a fixed
time: the machine may be slow. ``PATIENCE`` only bounds a wait that would otherwise never end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime

import httpx
import pytest

from glue.artifacts.manifest import build_manifest
from glue.model_registry.schemas import Assignment
from glue.triton.repository import TritonRepository
from glue.triton.server import free_ports
from tests.glue.serving_agent.support import (
    PATIENCE,
    POD,
    SERVICE,
    TEAM,
    Env,
    FakeClock,
    reconcile_until,
    served,
)
from tests.support.triton import FaultProxy, infer, inits, wait_until

pytestmark = pytest.mark.integration


def pods(env: Env) -> set[str]:
    """Pods the registry records observed state for in the test's service."""
    return {o.pod for o in env.client.get_service(SERVICE).observed}


def reported_at(env: Env) -> set[datetime]:
    """When the registry last received the test pod's report (one time per report)."""
    return {o.reported_at for o in env.client.get_service(SERVICE).observed if o.pod == POD}


def heartbeats(env: Env, count: int) -> set[datetime]:
    """Distinct report times of the test pod seen while polling until ``count`` were seen."""
    seen: set[datetime] = set()

    def enough() -> bool:
        seen.update(reported_at(env))
        return len(seen) >= count

    wait_until(enough, timeout=PATIENCE, interval=0.02)
    return seen


# -- the happy path -------------------------------------------------------------------------------


def test_first_sync_installs_verifies_loads_and_reports(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent()
    result = agent.reconcile_once()
    assert result.registry_ok and result.triton_ok and result.reported
    assert result.swapped == [(env.model, v1)] and result.failed == {}
    assert env.answer() == (v1, 2.0)
    assert env.observed() == {(v1, "READY")}

    repo = env.triton.repository
    assert (repo / env.model / str(v1) / "model.py").is_file()
    assert (repo / env.model / str(v1) / "__pycache__").is_file()  # bytecode blocker
    assert (repo / env.model / "config.pbtxt").is_file()
    assert (repo / ".kubeai" / env.model / f"{v1}.pbtxt").is_file()
    assert list((repo / ".staging").iterdir()) == []
    assert agent.metrics.value("kubeai_agent_served_version", {"model": env.model}) == v1
    assert (
        agent.metrics.value("kubeai_agent_load_duration_seconds_count", {"model": env.model}) == 1
    )
    assert agent.metrics.value("kubeai_agent_sync_duration_seconds_count") == 1

    # Steady state: nothing is loaded again.
    again = agent.reconcile_once()
    assert again.swapped == [] and again.reported
    assert inits(repo, env.model) == [v1]
    assert again.next_delay == agent.settings.poll_interval


def test_hot_swap_under_concurrent_inference_has_zero_failed_requests(env: Env) -> None:
    """Inference goes straight to tritonserver from 3 threads; the agent's control calls go
    through a recording proxy, so the test also sees the load sequence: [v1], then just [v2]
    (Triton keeps v1 serving until v2 is loaded)."""
    proxy = FaultProxy(env.triton.url).start()
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent(triton_url=proxy.url)
    agent.reconcile_once()
    v2 = env.publish(3.0, init_delay=0.3)  # a slower load widens the window where both exist
    env.assign(v2)

    stop = threading.Event()
    answers: list[tuple[float, int, float]] = []
    failures: list[str] = []

    def hammer() -> None:
        with httpx.Client(timeout=10) as http:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    version, out = infer(env.triton.url, env.model, [1.0], client=http)
                    answers.append((sent, version, out[0]))
                except Exception as exc:
                    failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(answers) >= 10, timeout=PATIENCE)  # inference flows before the swap
    started = time.monotonic()
    result = agent.reconcile_once()
    swap_seconds = time.monotonic() - started
    done = time.monotonic()
    # ... and after it, until requests sent after the swap were answered (or failed).
    wait_until(
        lambda: bool(failures) or sum(sent > done for sent, _, _ in answers) >= 10,
        timeout=PATIENCE,
    )
    stop.set()
    for thread in threads:
        thread.join(timeout=10)

    proxy.stop()
    assert result.swapped == [(env.model, v2)] and result.failed == {}
    assert failures == []
    assert proxy.load_versions(env.model) == [[v1], [v2]]
    assert {(v, out) for _, v, out in answers} == {(v1, 2.0), (v2, 3.0)}
    assert all(v == v2 for sent, v, _ in answers if sent > done)  # after the swap: only v2
    # The old version was never re-initialised during the swap, the new one only once.
    assert inits(env.triton.repository, env.model) == [v1, v2]
    assert served(env) == {v2}
    assert (v2, "READY") in env.observed()
    print(f"\nhot swap: {swap_seconds:.3f}s, {len(answers)} requests, {len(failures)} failed")


def test_hot_swap_controls_triton_over_grpc_only(env: Env) -> None:
    """The agent's default path: loads, unloads and index reads go to Triton's gRPC endpoint, so
    its HTTP endpoint (here a recording proxy) sees no repository call; inference from 3 threads
    never fails during the swap."""
    with FaultProxy(env.triton.url) as proxy:
        v1 = env.publish(2.0)
        env.assign(v1)
        agent = env.agent(triton_url=proxy.url, triton_grpc_url=env.triton.server.grpc_url)
        assert agent.triton.control == f"grpc://{env.triton.server.grpc_url}"
        assert agent.reconcile_once().swapped == [(env.model, v1)]
        v2 = env.publish(3.0, init_delay=0.3)
        env.assign(v2)
        stop = threading.Event()
        answers: list[int] = []
        failures: list[str] = []

        def hammer() -> None:
            with httpx.Client(timeout=10) as http:
                while not stop.is_set():
                    try:
                        answers.append(infer(env.triton.url, env.model, [1.0], client=http)[0])
                    except Exception as exc:
                        failures.append(repr(exc))

        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            wait_until(lambda: len(answers) >= 10, timeout=PATIENCE)
            result = agent.reconcile_once()
            seen = len(answers)
            wait_until(lambda: len(answers) >= seen + 10, timeout=PATIENCE)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
        assert proxy.count("POST", r"^/v2/repository") == 0
        assert proxy.count("GET", r"^/v2/repository") == 0
    assert result.swapped == [(env.model, v2)] and result.failed == {}
    assert failures == []
    assert set(answers) == {v1, v2} and answers[-1] == v2
    assert inits(env.triton.repository, env.model) == [v1, v2]
    assert served(env) == {v2}


def test_grpc_endpoint_unreachable_keeps_serving_and_reports(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    env.agent().reconcile_once()
    v2 = env.publish(3.0)
    env.assign(v2)
    agent = env.agent(triton_grpc_url=f"127.0.0.1:{free_ports(1)[0]}")
    result = agent.reconcile_once()
    assert not result.triton_ok and result.swapped == []
    assert result.next_delay == agent.settings.backoff_initial
    assert env.answer() == (v1, 2.0)
    assert served(env) == {v1}
    assert "tritonserver unreachable" in (env.observed_errors()[v2] or "")


# -- failures keep the old version serving -------------------------------------------------------


def test_corrupted_artifact_is_refused_old_version_kept_and_error_reported(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    clock = FakeClock()
    agent = env.agent(clock=clock)
    agent.reconcile_once()
    v2 = env.publish(3.0)
    weights = env.artifact_dir(v2) / "1" / "k.txt"
    good = weights.read_bytes()
    weights.write_bytes(b"9.0\n")  # same size, different bytes: only the sha256 can tell
    env.assign(v2)

    result = agent.reconcile_once()
    assert result.swapped == []
    assert "checksum_mismatch" in result.failed[(env.model, v2)]
    assert env.answer() == (v1, 2.0)
    assert not (env.triton.repository / env.model / str(v2)).exists()
    assert list((env.triton.repository / ".staging").iterdir()) == []
    assert env.observed() == {(v1, "READY"), (v2, "FAILED")}
    error = env.observed_errors()[v2] or ""
    assert "sha256" in error and "1/k.txt" in error
    labels = {"model": env.model, "reason": "checksum_mismatch"}
    assert agent.metrics.value("kubeai_agent_load_failures_total", labels) == 1

    # Fixed artifact: retried after the backoff, then served.
    weights.write_bytes(good)
    assert agent.reconcile_once().failed  # still backing off: not retried yet
    assert agent.metrics.value("kubeai_agent_load_failures_total", labels) == 1
    clock.now += 5
    result = agent.reconcile_once()
    assert result.swapped == [(env.model, v2)]
    assert env.answer() == (v2, 3.0)
    assert env.observed() >= {(v2, "READY")}


def test_load_answered_200_but_never_ready_is_reported_failed(env: Env) -> None:
    """Triton itself cannot be made to answer a load with 200 and leave the model not READY, so
    a fault-injecting HTTP proxy sits between the agent and the real tritonserver: it forwards
    everything, except that once armed it answers ``POST .../models/<m>/load`` with 200 itself
    without forwarding it. The agent must not trust the 200: it polls the repository index,
    gives up after ``ready_timeout``, reports the new version FAILED and keeps the old one."""
    armed = threading.Event()
    load_path = f"/v2/repository/models/{env.model}/load"

    def rule(method: str, path: str) -> tuple[int, bytes] | None:
        if armed.is_set() and method == "POST" and path == load_path:
            return 200, b""
        return None

    with FaultProxy(env.triton.url, rule) as proxy:
        v1 = env.publish(2.0)
        env.assign(v1)
        agent = env.agent(triton_url=proxy.url, ready_timeout=0.5)
        assert agent.reconcile_once().swapped == [(env.model, v1)]
        v2 = env.publish(3.0)
        env.assign(v2)
        armed.set()
        result = agent.reconcile_once()

    assert result.swapped == []
    failure = result.failed[(env.model, v2)]
    assert failure.startswith("not_ready:") and "not READY after 0.5s" in failure
    assert proxy.count("POST", load_path) == 2  # one forwarded (v1), one swallowed (v2)
    assert env.answer() == (v1, 2.0)
    assert served(env) == {v1}
    assert env.observed() == {(v1, "READY"), (v2, "FAILED")}
    labels = {"model": env.model, "reason": "not_ready"}
    assert agent.metrics.value("kubeai_agent_load_failures_total", labels) == 1


def test_failed_load_keeps_old_version_and_retries_with_capped_backoff(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    clock = FakeClock()
    agent = env.agent(clock=clock, backoff_initial=1.0, backoff_max=4.0, poll_interval=30.0)
    agent.reconcile_once()
    v2 = env.publish(3.0, fail_init=True)
    env.assign(v2)
    labels = {"model": env.model, "reason": "load_refused"}

    delays = []
    for attempt in range(5):
        if attempt:
            clock.now += delays[-1]  # exactly when the agent wants to retry
        delays.append(agent.reconcile_once().next_delay)
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]  # doubling from backoff_initial, capped
    assert agent.metrics.value("kubeai_agent_load_failures_total", labels) == 5
    clock.now += 1.0  # before the next retry is due: no attempt
    assert agent.reconcile_once().next_delay == pytest.approx(3.0)
    assert agent.metrics.value("kubeai_agent_load_failures_total", labels) == 5
    assert env.answer() == (v1, 2.0)
    assert served(env) == {v1}
    assert env.observed() == {(v1, "READY"), (v2, "FAILED")}
    assert "initialize failed on purpose" in (env.observed_errors()[v2] or "")


def test_bad_layout_is_refused_before_download(env: Env) -> None:
    """A version whose manifest lists two version directories. The registry refuses such a
    registration now, so the row is edited in its database (a version registered before that
    check): the agent refuses it from the manifest alone and keeps serving v1."""
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent()
    agent.reconcile_once()
    v3 = env.publish(3.0)
    directory = env.artifact_dir(v3)
    (directory / "2").mkdir()
    (directory / "2" / "model.py").write_text("")
    manifest = build_manifest(directory).model_dump(mode="json")
    uri = env.client.get_version(env.model, v3).artifact_uri
    database = env.registry.settings.database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        changed = db.execute(
            "UPDATE model_versions SET manifest = ? WHERE artifact_uri = ?",
            (json.dumps(manifest), uri),
        ).rowcount
        # An edit past the API bumps the model's generation as every API write would, or the
        # registry's cached answers (glue.model_registry.readpath) would not see it.
        db.execute("UPDATE models SET generation = generation + 1 WHERE name = ?", (env.model,))
    assert changed == 1
    assert "2/model.py" in env.client.get_version(env.model, v3).manifest.files
    env.assign(v3)
    result = agent.reconcile_once()
    assert result.failed[(env.model, v3)].startswith("layout:")
    assert "exactly one version directory" in result.failed[(env.model, v3)]
    assert env.answer() == (v1, 2.0)
    assert env.observed() == {(v1, "READY"), (v3, "FAILED")}


# -- registry outages ------------------------------------------------------------------------------


def test_registry_down_during_a_swap_keeps_serving_and_catches_up(env: Env) -> None:
    """The registry goes down while the agent is in the middle of a swap (stopped from inside
    the proxy when the swap's first load arrives): the swap completes, the report is kept, and
    it reaches the registry once the registry is back."""
    load_path = f"/v2/repository/models/{env.model}/load"
    stopped = threading.Event()

    def rule(method: str, path: str) -> None:
        if method == "POST" and path == load_path and armed.is_set() and not stopped.is_set():
            env.registry.stop()
            stopped.set()
        return None

    armed = threading.Event()
    with FaultProxy(env.triton.url, rule) as proxy:
        v1 = env.publish(2.0)
        env.assign(v1)
        agent = env.agent(triton_url=proxy.url)
        agent.reconcile_once()
        v2 = env.publish(3.0)
        env.assign(v2)
        armed.set()
        result = reconcile_until(agent, lambda r: r.registry_ok)  # fetched, then the swap
        assert stopped.is_set()
        assert result.swapped == [(env.model, v2)] and not result.reported
        assert agent.unreported is not None
        assert {(m.version, m.state) for m in agent.unreported.models} >= {(v2, "READY")}
        assert env.answer() == (v2, 3.0)

        down = agent.reconcile_once()  # registry still down: nothing changes, still serving
        assert not down.registry_ok and down.next_delay > 0
        assert env.answer() == (v2, 3.0)
        assert (
            agent.metrics.value("kubeai_agent_registry_errors_total", {"operation": "desired"}) >= 1
        )
        assert (
            agent.metrics.value("kubeai_agent_registry_errors_total", {"operation": "report"}) >= 1
        )

        env.registry.start()
        back = reconcile_until(agent, lambda r: r.registry_ok and r.reported)
    assert back.registry_ok and back.reported and agent.unreported is None
    assert (v2, "READY") in env.observed()
    assert back.swapped == []


def test_registry_down_before_a_new_version_then_back(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent(backoff_initial=0.5, backoff_max=2.0)
    agent.reconcile_once()
    v2 = env.publish(3.0)
    env.assign(v2)
    env.registry.stop()
    delays = [agent.reconcile_once().next_delay for _ in range(4)]
    assert delays == [0.5, 1.0, 2.0, 2.0]  # exponential, capped at backoff_max
    assert env.answer() == (v1, 2.0)  # keeps serving what it served
    env.registry.start()
    result = reconcile_until(agent, lambda r: r.registry_ok)
    assert result.swapped == [(env.model, v2)]
    assert env.answer() == (v2, 3.0)
    assert (v2, "READY") in env.observed()


# -- restart, rollback, removal ------------------------------------------------------------------


def test_restart_rebuilds_state_without_reloading_and_rollback_reuses_files(env: Env) -> None:
    with FaultProxy(env.triton.url) as proxy:
        v1 = env.publish(2.0)
        env.assign(v1)
        env.agent(triton_url=proxy.url).reconcile_once()
        loads = proxy.count("POST", r"/load$")
        assert loads == 1

        restarted = env.agent(triton_url=proxy.url)  # a new process: empty memory, same files
        result = restarted.reconcile_once()
        assert result.swapped == [] and result.reported
        assert proxy.count("POST", r"/load$") == loads  # nothing loaded again
        assert inits(env.triton.repository, env.model) == [v1]
        assert env.observed() == {(v1, "READY")}
        assert restarted.metrics.value("kubeai_agent_served_version", {"model": env.model}) == v1

        v2 = env.publish(3.0)
        v3 = env.publish(4.0)
        for version in (v2, v3):
            env.assign(version)
            assert restarted.reconcile_once().swapped == [(env.model, version)]

        def installed() -> list[str]:
            restarted.reconcile_once()  # collects versions no longer loading/unloading
            return sorted(
                p.name for p in (env.triton.repository / env.model).iterdir() if p.is_dir()
            )

        # current + one previous (keep_previous=1); v1 goes once Triton finished unloading it
        assert wait_until(lambda: installed() == sorted([str(v2), str(v3)]), timeout=PATIENCE)
        assert not (env.triton.repository / ".kubeai" / env.model / f"{v1}.pbtxt").exists()

        # Rollback to the kept previous version: its files are reused, not downloaded again.
        shutil.rmtree(env.artifact_dir(v2))
        env.assign(v2)
        rollback = restarted.reconcile_once()
        assert rollback.swapped == [(env.model, v2)] and rollback.failed == {}
        assert env.answer() == (v2, 3.0)


def test_corrupted_installed_version_is_moved_aside_and_downloaded_again(env: Env) -> None:
    v1 = env.publish(2.0)
    v2 = env.publish(3.0)
    env.assign(v1)
    agent = env.agent()
    agent.reconcile_once()
    env.assign(v2)
    agent.reconcile_once()
    env.assign(v1)
    agent.reconcile_once()  # v2 stays installed as the previous version
    installed = env.triton.repository / env.model / str(v2) / "k.txt"
    installed.write_text("7.0\n")  # bit rot on the node
    env.assign(v2)
    result = agent.reconcile_once()
    assert result.swapped == [(env.model, v2)]
    assert env.answer() == (v2, 3.0)  # the good bytes, downloaded again


def test_model_no_longer_desired_is_unloaded(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent()
    agent.reconcile_once()
    env.assign(None)
    result = agent.reconcile_once()
    assert result.reported
    assert wait_until(lambda: not served(env), timeout=PATIENCE)
    assert (env.triton.repository / env.model / str(v1)).is_dir()  # files kept for a rollback
    assert agent.metrics.value("kubeai_agent_served_version", {"model": env.model}) == 0
    assert all(state != "READY" for _, state in env.observed())


def test_triton_unreachable_is_reported_and_backed_off(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent(triton_url=f"http://127.0.0.1:{free_ports(1)[0]}")
    result = agent.reconcile_once()
    assert not result.triton_ok and result.reported
    assert result.next_delay == agent.settings.backoff_initial
    assert env.observed() == {(v1, "UNAVAILABLE")}
    assert "tritonserver unreachable" in (env.observed_errors()[v1] or "")


# -- the run loop and the process ----------------------------------------------------------------


def test_run_loop_serves_metrics_and_probes_and_stops_promptly(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    port = free_ports(1)[0]
    agent = env.agent(poll_interval=0.1, metrics_port=port, metrics_address="127.0.0.1")
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    try:
        assert wait_until(lambda: served(env) == {v1}, timeout=PATIENCE)
        v2 = env.publish(3.0)
        env.assign(v2)
        assert wait_until(lambda: served(env) == {v2}, timeout=PATIENCE)
        # Triton serves v2 before the reconcile that loaded it sets the gauge: wait for it.
        line = f'kubeai_agent_served_version{{model="{env.model}"}} {float(v2)}'
        metrics = f"http://127.0.0.1:{port}/metrics"
        assert wait_until(lambda: line in httpx.get(metrics).text, timeout=PATIENCE)
        text = httpx.get(metrics).text
        assert "kubeai_agent_sync_duration_seconds_count" in text
        # The same port answers the pod's probes.
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz")
        assert ready.status_code == 200 and ready.json()["ready"] is True
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)


def test_every_reconcile_reports_a_heartbeat_even_when_nothing_changed(env: Env) -> None:
    """The report is sent on every reconcile, not only on change: the registry ages out pods
    whose last report is old, so a live pod must keep reporting its unchanged state."""
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent()
    agent.reconcile_once()
    first = reported_at(env)
    time.sleep(0.05)
    again = agent.reconcile_once()
    assert again.swapped == [] and again.reported
    second = reported_at(env)
    assert len(first) == len(second) == 1 and max(second) > max(first)
    assert env.observed() == {(v1, "READY")}


def test_run_loop_heartbeats_every_poll_and_forgets_the_pod_when_stopped(env: Env) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent(poll_interval=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=agent.run, args=(stop,))
    thread.start()
    seen: set[datetime] = set()
    try:
        assert wait_until(lambda: (v1, "READY") in env.observed(), timeout=PATIENCE)
        # Nothing changes any more, yet the report keeps arriving, once per poll.
        seen = heartbeats(env, 4)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(seen) >= 4, seen
    assert pods(env) == set()
    assert env.client.get_service(SERVICE).observed == []
    assert served(env) == {v1}  # forgetting is bookkeeping: tritonserver is not touched


def test_forget_with_the_registry_down_is_logged_not_raised(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    v1 = env.publish(2.0)
    env.assign(v1)
    agent = env.agent()
    agent.reconcile_once()
    env.registry.stop()
    assert agent.forget_pod() is False
    stop = threading.Event()
    stop.set()
    agent.run(stop)  # a stop during an outage returns normally too
    captured = capsys.readouterr()
    assert (captured.out + captured.err).count("registry_forget_failed") == 2
    assert agent.metrics.value("kubeai_agent_registry_errors_total", {"operation": "forget"}) == 2
    env.registry.start()
    assert env.observed() == {(v1, "READY")}  # left for the registry's age limit
    assert agent.forget_pod() is True
    assert pods(env) == set()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_process_runs_from_env_and_stops_on_sigterm(env: Env, signum: signal.Signals) -> None:
    """A graceful stop (SIGTERM from the kubelet, Ctrl-C locally) exits 0 and tells the
    registry to forget the pod; the log has no line per HTTP request (httpx is quiet)."""
    v1 = env.publish(2.0)
    env.assign(v1)
    variables = {
        "KUBEAI_AGENT_REGISTRY_URL": env.registry.url,
        "KUBEAI_AGENT_SERVICE": SERVICE,
        "KUBEAI_AGENT_TEAM": TEAM,
        "KUBEAI_AGENT_POD": POD,
        "KUBEAI_AGENT_TRITON_URL": env.triton.url,
        "KUBEAI_AGENT_TRITON_GRPC_URL": env.triton.server.grpc_url,
        "KUBEAI_AGENT_MODEL_REPOSITORY": str(env.triton.repository),
        "KUBEAI_AGENT_POLL_INTERVAL": "0.2",
        "KUBEAI_AGENT_ARTIFACTS__LOCAL_ROOT": str(env.registry.settings.artifacts.local_root),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "glue.serving_agent"],
        env={**os.environ, **variables},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: (v1, "READY") in env.observed(), timeout=PATIENCE)
        heartbeats(env, 3)  # a few more polls, each of which used to log httpx lines
        process.send_signal(signum)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert pods(env) == set()  # forgotten: a stopped pod is not listed as serving
    assert "HTTP Request" not in stderr
    assert all(line.startswith("{") for line in stderr.splitlines()), stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.startswith("{")]
    assert any(
        '"event": "swap_done"' in line
        and f'"model": "{env.model}"' in line
        and f'"pod": "{POD}"' in line
        for line in lines
    )
    assert any('"event": "agent_stopped"' in line for line in lines)
    assert any('"event": "pod_forgotten"' in line for line in lines)


def test_agent_creates_missing_service_with_initial_alias_but_never_overwrites(env: Env) -> None:
    """The chart tells the agent the service's initial alias: the agent creates the registry
    record only when it is missing, so a promotion made in the registry is never undone."""
    version = env.publish(2.0)
    env.client.set_alias(env.model, "production", version)
    initial = [{"model": env.model, "alias": "production"}]
    fresh = env.agent(service="fresh-svc", pod="fresh-svc-0", initial_assignments=initial)
    fresh.reconcile_once()
    record = env.client.get_service("fresh-svc")
    assert record.team == TEAM  # the agent's team: a service serves models of its own team
    assert [(a.model, a.alias, a.resolved_version) for a in record.assignments] == [
        (env.model, "production", version)
    ]
    assert (version, "READY") in {(o.version, o.state) for o in record.observed}
    # A registry-side change (exact version pin) survives agent restarts with initial config.
    env.client.set_assignments("fresh-svc", [Assignment(model=env.model, version=version)])
    again = env.agent(service="fresh-svc", pod="fresh-svc-1", initial_assignments=initial)
    again.reconcile_once()
    assert env.client.get_service("fresh-svc").assignments[0].version == version
    assert env.client.get_service("fresh-svc").assignments[0].alias is None
    # Without initial assignments a missing service is an error reported, not created.
    orphan = env.agent(service="missing-svc", pod="missing-0")
    assert orphan.reconcile_once().registry_ok is False
    assert env.client.list_models().total >= 1
    with pytest.raises(Exception, match="does not exist"):
        env.client.get_service("missing-svc")
    TritonRepository(env.triton.url).unload(env.model)
