"""``benchmarks.lifecycle``: its figures and its tables in ``benchmarks.run``."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from rich.console import Console

from benchmarks.cluster import parse_metrics
from benchmarks.lifecycle import LAG_METRIC, VersionProbe, lag_histogram, summary
from benchmarks.run import lifecycle_tables


def test_summary_takes_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100 s
    assert summary(values) == {"count": 100, "p50": 50.0, "p99": 99.0, "mean": 50.5, "max": 100.0}
    assert summary([0.25]) == {"count": 1, "p50": 0.25, "p99": 0.25, "mean": 0.25, "max": 0.25}
    assert summary([])["p50"] is None


def _exposition(counts: dict[str, int], total: float) -> str:
    lines = [f"# TYPE {LAG_METRIC} histogram"]
    lines += [f'{LAG_METRIC}_bucket{{le="{le}"}} {n}' for le, n in counts.items()]
    lines += [f"{LAG_METRIC}_count {counts['+Inf']}", f"{LAG_METRIC}_sum {total}"]
    return "\n".join(lines) + "\n"


def test_lag_histogram_is_the_increase_between_two_scrapes() -> None:
    before = parse_metrics(_exposition({"0.5": 3, "1.0": 3, "2.0": 3, "+Inf": 3}, 0.9))
    after = parse_metrics(_exposition({"0.5": 3, "1.0": 13, "2.0": 13, "+Inf": 13}, 7.9))
    figures = lag_histogram(before, after)
    assert figures["count"] == 10
    assert figures["mean"] == 0.7
    assert figures["p50"] == 0.75  # all ten in (0.5, 1]: interpolated halfway
    assert lag_histogram(after, after) == {"count": 0}


def test_version_probe_waits_for_every_pod() -> None:
    probe = VersionProbe(["http://127.0.0.1:1", "http://127.0.0.1:2"], np.zeros((4, 64)))
    probe.first_seen[0][3] = 10.0
    assert probe.all_answer(3) is None
    probe.first_seen[1][3] = 12.5
    assert probe.all_answer(3) == 12.5


def _render(result: dict[str, Any]) -> str:
    console = Console(file=io.StringIO(), width=250)
    for table in lifecycle_tables(result):
        console.print(table)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


def test_lifecycle_tables_show_both_rows() -> None:
    lag = {"count": 100, "p50": 0.031, "p99": 0.09, "mean": 0.04, "max": 0.12}
    way = {
        "lag_seconds": lag,
        "controller_histogram_seconds": {"count": 100, "p50": 0.5, "p99": 0.99, "mean": 0.52},
        "jobs_with_more_than_one_version": 0,
    }
    figures = {"count": 8, "p50": 1.8, "p99": 1.9, "mean": 1.85, "max": 1.9}
    promotion = {
        "pods": 2,
        "agent_poll_interval_seconds": 0.5,
        "rows": [],
        **{
            key: figures
            for key in (
                "registered_to_agents_ready",
                "registered_to_tritons_answer",
                "moved_to_agents_ready",
                "moved_to_tritons_answer",
            )
        },
    }
    text = _render({"registration": {"one_at_a_time": way, "burst": way}, "promotion": promotion})
    assert "one at a time" in text and "burst" in text and "0.031" in text
    assert "0.50 / 0.99 / 0.52" in text
    assert "every Triton answers with it" in text and "1.800" in text


def test_lifecycle_tables_leave_out_a_skipped_row() -> None:
    assert _render({"registration": {"skipped": "no unshare"}, "promotion": {"skipped": "x"}}) == ""
