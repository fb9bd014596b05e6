"""infra/chart_files.py: a pinned chart's defaults with its subcharts' under the key Helm uses."""

from __future__ import annotations

from infra import versions
from infra.chart_files import load_chart, merged_defaults
from tests.infra import factories


def test_subchart_defaults_sit_under_their_alias() -> None:
    """The device plugin chart names its node-feature-discovery dependency ``nfd``: Helm reads
    its values there, not under the folder's name."""
    chart = load_chart(str(factories.verified_archive(versions.NVIDIA_DEVICE_PLUGIN)))
    defaults = merged_defaults(chart)
    assert "nfd" in chart.subcharts and "nfd" in defaults
    assert "node-feature-discovery" not in defaults
    assert "image" in defaults["nfd"]  # the subchart's own defaults merged in


def test_the_parents_values_for_a_subchart_win() -> None:
    chart = load_chart(str(factories.verified_archive(versions.GPU_OPERATOR)))
    defaults = merged_defaults(chart)
    parent = chart.defaults.get("node-feature-discovery") or {}
    for key, value in parent.items():
        assert defaults["node-feature-discovery"][key] == value
