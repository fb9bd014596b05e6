"""AgentSettings: environment variables, defaults and range checks naming the field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from glue.serving_agent.settings import AgentSettings, default_pod_name

REQUIRED = {"registry_url": "http://127.0.0.1:8080", "service": "scoring", "model_repository": "/m"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("KUBEAI_AGENT_", "KUBEAI_ARTIFACTS_")) or name == "POD_NAME":
            monkeypatch.delenv(name)


def test_reads_the_environment_with_prefix_and_nested_artifacts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBEAI_AGENT_REGISTRY_URL", "http://registry.kubeai:8080/")
    monkeypatch.setenv("KUBEAI_AGENT_SERVICE", "fraud")
    monkeypatch.setenv("KUBEAI_AGENT_MODEL_REPOSITORY", str(tmp_path))
    monkeypatch.setenv("KUBEAI_AGENT_POLL_INTERVAL", "2.5")
    monkeypatch.setenv("KUBEAI_AGENT_ARTIFACTS__LOCAL_ROOT", str(tmp_path / "art"))
    monkeypatch.setenv("KUBEAI_AGENT_ARTIFACTS__S3__ENDPOINT_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("POD_NAME", "fraud-7d9f-abcde")
    settings = AgentSettings()
    assert settings.registry_url == "http://registry.kubeai:8080"
    assert settings.service == "fraud" and settings.pod == "fraud-7d9f-abcde"
    assert settings.model_repository == tmp_path and settings.poll_interval == 2.5
    assert settings.artifacts.local_root == tmp_path / "art"
    assert settings.artifacts.s3.endpoint_url == "http://127.0.0.1:9000"
    assert settings.triton_url == "http://127.0.0.1:8000" and settings.metrics_port == 0
    assert settings.triton_grpc_url == "127.0.0.1:8001"  # Triton's default gRPC port


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1:9001", "127.0.0.1:9001"), ("grpc://triton:8001", "grpc://triton:8001"), ("", "")],
)
def test_triton_grpc_url_is_host_port_or_empty(value: str, expected: str) -> None:
    """Empty keeps repository control on the HTTP endpoint (``triton_url``)."""
    settings = AgentSettings(**{**REQUIRED, "triton_grpc_url": value})  # type: ignore[arg-type]
    assert settings.triton_grpc_url == expected


def test_pod_defaults_to_a_cleaned_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "My_Laptop.local")
    assert default_pod_name() == "my-laptop.local"
    assert AgentSettings(**REQUIRED).pod == "my-laptop.local"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("poll_interval", 0, "greater than or equal to 0.05"),
        ("backoff_max", 7200, "less than or equal to 3600"),
        ("ready_timeout", 0.01, "greater than or equal to 0.1"),
        ("metrics_port", 70000, "less than or equal to 65535"),
        ("keep_previous", -1, "greater than or equal to 0"),
        ("service", "Bad_Name", "should match pattern"),
        ("pod", "UPPER", "should match pattern"),
        ("registry_url", "registry:8080", "http:// or https:// URL"),
        ("triton_url", "http://127.0.0.1:8000/v2", "without a path"),
        ("triton_url", "http://127.0.0.1:99999", "invalid port"),
        ("triton_grpc_url", "127.0.0.1", "must be host:port"),
        ("triton_grpc_url", "http://127.0.0.1:8001", "must be host:port"),
        ("triton_grpc_url", "127.0.0.1:0", "must be host:port"),
        ("triton_grpc_url", "127.0.0.1:8001/v2", "must be host:port"),
        ("model_repository", "s3://bucket/models", "local directory path"),
        ("repository_budget_bytes", "20 gigs", "is not a Kubernetes quantity"),
        ("repository_budget_bytes", "500m", "greater than or equal to 1"),
        ("repository_budget_bytes", 0, "greater than or equal to 1"),
    ],
)
def test_out_of_range_values_name_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AgentSettings(**{**REQUIRED, field: value})  # type: ignore[arg-type]
    errors = caught.value.errors()
    assert errors[0]["loc"] == (field,)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("value", "budget"),
    [("20Gi", 20 << 30), ("1.5G", 1_500_000_000), ("1048576", 1 << 20), ("", None)],
)
def test_repository_budget_takes_bytes_or_a_quantity(
    monkeypatch: pytest.MonkeyPatch, value: str, budget: int | None
) -> None:
    monkeypatch.setenv("KUBEAI_AGENT_REPOSITORY_BUDGET_BYTES", value)
    assert AgentSettings(**REQUIRED).repository_budget_bytes == budget  # type: ignore[arg-type]
    monkeypatch.delenv("KUBEAI_AGENT_REPOSITORY_BUDGET_BYTES")
    assert AgentSettings(**REQUIRED).repository_budget_bytes is None  # type: ignore[arg-type]


def test_backoff_initial_must_not_exceed_max() -> None:
    with pytest.raises(ValidationError, match=r"backoff_initial \(10.0\) must be <= backoff_max"):
        AgentSettings(**REQUIRED, backoff_initial=10, backoff_max=5)  # type: ignore[arg-type]


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="poll_intervall"):
        AgentSettings(**REQUIRED, poll_intervall=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("POLL_INTERVAL", "0", "greater than or equal to 0.05"),
        ("TRITON_GRPC_URL", "localhost", "must be host:port"),
    ],
)
def test_process_exits_2_naming_the_variable(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBEAI_AGENT_")}
    env.update(
        {
            "KUBEAI_AGENT_REGISTRY_URL": "http://127.0.0.1:1",
            "KUBEAI_AGENT_SERVICE": "s",
            "KUBEAI_AGENT_MODEL_REPOSITORY": str(tmp_path),
            f"KUBEAI_AGENT_{variable}": value,
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "glue.serving_agent"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"KUBEAI_AGENT_{variable}" in done.stderr
    assert message in done.stderr
