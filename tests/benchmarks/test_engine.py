"""``benchmarks.engine``: change counts and its table in ``benchmarks.run``."""

from __future__ import annotations

import io
from typing import Any

from pulumi.automation import OpType
from rich.console import Console

from benchmarks.engine import STEPS, change_counts
from benchmarks.run import engine_tables


def test_change_counts_plain_keys_no_zeros_sorted() -> None:
    assert change_counts({OpType.SAME: 98, OpType.CREATE: 0, OpType.READ: 1}) == {
        "read": 1,
        "same": 98,
    }
    assert change_counts({"create": 3}) == {"create": 3}
    assert change_counts(None) == {}


def _step(key: str, seconds: float, **changes: int) -> dict[str, Any]:
    return {
        "step": key,
        "seconds": seconds,
        "resource_changes": changes,
        "peak_rss_by_process_mib": {"pulumi": 120.5, "pulumi-resource-kubernetes": 210.0},
        "peak_rss_sum_mib": 300.0,
    }


def _render(result: dict[str, Any]) -> str:
    console = Console(file=io.StringIO(), width=250)
    for table in engine_tables(result):
        console.print(table)
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert isinstance(output, str)
    return output


def test_engine_tables_show_each_step_beside_the_installer() -> None:
    result = {
        "versions": {"pulumi": "v3.0.0", "pulumi-resource-kubernetes": "4.0.0"},
        "engine": {
            "steps": [
                _step("platform_up", 81.25, create=97, read=1),
                _step("platform_preview_no_change", 9.0, same=97, read=1),
                {"step": "platform_up_no_change", "seconds": 5.0, "error": "StackError: boom"},
            ],
            "not_run": [key for key, *_ in STEPS[3:]],
            "peak_rss": {
                "by_process_mib": {"pulumi": 130.0, "pulumi-resource-kubernetes": 250.0},
                "processes_seen": {"pulumi": 9, "pulumi-resource-kubernetes": 3},
                "peak_of_sum_mib": 360.0,
                "sample_interval_seconds": 0.2,
            },
            "benchmark_process_vmhwm_mib": 400.0,
        },
        "installer": {
            "rows": [
                {
                    "stack": "team-vision-local",
                    "platform_install_seconds": 20.5,
                    "apply_seconds": 1.5,
                    "apply_to_available_seconds": 3.25,
                    "rejections": 0,
                    "not_available": [],
                }
            ]
        },
    }
    text = _render(result)
    lines = text.splitlines()
    platform = next(line for line in lines if "up local " in line and "no change" not in line)
    assert "81.2" in platform and "create 97, read 1" in platform and "20.5" in platform
    assert "120.5 / 210.0" in platform
    assert "FAILED: StackError: boom" in text
    team = next(
        line for line in lines if "up team-vision-local " in line and "no change" not in line
    )
    assert "not run" in team and "3.2 (apply 1.5; 0 rejected, 0 not Available)" in team
    assert "pulumi (VmHWM, 9 processes)" in text and "360.0" in text


def test_engine_tables_without_engine_figures_show_the_installer_reason() -> None:
    result = {
        "versions": {"pulumi": "v3.0.0", "pulumi-resource-kubernetes": "4.0.0"},
        "engine": {"error": "ControlPlaneError: no"},
        "installer": {"not_available": "installer missing"},
    }
    tables = engine_tables(result)
    assert len(tables) == 1
    text = _render(result)
    assert "installer missing" in text and "engine FAILED: ControlPlaneError: no" in text
