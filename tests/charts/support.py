"""Helpers of the chart tests: chart and scenario discovery, picking objects out of a render."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from tests.support.helm import REPO_ROOT

CHARTS_DIR = REPO_ROOT / "charts"
CHART_NAMES = ("kubeai-glue", "triton-inference")
"""Every application chart of the project; each is linted, rendered and validated per scenario."""
LIBRARY_NAME = "kubeai-common"
"""The library chart the application charts depend on (shared helpers and schema definitions)."""

Objects = list[dict[str, Any]]
POD_FIELDS = {"metadata.name": "svc-7d9f8c6b5-x2x4z", "metadata.namespace": "team-a"}
"""Downward API values ``literal_env`` gives a rendered pod (the scenarios' namespace)."""
Settings = TypeVar("Settings", bound=BaseModel)


def chart_path(name: str) -> Path:
    """Directory of chart ``name``."""
    return CHARTS_DIR / name


def load_script(path: Path, module_name: str) -> ModuleType:
    """Import the Python script at ``path`` (not part of a package) as ``module_name``."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def scenarios(name: str) -> list[Path]:
    """The chart's ``ci/*-values.yaml`` files, sorted."""
    return sorted((chart_path(name) / "ci").glob("*-values.yaml"))


def scenario_id(chart: str, values: Path) -> str:
    """Readable id of a scenario, e.g. ``kubeai-glue/default``."""
    return f"{chart}/{values.name.removesuffix('-values.yaml')}"


def scenario_params(*charts: str) -> list[Any]:
    """pytest params ``(chart, values file)`` for ``charts`` (default: every chart)."""
    return [
        pytest.param(name, path, id=scenario_id(name, path))
        for name in charts or CHART_NAMES
        for path in scenarios(name)
    ]


def by_kind(objects: Objects, kind: str) -> list[dict[str, Any]]:
    """The objects of one kind."""
    return [o for o in objects if o["kind"] == kind]


def component(objects: Objects, name: str) -> Objects:
    """The objects labelled ``app.kubernetes.io/component: name`` (one component of a chart that
    renders several, e.g. kubeai-glue's ``model-registry`` and ``lifecycle-controller``)."""
    return [
        o for o in objects if o["metadata"]["labels"].get("app.kubernetes.io/component") == name
    ]


def one(objects: Objects, kind: str) -> dict[str, Any]:
    """The single object of ``kind``; fails when there is not exactly one."""
    found = by_kind(objects, kind)
    assert len(found) == 1, f"expected one {kind}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def pod_spec(objects: Objects) -> dict[str, Any]:
    """The pod spec of the single Deployment."""
    return one(objects, "Deployment")["spec"]["template"]["spec"]


def container(objects: Objects, name: str) -> dict[str, Any]:
    """The container ``name`` of the single Deployment."""
    containers = {c["name"]: c for c in pod_spec(objects)["containers"]}
    assert name in containers, f"no container {name!r}; have {sorted(containers)}"
    return containers[name]


def env_of(c: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's env as ``{name: entry}``; fails on duplicated names."""
    names = [e["name"] for e in c.get("env", [])]
    assert len(names) == len(set(names)), f"duplicate env names in {c['name']}: {names}"
    return {e["name"]: e for e in c.get("env", [])}


def images(objects: Objects) -> list[str]:
    """Every container image reference in the rendered objects (pod templates)."""
    found = []
    for obj in objects:
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        for key in ("initContainers", "containers"):
            found += [c["image"] for c in spec.get(key, [])]
    return found


def settings_env_names(model: type[BaseModel], prefix: str) -> set[str]:
    """Every environment variable a pydantic-settings class reads with ``prefix`` and the ``__``
    nested delimiter, e.g. ``KUBEAI_AGENT_ARTIFACTS__S3__ENDPOINT_URL``."""
    names: set[str] = set()
    for field_name, info in model.model_fields.items():
        name = f"{prefix}{field_name.upper()}"
        names.add(name)
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= settings_env_names(annotation, f"{name}__")
    return names


def settings_from_env(
    model: type[Settings], prefix: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """``model()`` (a pydantic-settings class) read from exactly ``env``, other ``KUBEAI_*``
    variables of the test process removed; fails when ``env`` holds a variable under ``prefix``
    that ``model`` does not read."""
    known = settings_env_names(model, prefix)
    unknown = sorted(n for n in env if n.startswith(prefix) and n not in known)
    assert not unknown, f"variables {model.__name__} would ignore: {unknown}"
    for name in list(os.environ):
        if name.startswith("KUBEAI_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return model()


def literal_env(c: dict[str, Any], secret_values: dict[str, str] | None = None) -> dict[str, str]:
    """A container's env as plain strings, as the kubelet would set it: ``secretKeyRef`` values
    come from ``secret_values`` (by env name, default ``"placeholder"``), ``fieldRef``
    ``metadata.name`` becomes a pod name and ``metadata.namespace`` the scenarios' namespace."""
    secret_values = secret_values or {}
    out: dict[str, str] = {}
    for name, entry in env_of(c).items():
        field_path = entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
        if "value" in entry:
            out[name] = entry["value"]
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            out[name] = secret_values.get(name, "placeholder")
        elif field_path in POD_FIELDS:
            out[name] = POD_FIELDS[field_path]
        else:
            raise AssertionError(f"unexpected env source for {name}: {entry}")
    return out
