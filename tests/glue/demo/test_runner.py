"""The main job itself: `kubeai demo` end to end with a real registry process, a real
tritonserver, a real serving agent process and real training on the digits data."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.integration
@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "glue.cli.main",
            "demo",
            "--workdir",
            str(workdir),
            "--swap-seconds",
            "20",
            "--clients",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=480,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((workdir / "report.json").read_text())
    assert report["dataset"] == {**report["dataset"], "name": "digits", "rows": 1797}
    versions = report["versions"]
    assert [v["version"] for v in versions] == [1, 2]
    assert all(v["accuracy"] >= 0.90 for v in versions), versions
    assert all(v["artifact_uri"].startswith("file://") for v in versions)
    swap = report["swap"]
    assert swap["failed_requests"] == 0, swap["first_errors"]
    assert swap["requests_sent"] > 1000
    assert swap["versions_answering"] == [1, 2]
    assert 0 < swap["swap_duration_seconds"] < 20
    for phase in ("before", "during", "after"):
        assert swap["latency_ms"][phase]["count"] > 0
        assert swap["latency_ms"][phase]["p99"] >= swap["latency_ms"][phase]["p50"] > 0
    assert report["service"]["observed"] == [
        {"pod": "digits-local-0", "model": "digits", "version": 2, "state": "READY"}
    ]
    assert "accuracy" in result.stdout and "failed 0" in result.stdout
    assert (workdir / ".kubeai-demo").is_file()
    # Training printed no warnings (SVC(probability=True) warns from scikit-learn 1.9 on).
    for log in ("train-v1.log", "train-v2.log"):
        assert "Warning" not in (workdir / "logs" / log).read_text()
    assert report["versions"][1]["accuracy"] >= 0.98
    # The demo's agent was stopped gracefully: the registry forgot its pod.
    with sqlite3.connect(workdir / "state" / "registry.db") as db:
        assert db.execute("SELECT count(*) FROM observed_models").fetchone() == (0,)
    assert '"event": "pod_forgotten"' in (workdir / "logs" / "agent.log").read_text()
    # Nothing the demo started is left running.
    leftover = subprocess.run(["pgrep", "-f", str(workdir)], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
