"""The main job itself: `kubeai demo` end to end with a real registry process, a real
tritonserver, a real serving agent process and real training on the digits data."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from glue.demo.processes import marked_processes
from tests.glue.demo.support import start_demo


@pytest.mark.integration
@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    workdir = (tmp_path / "demo").resolve()
    demo = start_demo(workdir, "--keep-running", stdout=subprocess.PIPE)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 480
        while not any("kept running" in line for line in lines):
            assert demo.poll() is None, (
                "".join(lines)[-3000:] + (demo.stderr or io.StringIO()).read()
            )
            assert time.monotonic() < deadline, "".join(lines)[-3000:]
            time.sleep(0.5)
        time.sleep(1)  # the rest of the kept-running block
        # While it keeps running, the printed command, run as printed (it names the running
        # kubeai, which a fresh shell may not have on PATH), lists what the demo produced.
        command = next(
            shlex.split(ln.strip()) for ln in lines if " models list --registry-url" in ln
        )
        listed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": "120"},
        )
        assert listed.returncode == 0, listed.stderr
        assert re.search(r"\b1 model(?!s)", listed.stdout), listed.stdout
        assert "digits" in listed.stdout and "production→v2" in listed.stdout
        demo.send_signal(signal.SIGINT)  # Ctrl-C ends a kept-running demo normally
        demo.wait(timeout=90)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    reader.join(timeout=10)
    stdout, stderr = "".join(lines), (demo.stderr or io.StringIO()).read()
    assert demo.returncode == 0, stdout[-3000:] + stderr[-3000:]
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
    assert "accuracy" in stdout and "failed 0" in stdout
    assert (workdir / ".kubeai-demo").is_file()
    # Training printed no warnings (SVC(probability=True) warns from scikit-learn 1.9 on).
    for log in ("train-v1.log", "train-v2.log"):
        assert "Warning" not in (workdir / "logs" / log).read_text()
    assert report["versions"][1]["accuracy"] >= 0.98
    # The demo's agent was stopped gracefully: the registry forgot its pod.
    with sqlite3.connect(workdir / "state" / "registry.db") as db:
        assert db.execute("SELECT count(*) FROM observed_models").fetchone() == (0,)
    assert '"event": "pod_forgotten"' in (workdir / "logs" / "agent.log").read_text()
    # Nothing the demo started is left running (every child carries the workdir marker).
    assert marked_processes(str(workdir)) == []
