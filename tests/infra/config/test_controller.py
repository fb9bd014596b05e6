"""infra/config/controller.py: ``kubeai:glue.controller``, the lifecycle controller's settings."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from infra.addons import REPO_ROOT
from infra.config import LifecycleController, parse_config
from tests.infra import factories

CHART_VALUES = REPO_ROOT / "charts" / "kubeai-glue" / "values.yaml"


def _with_glue(**glue: Any) -> dict[str, Any]:
    values = factories.platform_values("eks")
    values["glue"] = {**copy.deepcopy(values["glue"]), **glue}
    return values


def test_defaults_are_the_charts() -> None:
    """Without ``kubeai:glue.controller`` the controller runs with the chart's defaults."""
    chart = yaml.safe_load(CHART_VALUES.read_text())["controller"]
    controller = factories.platform_config("eks").glue.controller
    assert controller.enabled is chart["enabled"] is True
    assert controller.replicas == chart["replicas"]
    assert controller.resources.manifest() == chart["resources"]
    assert controller.pod_anti_affinity == chart["podAntiAffinity"]
    assert controller.log_level == chart["logLevel"]
    assert controller.artifact_root is None


def test_every_key_parses_from_camel_case() -> None:
    """The stack file's camelCase keys reach the model."""
    config = parse_config(
        _with_glue(
            controller={
                "enabled": True,
                "replicas": 3,
                "resources": {
                    "requests": {"cpu": "100m", "memory": "256Mi"},
                    "limits": {"cpu": "1", "memory": "512Mi"},
                },
                "podAntiAffinity": "hard",
                "logLevel": "WARNING",
                "artifactRoot": "s3://kubeai-prod/outputs",
            }
        )
    )
    controller = config.glue.controller  # type: ignore[union-attr]
    assert controller == LifecycleController(
        replicas=3,
        resources={
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        pod_anti_affinity="hard",
        log_level="WARNING",
        artifact_root="s3://kubeai-prod/outputs",
    )


def test_off_without_token_review_is_accepted() -> None:
    """An OIDC-only registry is fine once the controller is off."""
    auth = {"kubernetes": {"enabled": False}, "oidc": {"issuer": "https://sso.example.com"}}
    config = parse_config(_with_glue(auth=auth, controller={"enabled": False}))
    assert config.glue.controller.enabled is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("glue", "path", "text"),
    [
        ({"controller": {"replicas": 0}}, "kubeai:glue.controller.replicas", "greater than"),
        ({"controller": {"replicas": 9}}, "kubeai:glue.controller.replicas", "less than"),
        (
            {"controller": {"podAntiAffinity": "always"}},
            "kubeai:glue.controller.podAntiAffinity",
            "'soft', 'hard' or 'none'",
        ),
        (
            {"controller": {"logLevel": "verbose"}},
            "kubeai:glue.controller.logLevel",
            "'DEBUG'",
        ),
        (
            {"controller": {"artifactRoot": "azure://bucket"}},
            "kubeai:glue.controller.artifactRoot",
            "pattern",
        ),
        (
            {
                "controller": {
                    "resources": {
                        "requests": {"cpu": "2", "memory": "1Gi"},
                        "limits": {"cpu": "1", "memory": "1Gi"},
                    }
                }
            },
            "kubeai:glue.controller.resources",
            "requests exceed limits",
        ),
        (
            {"controller": {"replica": 2}},
            "kubeai:glue.controller.replica",
            "did you mean 'replicas'?",
        ),
        (
            {"auth": {"kubernetes": {"enabled": False}, "oidc": {"issuer": "https://sso.test"}}},
            "kubeai:glue.controller.enabled",
            "kubeai:glue.auth.kubernetes.enabled",
        ),
    ],
    ids=[
        "no-replicas",
        "too-many-replicas",
        "bad-anti-affinity",
        "bad-log-level",
        "bad-artifact-root",
        "requests-over-limits",
        "typo",
        "no-token-review",
    ],
)
def test_errors_name_the_key_path(glue: dict[str, Any], path: str, text: str) -> None:
    """Each bad ``kubeai:glue.controller`` value is one problem at its key path."""
    problems = dict(factories.config_problems(_with_glue(**glue)))
    assert path in problems, problems
    assert text in problems[path]
