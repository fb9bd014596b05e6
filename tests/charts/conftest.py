"""Fixtures of the chart tests: the pinned helm binaries and a cache of rendered scenarios.

Rendering is cached per (chart, values file, release, helm major) for the session, so each
scenario is rendered once however many tests look at it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.charts.support import Objects, chart_path
from tests.support.helm import HelmTools

Render = Callable[..., Objects]

NAMESPACE = "team-a"
"""Namespace every scenario is rendered into."""


@pytest.fixture(scope="session")
def render(helm_tools: HelmTools) -> Render:
    """``render(chart, values_file, release="svc", v4=False)`` → rendered objects, cached."""
    cache: dict[tuple[str, str, str, bool], Objects] = {}

    def _render(chart: str, values: Path, release: str = "svc", v4: bool = False) -> Objects:
        key = (chart, str(values), release, v4)
        if key not in cache:
            cache[key] = helm_tools.template(
                chart_path(chart), release=release, namespace=NAMESPACE, values=[values], v4=v4
            )
        return cache[key]

    return _render
