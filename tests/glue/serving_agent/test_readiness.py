"""The readiness rule on its own: assigned versions vs. the repository index, and probe checks.

The same rule against a real tritonserver and registry is in test_agent_readiness.py.
"""

from __future__ import annotations

import pytest

from glue.serving_agent.readiness import NOT_STARTED, Readiness, ReadinessGate, assess, waiting
from tests.glue.serving_agent.support import desired, row


def states(readiness: Readiness) -> list[tuple[str, int, str, int | None]]:
    return [(m.model, m.version, m.state, m.serving) for m in readiness.models]


def test_assigned_version_ready_is_loaded() -> None:
    result = assess(desired(("a", 3)), [row("a", 3, "READY")], {})
    assert result.ready and result.reason == "every assigned model version is loaded"
    assert states(result) == [("a", 3, "loaded", 3)]


def test_before_the_first_load_the_pod_is_not_ready() -> None:
    for index in ([], [row("a", None, "")], [row("a", 3, "LOADING")]):
        result = assess(desired(("a", 3)), index, {})
        assert not result.ready
        assert result.reason == "not loaded: a version 3 (primary)"
        assert states(result) == [("a", 3, "missing", None)]


def test_old_version_serving_during_a_swap_keeps_the_pod_ready() -> None:
    index = [row("a", 1, "UNAVAILABLE", "unloaded"), row("a", 2, "READY"), row("a", 3, "LOADING")]
    result = assess(desired(("a", 3)), index, {})
    assert result.ready
    assert states(result) == [("a", 3, "previous", 2)]
    assert "version 2 serves" in result.reason


def test_failed_new_version_with_the_old_one_serving_stays_ready_and_says_why() -> None:
    result = assess(desired(("a", 3)), [row("a", 2, "READY")], {("a", 3): "load_refused: boom"})
    assert result.ready
    assert result.models[0].error == "load_refused: boom"


def test_failed_version_with_nothing_older_serving_is_not_ready() -> None:
    index = [row("a", 3, "UNAVAILABLE", "boom")]
    result = assess(desired(("a", 3)), index, {("a", 3): "load_refused: boom"})
    assert not result.ready
    assert result.reason == "not loaded: a version 3 (primary): load_refused: boom"
    assert result.body()["models"] == [
        {
            "model": "a",
            "version": 3,
            "role": "primary",
            "state": "missing",
            "serving": None,
            "error": "load_refused: boom",
        }
    ]


def test_canary_pod_needs_every_assigned_model() -> None:
    wanted = desired(("a", 1), ("b", 5, "canary"))
    assert not assess(wanted, [row("a", 1, "READY")], {}).ready
    assert not assess(wanted, [row("b", 5, "READY")], {}).ready
    both = assess(wanted, [row("a", 1, "READY"), row("b", 5, "READY")], {})
    assert both.ready
    assert [m.role for m in both.models] == ["primary", "canary"]


def test_other_models_do_not_count_and_unresolved_are_listed() -> None:
    result = assess(desired(("a", 1), unresolved=("c",)), [row("z", 9, "READY")], {})
    assert not result.ready
    assert result.body()["unresolved"] == ["c"]
    empty = assess(desired(), [row("z", 9, "READY")], {})
    assert empty.ready and empty.reason == "no model versions are assigned to this pod"


def test_gate_starts_not_ready_and_probes_tritonserver() -> None:
    serving: set[tuple[str, int]] = {("a", 2)}
    gate = ReadinessGate(lambda model, version: (model, version) in serving)
    assert gate.probe() == waiting(NOT_STARTED)
    gate.set(assess(desired(("a", 3)), [row("a", 2, "READY")], {}))
    assert gate.probe().ready
    serving = {("a", 3)}  # the swap finished between the agent's check and the probe
    assert gate.probe().ready
    serving = set()  # tritonserver restarted empty
    probed = gate.probe()
    assert not probed.ready
    assert probed.models[0].error == "version 2 is no longer ready in tritonserver"
    assert gate.current.ready  # the agent's assessment itself is unchanged


@pytest.mark.parametrize("ready", [True, False])
def test_gate_does_not_ask_tritonserver_when_already_not_ready(ready: bool) -> None:
    asked: list[tuple[str, int]] = []

    def version_ready(model: str, version: int) -> bool:
        asked.append((model, version))
        return True

    gate = ReadinessGate(version_ready)
    index = [row("a", 1, "READY")] if ready else []
    gate.set(assess(desired(("a", 1)), index, {}))
    assert gate.probe().ready is ready
    assert asked == ([("a", 1)] if ready else [])
