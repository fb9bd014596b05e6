"""Secret changes roll the pods (charts/kubeai-common templates/_checksums.tpl), with real helm.

kubeai-glue hashes the DSN Secret it renders itself (``checksum/database``); both charts turn the
``checksums`` value (sha256 of Secrets made outside the chart, set by the stacks) into
``checksum/<name>`` pod annotations (on every Deployment: kubeai-glue's lifecycle controller
reads the artifact store too). A changed secret value changes the pod template, which is what
makes the Deployment roll.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.charts.support import by_kind, chart_path, component, one
from tests.support.helm import HelmTools

GLUE_SECRET = chart_path("kubeai-glue") / "ci" / "postgresql-chart-secret-values.yaml"
GLUE_EXISTING = chart_path("kubeai-glue") / "ci" / "postgresql-values.yaml"
TRITON = chart_path("triton-inference") / "ci" / "default-values.yaml"


def _annotations(deployment: dict) -> dict[str, str]:
    return deployment["spec"]["template"]["metadata"].get("annotations") or {}


def _glue(helm: HelmTools, *sets: str, values: Path = GLUE_SECRET) -> dict[str, str]:
    objects = helm.template(chart_path("kubeai-glue"), values=[values], set_values=list(sets))
    return _annotations(one(component(objects, "model-registry"), "Deployment"))


def test_glue_pods_change_with_the_dsn_the_chart_writes(helm_tools: HelmTools) -> None:
    first = _glue(helm_tools)
    same = _glue(helm_tools)
    other = _glue(helm_tools, "database.postgresql.url=postgresql+psycopg://kubeai:new@db:5432/r")
    assert len(first["checksum/database"]) == 64
    assert first == same
    assert other["checksum/database"] != first["checksum/database"]


def test_glue_existing_secret_is_not_hashed_by_the_chart(helm_tools: HelmTools) -> None:
    """An existing Secret's data is unknown to the chart: only `checksums` covers it."""
    assert "checksum/database" not in _glue(helm_tools, values=GLUE_EXISTING)
    digest = hashlib.sha256(b"v1").hexdigest()
    annotated = _glue(helm_tools, f"checksums.database={digest}", values=GLUE_EXISTING)
    assert annotated["checksum/database"] == digest


@pytest.mark.parametrize(
    ("chart", "values"),
    [("kubeai-glue", GLUE_EXISTING), ("triton-inference", TRITON)],
)
def test_checksums_value_becomes_pod_annotations(
    helm_tools: HelmTools, chart: str, values: Path
) -> None:
    old, new = (hashlib.sha256(v).hexdigest() for v in (b"key-1", b"key-2"))

    def render(digest: str) -> dict[str, dict[str, str]]:
        objects = helm_tools.template(
            chart_path(chart), values=[values], set_values=[f"checksums.artifact-store={digest}"]
        )
        return {d["metadata"]["name"]: _annotations(d) for d in by_kind(objects, "Deployment")}

    before, after = render(old), render(new)
    assert before.keys() == after.keys()
    for name in before:
        assert before[name]["checksum/artifact-store"] == old, name
        assert after[name]["checksum/artifact-store"] == new, name
        assert {k: v for k, v in before[name].items() if k != "checksum/artifact-store"} == {
            k: v for k, v in after[name].items() if k != "checksum/artifact-store"
        }


@pytest.mark.parametrize("chart", ["kubeai-glue", "triton-inference"])
def test_checksums_must_be_sha256(helm_tools: HelmTools, chart: str) -> None:
    values = GLUE_EXISTING if chart == "kubeai-glue" else TRITON
    result = helm_tools.run(
        "template",
        "r",
        chart_path(chart),
        "--values",
        values,
        "--set",
        "checksums.artifact-store=not-a-digest",
        check=False,
    )
    assert result.returncode != 0
    assert "checksums" in result.stderr
