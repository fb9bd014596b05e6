"""The serving agent's credential for the registry (triton-inference ``registry.token``): a
projected ServiceAccount token of the registry's audience, the team taken from the release
namespace and the pod's ServiceAccount name, all read by the agent's own settings class."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from glue.serving_agent.settings import AgentSettings
from tests.charts.conftest import NAMESPACE, Render
from tests.charts.support import (
    Objects,
    chart_path,
    container,
    env_of,
    literal_env,
    pod_spec,
    scenario_params,
    settings_from_env,
)
from tests.support.helm import HelmTools

CHART = "triton-inference"
CI = chart_path(CHART) / "ci"
PREFIX = "KUBEAI_AGENT_"


def _agent(objects: Objects) -> dict:
    return container(objects, "serving-agent")


def _token_volume(objects: Objects) -> dict | None:
    volumes = {v["name"]: v for v in pod_spec(objects)["volumes"]}
    return volumes.get("registry-token")


@pytest.mark.parametrize(("chart", "values"), scenario_params(CHART))
def test_agent_presents_a_projected_token_of_the_registry_audience(
    render: Render, monkeypatch: pytest.MonkeyPatch, chart: str, values: Path
) -> None:
    """Every scenario: a projected ServiceAccount token for ``kubeai-registry``, valid one hour,
    mounted read-only into the agent only, at the file the agent reads; the agent's team is the
    release namespace unless ``registry.team`` names one, and its ServiceAccount is the pod's."""
    objects = render(chart, values)
    volume = _token_volume(objects)
    assert volume is not None
    (source,) = volume["projected"]["sources"]
    assert source == {
        "serviceAccountToken": {
            "audience": "kubeai-registry",
            "expirationSeconds": 3600,
            "path": "token",
        }
    }
    agent = _agent(objects)
    mounts = {m["name"]: m for m in agent["volumeMounts"]}
    assert mounts["registry-token"]["readOnly"] is True
    triton = container(objects, "tritonserver")
    assert "registry-token" not in {m["name"] for m in triton["volumeMounts"]}
    settings = settings_from_env(AgentSettings, PREFIX, literal_env(agent), monkeypatch)
    assert str(settings.registry_token_file) == f"{mounts['registry-token']['mountPath']}/token"
    team = (yaml.safe_load(values.read_text()).get("registry") or {}).get("team") or NAMESPACE
    assert settings.team == team
    assert settings.service_account == pod_spec(objects)["serviceAccountName"]


def test_an_existing_service_account_is_named_to_the_agent(render: Render) -> None:
    """With ``serviceAccount.create: false`` the agent is told the existing account's name (the
    registry lets only that account's tokens report the service's pods)."""
    objects = render(CHART, CI / "hpa-off-values.yaml")
    assert pod_spec(objects)["serviceAccountName"] == "inference"
    assert env_of(_agent(objects))[f"{PREFIX}SERVICE_ACCOUNT"]["value"] == "inference"


def test_token_audience_and_lifetime_are_values(helm_tools: HelmTools) -> None:
    """``registry.token.audience`` and ``expirationSeconds`` reach the projected volume."""
    objects = helm_tools.template(
        chart_path(CHART),
        values=[CI / "default-values.yaml"],
        set_values=[
            "registry.token.audience=registry.example",
            "registry.token.expirationSeconds=600",
        ],
    )
    volume = _token_volume(objects)
    assert volume is not None
    token = volume["projected"]["sources"][0]["serviceAccountToken"]
    assert (token["audience"], token["expirationSeconds"]) == ("registry.example", 600)


def test_token_off_for_a_registry_open_on_loopback(
    helm_tools: HelmTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``registry.token.enabled=false``: no volume, no mount, no token file (the agent then sends
    no credentials); the team and ServiceAccount are still set."""
    objects = helm_tools.template(
        chart_path(CHART),
        namespace="demo",
        values=[CI / "default-values.yaml"],
        set_values=["registry.token.enabled=false", "registry.url=http://127.0.0.1:8080"],
    )
    assert _token_volume(objects) is None
    agent = _agent(objects)
    assert "registry-token" not in {m["name"] for m in agent["volumeMounts"]}
    settings = settings_from_env(AgentSettings, PREFIX, literal_env(agent), monkeypatch)
    assert settings.registry_token_file is None
    assert settings.team == "demo"


def test_agents_request_an_audience_the_registry_accepts() -> None:
    """The default audience of the agents' token is one the kubeai-glue chart's registry accepts
    by default (TokenReview refuses a token of another audience)."""
    glue = yaml.safe_load((chart_path("kubeai-glue") / "values.yaml").read_text())
    triton = yaml.safe_load((chart_path(CHART) / "values.yaml").read_text())
    assert glue["registry"]["auth"]["kubernetes"]["enabled"] is True
    assert triton["registry"]["token"]["enabled"] is True
    assert (
        triton["registry"]["token"]["audience"]
        in glue["registry"]["auth"]["kubernetes"]["audiences"]
    )
