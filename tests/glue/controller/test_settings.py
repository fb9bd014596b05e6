"""ControllerSettings: defaults, ranges, and errors that name the environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from glue.controller.settings import ControllerSettings, SettingsError, env_name, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(("KUBEAI_CONTROLLER_", "KUBEAI_ARTIFACTS_")) or key in (
            "POD_NAMESPACE",
            "POD_NAME",
        ):
            monkeypatch.delenv(key)
    monkeypatch.setenv("KUBEAI_CONTROLLER_REGISTRY_URL", "http://registry.kubeai:8080/")
    monkeypatch.setenv("POD_NAMESPACE", "kubeai")
    monkeypatch.setenv("POD_NAME", "kubeai-controller-7d9f-abcde")


def test_defaults_from_the_pod() -> None:
    settings = load_settings()
    assert settings.registry_url == "http://registry.kubeai:8080"
    assert settings.lease_namespace == "kubeai" and settings.lease_name == "kubeai-controller"
    assert settings.identity == "kubeai-controller-7d9f-abcde"
    assert (settings.metrics_port, settings.health_port) == (9102, 8080)
    assert settings.team_label == "kubeai.dev/team"
    assert settings.root_uri.startswith("file:///") and settings.root_uri.endswith("artifacts")


def test_nested_artifact_settings_and_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBEAI_CONTROLLER_ARTIFACTS__S3__ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("KUBEAI_CONTROLLER_ARTIFACT_ROOT", "s3://kubeai-artifacts/")
    settings = load_settings()
    assert settings.artifacts.s3.endpoint_url == "http://minio:9000"
    assert settings.root_uri == "s3://kubeai-artifacts"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KUBEAI_CONTROLLER_REGISTRY_URL", "registry:8080"),
        ("KUBEAI_CONTROLLER_METRICS_PORT", "70000"),
        ("KUBEAI_CONTROLLER_HEALTH_PORT", "-1"),
        ("KUBEAI_CONTROLLER_TEAM_LABEL", "not a label"),
        ("KUBEAI_CONTROLLER_LEASE_NAMESPACE", "Kube_AI"),
        ("KUBEAI_CONTROLLER_LEASE_DURATION", "1"),
        ("KUBEAI_CONTROLLER_RETRY_INITIAL", "0"),
        ("KUBEAI_CONTROLLER_DATASET_RETRIES", "0"),
        ("KUBEAI_CONTROLLER_REGISTRY_TOKEN_FILE", "/nonexistent/token"),
        ("KUBEAI_CONTROLLER_LOG_LEVEL", "LOUD"),
        ("KUBEAI_CONTROLLER_ARTIFACTS__S3__ENDPOINT_URL", "minio:9000"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_lease_namespace_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POD_NAMESPACE")
    with pytest.raises(SettingsError, match="KUBEAI_CONTROLLER_LEASE_NAMESPACE"):
        load_settings()


def test_cross_field_rules(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KUBEAI_CONTROLLER_RETRY_INITIAL", "60")
    monkeypatch.setenv("KUBEAI_CONTROLLER_RETRY_MAX", "10")
    with pytest.raises(SettingsError, match="retry_initial"):
        load_settings()
    monkeypatch.delenv("KUBEAI_CONTROLLER_RETRY_INITIAL")
    monkeypatch.setenv("KUBEAI_CONTROLLER_RENEW_PERIOD", "10")
    with pytest.raises(SettingsError, match="renew_period"):
        load_settings()


def test_env_name() -> None:
    assert env_name(("artifacts", "s3", "endpoint_url")) == (
        "KUBEAI_CONTROLLER_ARTIFACTS__S3__ENDPOINT_URL"
    )
    assert env_name(()) == "KUBEAI_CONTROLLER_*"
    assert ControllerSettings.model_config["env_prefix"] == "KUBEAI_CONTROLLER_"
