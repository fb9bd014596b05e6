"""``benchmarks.stacks``: the platform program's rows (one platform + one team stack: under mocks,
installed, ``pulumi up``) and their table in ``benchmarks.run``."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from benchmarks.engine import PLATFORM, TEAM
from benchmarks.run import platform_program_table
from benchmarks.stacks import (
    PLATFORM_STACK,
    QUICK_SIZES,
    SIZES,
    TEAM_TEMPLATE,
    platform_program_rows,
)


def _mocks(team_stacks: int, platform: str = PLATFORM_STACK, team: str = TEAM_TEMPLATE) -> dict:
    return {
        "variant": "as_is",
        "platform_stack": platform,
        "team_template": team,
        "team_stacks": team_stacks,
        "import_seconds": 1.5,
        "platform_seconds": 0.4,
        "teams_seconds": 0.1 * team_stacks,
        "process_wall_seconds": 2.5,
        "process_peak_rss_mib": 180.0,
        "resources_total": 120 + 30 * team_stacks,
    }


def _stacks(*sizes: int, program: list[dict] | None = None) -> dict[str, Any]:
    return {
        "variants": [{"name": "as_is", "rows": [_mocks(n) for n in sizes]}],
        "platform_program": program or [],
    }


def _installer_row(**extra: Any) -> dict[str, Any]:
    return {
        "stack": TEAM,
        "platform_stack": PLATFORM,
        "platform_install_seconds": 20.0,
        "apply_seconds": 2.0,
        "apply_to_available_seconds": 6.5,
        "rejections": 0,
        "not_available": [],
        "peak_rss": {"sum_of_peaks_mib": 900.0},
        **extra,
    }


def _engine(team_error: str | None = None) -> dict[str, Any]:
    rss = {"pulumi": 100.0, "pulumi-resource-kubernetes": 200.0}
    team: dict[str, Any] = {"step": "team_up", "seconds": 12.0, "peak_rss_by_process_mib": rss}
    if team_error:
        team["error"] = team_error
    return {
        "steps": [
            {"step": "platform_up", "seconds": 40.0, "peak_rss_by_process_mib": rss},
            {"step": "platform_preview_no_change", "seconds": 5.0, "peak_rss_by_process_mib": {}},
            team,
        ]
    }


def test_every_run_has_the_one_team_stack_size() -> None:
    assert min(SIZES) == 1 and min(QUICK_SIZES) == 1


def test_rows_from_every_benchmark() -> None:
    results = {
        "stacks": _stacks(1, 10, program=[_mocks(1, PLATFORM, TEAM)]),
        "engine": {"installer": {"rows": [_installer_row()]}, "engine": _engine()},
    }
    rows = platform_program_rows(results, PLATFORM, TEAM)
    assert [r["step"] for r in rows] == [
        "evaluate under mocks",
        "evaluate under mocks",
        "apply → all Available (our installer)",
        "pulumi up → all Available (engine)",
    ]
    prod, local, installer, engine = rows
    assert (prod["platform_stack"], prod["team_stack"]) == (PLATFORM_STACK, TEAM_TEMPLATE)
    assert (local["platform_stack"], local["team_stack"]) == (PLATFORM, TEAM)
    assert prod["total_seconds"] == 2.0  # import 1.5 + platform 0.4 + one team stack 0.1
    assert prod["peak_rss_mib"] == 180.0
    assert installer["total_seconds"] == 26.5 and installer["source"] == "engine"
    assert installer["rejections"] == 0 and installer["not_available"] == 0
    assert engine["total_seconds"] == 52.0
    assert engine["peak_rss_mib"] == 300.0


def test_cluster_apply_row_when_the_engine_did_not_run() -> None:
    other = {**_installer_row(), "stack": "team-search-local"}
    results = {
        "cluster": {"apply": {"rows": [other, _installer_row(apply_to_available_seconds=3)]}}
    }
    (row,) = platform_program_rows(results, PLATFORM, TEAM)
    assert row["source"] == "cluster" and row["team_seconds"] == 3


def test_failures_and_skips() -> None:
    results = {
        "stacks": {"skipped": "no pulumi"},
        "cluster": {"apply": {"not_available": ["kube-apiserver"]}},
        "engine": {
            "installer": {"rows": [{"stack": TEAM, "error": "TimeoutError: not Available"}]},
            "engine": _engine(team_error="CommandError: boom"),
        },
    }
    installer, engine = platform_program_rows(results, PLATFORM, TEAM)
    assert installer["error"].startswith("TimeoutError")
    assert engine["error"] == "CommandError: boom"
    assert platform_program_rows({}, PLATFORM, TEAM) == []


def test_table_shows_each_row() -> None:
    results = {
        "stacks": _stacks(1),
        "engine": {
            "installer": {"rows": [_installer_row()]},
            "engine": _engine(team_error="CommandError: boom"),
        },
    }
    console = Console(file=io.StringIO(), width=250)
    console.print(platform_program_table(platform_program_rows(results, PLATFORM, TEAM)))
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert "platform program" in output
    assert f"{PLATFORM_STACK} + {TEAM_TEMPLATE}" in output and "180.0" in output
    assert "26.50" in output and "0 rejected, 0 not Available" in output
    assert "FAILED: CommandError: boom" in output
