"""``python -m benchmarks.run``: what a failed benchmark leaves in results.json, and ``--help``
in a venv without the benchmarks' dependencies."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from benchmarks import readpath, run
from benchmarks.support import BenchmarkFailed, BenchmarkSkipped, keeping_partial

ROOT = Path(__file__).resolve().parents[2]


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=132)


def test_attempt_keeps_the_partial_result_beside_the_error() -> None:
    def fails_late() -> dict[str, Any]:
        with keeping_partial({"rows": []}) as result:
            result["rows"].append({"rps": 1.0})
            raise TimeoutError("timed out after 120 s waiting until agents serve v1")

    recorded, failed = run._attempt(_quiet(), fails_late)
    assert failed
    assert recorded == {
        "rows": [{"rps": 1.0}],
        "error": "TimeoutError: timed out after 120 s waiting until agents serve v1",
    }


def test_attempt_without_a_partial_or_skipped() -> None:
    def fails() -> dict[str, Any]:
        raise ValueError("bad")

    def skips() -> dict[str, Any]:
        with keeping_partial({"rows": [1]}):
            raise BenchmarkSkipped("no tritonserver")

    assert run._attempt(_quiet(), fails) == ({"error": "ValueError: bad"}, True)
    assert run._attempt(_quiet(), skips) == ({"skipped": "no tritonserver"}, False)


def test_keeping_partial_passes_skips_and_interrupts_unchanged() -> None:
    for exc in (BenchmarkSkipped("x"), KeyboardInterrupt(), BenchmarkFailed({"a": 1})):
        with pytest.raises(type(exc)) as raised, keeping_partial({}):
            raise exc
        assert raised.value is exc


def test_readpath_rows_survive_an_agent_row_failure_in_results_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fresh user's run: 16 throughput rows, then the agents time out; results.json keeps
    the rows beside the error, the table is printed, the exit status is 1."""
    measured = [
        {
            "backend": backend,
            "clients": clients,
            "route": route,
            "server": server,
            "rps": 100.0,
            "p50_ms": 1.0,
            "p99_ms": 2.0,
            "failed": 0,
        }
        for backend in ("sqlite", "postgresql")
        for clients in (1, 32)
        for route, server in (
            ("desired 200", "ours"),
            ("desired 304", "ours"),
            ("alias", "ours"),
            ("alias", "MLflow"),
        )
    ]

    def run_rows(backend: str, *, on_row: Callable[[dict[str, Any]], None], **_: Any) -> None:
        for row in measured:
            if row["backend"] == backend:
                on_row(row)

    def moves(**_: Any) -> dict[str, Any]:
        raise TimeoutError("timed out after 120 s waiting until agents serve v1")

    class Postgres:
        version = "postgres (PostgreSQL) 16"

        def start(self) -> Postgres:
            return self

        def stop(self) -> None:
            pass

    monkeypatch.setattr(readpath, "prepare_artifacts", lambda root: {})
    monkeypatch.setattr(readpath.loadgen, "binary", lambda: tmp_path / "bombardier")
    monkeypatch.setattr(readpath, "PostgresServer", Postgres)
    monkeypatch.setattr(readpath, "measure_backend", run_rows)
    monkeypatch.setattr(readpath, "measure_moves", moves)
    status = run.main(["--only", "readpath", "--quick", "--out", str(tmp_path / "out")])
    assert status == 1
    results = json.loads((tmp_path / "out" / "results.json").read_text())["readpath"]
    assert len(results["rows"]) == 16 and results["rows"] == measured
    assert results["error"] == "TimeoutError: timed out after 120 s waiting until agents serve v1"
    assert "alias_move" not in results and results["postgresql"] == "postgres (PostgreSQL) 16"
    printed = capsys.readouterr().out
    assert "agents' read path" in printed and "readpath benchmark failed" in printed


def _without(modules: list[str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``python -m benchmarks.run ARGV`` as in a venv where ``modules`` are not installed."""
    block = "; ".join(f"sys.modules[{m!r}] = None" for m in modules)
    code = (
        f"import runpy, sys; {block}; sys.argv = ['benchmarks.run', *{argv!r}]; "
        "runpy.run_module('benchmarks.run', run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_help_and_imports_need_no_pytest() -> None:
    """``--help`` in a venv without pytest (the PostgreSQL starter imported it) works, and so
    does importing every benchmark."""
    done = _without(["pytest"], ["--help"])
    assert done.returncode == 0, done.stderr
    assert "--only" in done.stdout and "Traceback" not in done.stderr
    imported = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['pytest'] = None; import benchmarks.run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr


def test_a_venv_without_the_benchmark_dependencies_gets_one_line(tmp_path: Path) -> None:
    assert _without(["rich"], ["--help"]).returncode == 0
    done = _without(["rich"], ["--only", "stacks", "--out", str(tmp_path)])
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "'rich'" in lines[0] and "make bench" in lines[0], done.stderr
