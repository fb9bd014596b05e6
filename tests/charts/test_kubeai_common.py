"""The kubeai-common library chart and what the application charts take from it: the
dependency each chart declares, the packaged library each chart vendors under ``charts/``, the
schema definitions generated from ``charts/kubeai-common/schema/shared.json`` (by
``charts/sync_common.py``), and one definition per helper across all charts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import ModuleType

import pytest

from tests.charts.support import CHART_NAMES, CHARTS_DIR, LIBRARY_NAME, chart_path, load_script
from tests.support.helm import KUBE_VERSION, HelmTools

SYNC_SCRIPT = CHARTS_DIR / "sync_common.py"
FIX = "run `python charts/sync_common.py` and commit the result"


@pytest.fixture(scope="module")
def sync() -> ModuleType:
    """charts/sync_common.py loaded as a module."""
    return load_script(SYNC_SCRIPT, "kubeai_sync_common_under_test")


def test_library_chart_metadata(sync: ModuleType) -> None:
    """kubeai-common is an apiVersion v2 library chart with a semantic version."""
    meta = sync.chart_metadata(chart_path(LIBRARY_NAME))
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == LIBRARY_NAME
    assert meta["type"] == "library"
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])


@pytest.mark.parametrize("v4", [False, True], ids=["helm3", "helm4"])
def test_library_chart_lints(helm_tools: HelmTools, v4: bool) -> None:
    """``helm lint --strict`` passes on the library chart with helm v3.19 and v4."""
    result = helm_tools.run(
        "lint", "--strict", chart_path(LIBRARY_NAME), "--kube-version", KUBE_VERSION, v4=v4
    )
    assert "[WARNING]" not in result.output and "[ERROR]" not in result.output, result.output


def test_every_chart_depends_on_the_library_by_path(sync: ModuleType) -> None:
    """Each application chart lists kubeai-common at the library's own version, from the
    sibling directory (``file://``), so no chart repository is ever needed."""
    version = sync.chart_metadata(chart_path(LIBRARY_NAME))["version"]
    assert [p.name for p in sync.dependents()] == sorted(CHART_NAMES)
    for name in CHART_NAMES:
        deps = sync.chart_metadata(chart_path(name))["dependencies"]
        assert deps == [
            {"name": LIBRARY_NAME, "version": version, "repository": f"file://../{LIBRARY_NAME}"}
        ], name


def test_vendored_library_matches_its_source(sync: ModuleType, helm_tools: HelmTools) -> None:
    """Each chart's ``charts/kubeai-common-<version>.tgz`` holds what a fresh ``helm package``
    of charts/kubeai-common holds, and no other version of it, so a plain ``helm template`` of a
    fresh clone renders the current helpers."""
    stale = sync.stale_archives(sync.dependents(), helm_tools.helm3)
    assert not stale, f"vendored {LIBRARY_NAME} is stale in {[p.name for p in stale]}: {FIX}"


@pytest.mark.parametrize("v4", [False, True], ids=["helm3", "helm4"])
def test_helm_sees_the_dependency_as_ok(helm_tools: HelmTools, v4: bool) -> None:
    """``helm dependency list`` reports the vendored library as ``ok`` (present, right version,
    in step with Chart.lock) for every chart."""
    for name in CHART_NAMES:
        result = helm_tools.run("dependency", "list", chart_path(name), v4=v4)
        rows = [line.split() for line in result.stdout.splitlines()[1:] if line.strip()]
        assert [(row[0], row[-1]) for row in rows] == [(LIBRARY_NAME, "ok")], result.output


def test_shared_schema_definitions_are_generated(sync: ModuleType) -> None:
    """The shared definitions (and the ``kubeai-common`` values key Helm adds) in every chart's
    values.schema.json equal charts/kubeai-common/schema/shared.json."""
    stale = sync.stale_schemas(sync.dependents())
    assert not stale, f"stale shared schema definitions in {[str(p) for p in stale]}: {FIX}"
    shared = json.loads(sync.SHARED_SCHEMA.read_text())
    for name in CHART_NAMES:
        schema = json.loads((chart_path(name) / "values.schema.json").read_text())
        for key in ("definitions", "properties"):
            assert shared[key].items() <= schema[key].items(), (name, key)


def test_generation_keeps_chart_definitions_and_replaces_shared_ones(sync: ModuleType) -> None:
    """The generator puts the shared definitions first, overwrites a chart's edited copy of a
    shared definition, keeps the chart's own definitions and properties in order."""
    shared = {"definitions": {"a": {"type": "string"}}, "properties": {"lib": {"type": "object"}}}
    schema = {
        "title": "t",
        "definitions": {"own": {"type": "integer"}, "a": {"type": "number"}},
        "properties": {"x": {"$ref": "#/definitions/own"}},
    }
    out = sync.schema_with_shared(schema, shared)
    assert out == {
        "title": "t",
        "definitions": {"a": {"type": "string"}, "own": {"type": "integer"}},
        "properties": {"x": {"$ref": "#/definitions/own"}, "lib": {"type": "object"}},
    }
    assert list(out["definitions"]) == ["a", "own"]


def test_check_mode_lists_a_stale_schema(sync: ModuleType, tmp_path: Path) -> None:
    """``stale_schemas`` names a chart whose copy of a shared definition was edited by hand."""
    chart = tmp_path / "some-chart"
    chart.mkdir()
    schema = json.loads((chart_path(CHART_NAMES[0]) / "values.schema.json").read_text())
    schema["definitions"]["quantity"] = {"type": "string"}
    (chart / "values.schema.json").write_text(json.dumps(schema, indent=2) + "\n")
    assert sync.stale_schemas([chart]) == [chart / "values.schema.json"]


def test_every_helper_is_defined_once() -> None:
    """No helper name is defined twice across the charts (a chart never re-defines a library
    helper), and the application charts define only helpers under their own prefix."""
    where: dict[str, list[str]] = {}
    for path in sorted(CHARTS_DIR.glob("*/templates/*.tpl")):
        for name in re.findall(r'define "([^"]+)"', path.read_text()):
            where.setdefault(name, []).append(str(path.relative_to(CHARTS_DIR)))
    assert {n: p for n, p in where.items() if len(p) > 1} == {}
    for name, paths in where.items():
        chart = paths[0].split("/", 1)[0]
        assert name.startswith(f"{chart}."), f"{name} defined in {paths[0]}"
    assert f"{LIBRARY_NAME}.artifactEnv" in where
