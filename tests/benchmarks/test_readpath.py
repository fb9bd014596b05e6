"""``benchmarks.readpath``: the alias-move row's stub Triton, log parsing and agents, and the
rows kept when a later step fails."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from benchmarks import readpath
from benchmarks.readpath import StubTriton, _load_started, measure_moves
from benchmarks.registry import prepare_artifacts
from benchmarks.support import BenchmarkFailed
from glue.triton.repository import TritonRepository


def test_the_stub_answers_the_repository_api_the_agent_uses() -> None:
    stub = StubTriton().start()
    try:
        triton = TritonRepository(stub.url)
        assert triton.is_live() and triton.index() == []
        config = json.dumps({"name": "m", "version_policy": {"specific": {"versions": ["2"]}}})
        triton.load("m", config)
        assert triton.ready_versions("m") == {2} and triton.version_ready("m", 2)
        assert not triton.version_ready("m", 1)
        triton.unload("m")
        assert triton.index() == []
    finally:
        stub.stop()


def test_load_started_is_read_from_the_agent_json_log(tmp_path: Path) -> None:
    log = tmp_path / "agent.log"
    lines = [
        "not json",
        json.dumps({"event": "load_started", "version": 1, "timestamp": "2026-01-01T00:00:01Z"}),
        json.dumps({"event": "load_started", "version": 2, "timestamp": "2026-01-01T00:00:02.5Z"}),
    ]
    log.write_text("\n".join(lines) + "\n")
    first = _load_started(log, 1)
    assert first is not None and _load_started(log, 2) == first + 1.5
    assert _load_started(log, 3) is None and _load_started(tmp_path / "none.log", 1) is None


def test_agents_against_the_stub_load_and_follow_an_alias_move(tmp_path: Path) -> None:
    """The alias-move row end to end with 2 real agents: the stub speaks HTTP only, so the
    agents must not drive it over Triton's gRPC port (they timed out waiting for v1 when they
    did)."""
    root = tmp_path / "artifacts"
    root.mkdir()
    move = measure_moves(
        workdir=tmp_path / "moves",
        artifacts_root=root,
        art=prepare_artifacts(root),
        moves=1,
        agents=2,
    )
    assert move["agents"] == 2 and move["moves"] == 1 and len(move["per_move_ms"]) == 1
    assert move["all_agents_started_ms"]["max"] > 0
    log = (tmp_path / "moves" / "agents" / "agent-0" / "agent.log").read_text()
    assert "unreachable" not in log


def test_a_failing_step_keeps_the_rows_measured_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The agents timing out after the request-rate rows: the rows survive in the partial."""
    measured = [
        {"backend": "sqlite", "route": "alias", "server": "ours", "clients": n, "rps": 1.0}
        for n in (1, 32)
    ]

    def rows(backend: str, *, on_row: Callable[[dict[str, Any]], None], **_: Any) -> None:
        for row in measured:
            on_row(row)

    def moves(**_: Any) -> dict[str, Any]:
        raise TimeoutError("timed out after 120 s waiting until agents serve v1")

    monkeypatch.setattr(readpath, "prepare_artifacts", lambda root: {})
    monkeypatch.setattr(readpath.loadgen, "binary", lambda: tmp_path / "bombardier")
    monkeypatch.setattr(readpath, "measure_backend", rows)
    monkeypatch.setattr(readpath, "measure_moves", moves)
    shown: list[dict[str, Any]] = []
    with pytest.raises(BenchmarkFailed) as failed:
        readpath.run_readpath_benchmark(workdir=tmp_path, backends=("sqlite",), on_row=shown.append)
    assert isinstance(failed.value.__cause__, TimeoutError)
    partial = failed.value.partial
    assert partial["rows"] == measured == shown and "alias_move" not in partial
    assert partial["goal"]["clients"] == 32 and partial["skipped"] == []
