"""Every chart and every ``ci/*-values.yaml`` scenario: lint with helm v3.19 (strict) and v4,
render with v3.19 for Kubernetes 1.34, and check every rendered object.

Checks that hold for every scenario live here (schema validity of each object, names, labels,
images, pod hardening); per-chart behaviour is in ``test_kubeai_glue.py`` and
``test_triton_inference.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.charts.conftest import NAMESPACE, Render
from tests.charts.support import (
    CHART_NAMES,
    by_kind,
    chart_path,
    images,
    scenario_params,
    scenarios,
)
from tests.support.helm import KUBE_VERSION, HelmTools

CUSTOM_KINDS = {"ServiceMonitor"}
"""Kinds kubernetes-validate cannot know (custom resources); checked structurally instead."""
CLUSTER_KINDS = {"ClusterRoleBinding", "ClusterRole"}
"""Cluster-scoped kinds a chart may render (no namespace): the registry's binding to
``system:auth-delegator`` for TokenReview, the lifecycle controller's ClusterRole and binding."""

LONG_RELEASE = "a-very-long-release-name-that-reaches-helms-53c-limit"
"""A release name of 53 characters, the longest Helm accepts."""

NAME_LIMIT = 63
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
RECOMMENDED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)


def _k8s_error(obj: dict[str, Any], exc: kubernetes_validate.ValidationError) -> str:
    where = "/".join(str(p) for p in exc.path) or "(root)"
    return f"{obj['kind']}/{obj['metadata']['name']}: at {where}: {exc.message}"


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_every_chart_has_scenarios_and_metadata(chart: str) -> None:
    """Each chart ships scenarios, NOTES.txt, _helpers.tpl and apiVersion v2 metadata."""
    path = chart_path(chart)
    assert len(scenarios(chart)) >= 5, f"{chart}: expected at least 5 ci/*-values.yaml files"
    meta = yaml.safe_load((path / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["name"] == chart
    assert re.fullmatch(r"\d+\.\d+\.\d+", meta["version"])
    assert meta["appVersion"]
    assert (path / "templates" / "NOTES.txt").is_file()
    assert (path / "templates" / "_helpers.tpl").is_file()


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_values_schema_is_strict_draft7(chart: str) -> None:
    """values.schema.json is a valid draft-07 schema, closed at every object level, and the
    chart's values.yaml satisfies it."""
    path = chart_path(chart)
    schema = json.loads((path / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)

    open_objects: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            closed = node.get("additionalProperties") is False
            if node.get("type") == "object" and "properties" in node and not closed:
                open_objects.append(where)
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    walk(schema, "#")
    assert not open_objects, f"objects without additionalProperties: false: {open_objects}"
    values = yaml.safe_load((path / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(values)


def _undocumented_keys(lines: list[str]) -> list[str]:
    """Keys of a values.yaml without a ``# --`` comment: a documented key covers its subtree,
    an undocumented block is acceptable when each of its own keys is documented."""
    undocumented: list[str] = []
    covered_below: int | None = None  # indent of the nearest documented ancestor block
    for index, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):(.*)$", line)
        if not match:
            continue
        indent = len(match.group(1))
        if covered_below is not None:
            if indent > covered_below:
                continue
            covered_below = None
        comments = []
        j = index - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            comments.append(lines[j].strip())
            j -= 1
        is_block = not match.group(3).strip() and any(
            n.strip() and len(n) - len(n.lstrip()) > indent for n in lines[index + 1 : index + 2]
        )
        if any(c.startswith("# --") for c in comments):
            covered_below = indent
        elif not is_block:
            undocumented.append(f"line {index + 1}: {match.group(2)}")
    return undocumented


@pytest.mark.parametrize("chart", CHART_NAMES)
def test_every_value_is_documented(chart: str) -> None:
    """Every key of values.yaml carries a ``# --`` comment (helm-docs style), itself or through
    the block it belongs to."""
    lines = (chart_path(chart) / "values.yaml").read_text().splitlines()
    undocumented = _undocumented_keys(lines)
    assert not undocumented, f"{chart}: undocumented values {undocumented}"


@pytest.mark.parametrize(("chart", "values"), scenario_params())
def test_lint_helm3_strict(helm_tools: HelmTools, chart: str, values: Path) -> None:
    """``helm lint --strict`` (v3.19) passes with no warning."""
    result = helm_tools.run(
        "lint", "--strict", chart_path(chart), "--values", values, "--kube-version", KUBE_VERSION
    )
    assert "[WARNING]" not in result.output and "[ERROR]" not in result.output, result.output


@pytest.mark.parametrize(("chart", "values"), scenario_params())
def test_lint_helm4(helm_tools: HelmTools, chart: str, values: Path) -> None:
    """``helm lint --strict`` with helm v4 passes too."""
    result = helm_tools.run(
        "lint",
        "--strict",
        chart_path(chart),
        "--values",
        values,
        "--kube-version",
        KUBE_VERSION,
        v4=True,
    )
    assert "[ERROR]" not in result.output, result.output


@pytest.mark.parametrize(("chart", "values"), scenario_params())
def test_rendered_objects_are_valid_kubernetes(render: Render, chart: str, values: Path) -> None:
    """Every built-in object validates strictly against the Kubernetes 1.34 OpenAPI schema
    (unknown fields included); custom kinds are only the expected ones."""
    objects = render(chart, values)
    assert objects, "nothing rendered"
    errors = []
    for obj in objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(_k8s_error(obj, exc))
    assert not errors, "\n".join(errors)
    assert {o["kind"] for o in objects} - CUSTOM_KINDS <= {
        "Deployment",
        "Service",
        "ServiceAccount",
        "PersistentVolumeClaim",
        "Secret",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "Role",
        "RoleBinding",
        *CLUSTER_KINDS,
    }


@pytest.mark.parametrize(("chart", "values"), scenario_params())
def test_helm4_renders_the_same_objects(render: Render, chart: str, values: Path) -> None:
    """helm v4 renders exactly the objects helm v3.19 renders."""
    assert render(chart, values, v4=True) == render(chart, values)


@pytest.mark.parametrize(("chart", "values"), scenario_params())
def test_metadata_labels_and_namespace(render: Render, chart: str, values: Path) -> None:
    """Every namespaced object is in the release namespace (a cluster-scoped one has none); every
    object carries the recommended labels
    with valid values; selectors match their pod templates."""
    for obj in render(chart, values):
        meta = obj["metadata"]
        if obj["kind"] in CLUSTER_KINDS:
            assert "namespace" not in meta
        else:
            assert meta["namespace"] == NAMESPACE
        labels = meta["labels"]
        missing = [k for k in RECOMMENDED_LABELS if k not in labels]
        assert not missing, f"{obj['kind']}/{meta['name']} lacks labels {missing}"
        bad = {k: v for k, v in labels.items() if len(v) > 63 or not LABEL_VALUE.match(v)}
        assert not bad, f"{obj['kind']}/{meta['name']}: invalid label values {bad}"
        if obj["kind"] == "Deployment":
            selector = obj["spec"]["selector"]["matchLabels"]
            template_labels = obj["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= template_labels.items()
            assert "app.kubernetes.io/version" not in selector, "selectors must survive upgrades"


@pytest.mark.parametrize(("chart", "values"), scenario_params())
def test_platform_keys_use_the_kubeai_dev_domain(render: Render, chart: str, values: Path) -> None:
    """The platform's own label, annotation and selector keys are ``kubeai.dev/*`` (as in the
    Pulumi program); no rendered key or value uses another ``kubeai.*`` domain."""
    text = yaml.safe_dump_all(render(chart, values))
    domains = set(re.findall(r"\b(kubeai\.[a-z]+)/", text))
    assert domains <= {"kubeai.dev"}, domains


@pytest.mark.parametrize(("chart", "values"), scenario_params())
def test_names_fit_in_63_characters_with_a_long_release_name(
    render: Render, chart: str, values: Path
) -> None:
    """With a 53-character release name every name and label value still fits in 63 characters
    and is a DNS label; the render stays valid Kubernetes."""
    objects = render(chart, values, release=LONG_RELEASE)
    for obj in objects:
        name = obj["metadata"]["name"]
        assert len(name) <= NAME_LIMIT and DNS_LABEL.match(name), f"{obj['kind']} name {name!r}"
        for value in obj["metadata"]["labels"].values():
            assert len(value) <= NAME_LIMIT
        if obj["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names)), f"name collision after truncation: {names}"


@pytest.mark.parametrize(("chart", "values"), scenario_params())
def test_images_are_pinned(render: Render, chart: str, values: Path) -> None:
    """Every image has an explicit tag, never ``latest``, and nothing in the render says
    ``:latest``."""
    objects = render(chart, values)
    refs = images(objects)
    assert refs
    for ref in refs:
        name = ref.split("@", 1)[0]
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
        assert tag, f"image {ref!r} has no tag"
        assert tag.lower() != "latest", f"image {ref!r} uses latest"
    assert ":latest" not in yaml.safe_dump_all(objects).lower()


@pytest.mark.parametrize(("chart", "values"), scenario_params())
def test_pods_are_hardened(render: Render, chart: str, values: Path) -> None:
    """Pods run as a non-root numeric user with the RuntimeDefault seccomp profile; the
    service-account token is mounted only where the chart binds the pod's account to a role (the
    registry for TokenReview with ``registry.auth.kubernetes``, the lifecycle controller for its
    watches); containers drop every capability, cannot escalate privileges, use a read-only root
    filesystem and have requests, probes and a memory limit."""
    objects = render(chart, values)
    bound = {
        subject["name"]
        for binding in by_kind(objects, "ClusterRoleBinding") + by_kind(objects, "RoleBinding")
        for subject in binding["subjects"]
        if subject["kind"] == "ServiceAccount" and subject["namespace"] == NAMESPACE
    }
    for deployment in by_kind(objects, "Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True
        assert pod["runAsUser"] > 0
        assert pod["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is (spec["serviceAccountName"] in bound)
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
            assert "add" not in sc["capabilities"], c["name"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
            assert sc.get("privileged", False) is False, c["name"]
            assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
            assert c["resources"]["limits"]["memory"], c["name"]
            assert "livenessProbe" in c, c["name"]
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert "/tmp" in mounts, f"{c['name']}: a read-only root needs a writable /tmp"


@pytest.mark.parametrize(("chart", "values"), scenario_params())
def test_service_monitor_targets_named_service_ports(
    render: Render, chart: str, values: Path
) -> None:
    """A ServiceMonitor (when rendered) selects the chart's Service and scrapes ports that the
    Service names."""
    objects = render(chart, values)
    for monitor in by_kind(objects, "ServiceMonitor"):
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        services = [
            s
            for s in by_kind(objects, "Service")
            if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()
        ]
        assert len(services) == 1
        port_names = {p["name"] for p in services[0]["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            assert endpoint["port"] in port_names
            assert endpoint["path"] == "/metrics"
