"""The alias-move row's stub Triton and log parsing (``benchmarks.readpath``)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.readpath import StubTriton, _load_started
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
