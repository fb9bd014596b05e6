"""infra/providers.py: every resource goes through an explicit provider built from the cluster
the stack targets; team stacks connect with their platform stack's settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import providers
from infra.config import SECRET_KEYS, TeamConfig
from infra.mocks import ProgramRun, is_secret, record_stack, reveal
from infra.render import load_stack, platform_for
from tests.infra import factories

STACKS = Path(__file__).resolve().parents[2] / "stacks"
K8S_PROVIDER = "pulumi:providers:kubernetes"
#: Types registered without a provider of ours: providers themselves and stack references.
UNPROVIDED = ("pulumi:providers:", "pulumi:pulumi:StackReference")


def run_stack(name: str) -> ProgramRun:
    config, _, _ = load_stack(name, STACKS)
    platform = platform_for(config, STACKS) if isinstance(config, TeamConfig) else None
    secrets = {key: f"<secret:{key}>" for key in sorted(SECRET_KEYS)}
    return record_stack(config, secrets=secrets, platform=platform, stack=name)


@pytest.mark.parametrize("stack", sorted(p.stem.split(".", 1)[1] for p in STACKS.glob("*.yaml")))
def test_no_resource_of_any_example_stack_uses_a_default_provider(stack: str) -> None:
    run = run_stack(stack)
    custom = [r for r in run.resources.values() if r.custom and not r.type.startswith(UNPROVIDED)]
    assert custom
    for item in custom:
        assert item.provider, f"{item.type} {item.name} has no explicit provider"
        assert "::default" not in item.provider, item.provider
        package = item.type.split(":", 1)[0]
        assert f"pulumi:providers:{package}::" in item.provider, (item.key, item.provider)


def kubeconfig_of(run: ProgramRun) -> dict:
    (provider,) = run.of_type(K8S_PROVIDER)
    return json.loads(reveal(provider.inputs["kubeconfig"]))


@pytest.mark.parametrize(
    ("provider", "server", "command", "args"),
    [
        ("eks", "https://203.0.113.10", "aws", ["eks", "get-token", "--cluster-name"]),
        ("gke", "https://203.0.113.11", "gke-gcloud-auth-plugin", []),
        ("ack", "https://203.0.113.12:6443", "ack-ram-tool", ["credential-plugin"]),
    ],
)
def test_cloud_platforms_connect_to_the_cluster_they_look_up(
    platform_run, provider: str, server: str, command: str, args: list[str]
) -> None:
    run = platform_run(provider)
    kubeconfig = kubeconfig_of(run)
    (cluster,) = kubeconfig["clusters"]
    assert cluster["cluster"]["server"] == server
    assert cluster["cluster"]["certificate-authority-data"]
    (user,) = kubeconfig["users"]
    assert user["user"]["exec"]["command"] == command
    assert user["user"]["exec"]["args"][: len(args)] == args
    assert "token" not in json.dumps(user["user"]).replace("get-token", "")  # no credential kept
    block = getattr(factories.platform_config(provider).cluster, provider)
    if provider == "eks":
        assert user["user"]["exec"]["args"][3:6] == [block.cluster_name, "--region", block.region]
    if provider == "ack":
        assert block.cluster_id in user["user"]["exec"]["args"]
    package = {"eks": "aws", "gke": "gcp", "ack": "alicloud"}[provider]
    (cloud,) = run.of_type(f"pulumi:providers:{package}")
    want = block.project if provider == "gke" else block.region
    assert want in cloud.inputs.values()
    assert run.exports[providers.OUTPUT]["kubeconfig"] == reveal(
        run.of_type(K8S_PROVIDER)[0].inputs["kubeconfig"]
    )


def test_the_ack_lookup_keeps_only_the_server_of_the_minted_credential() -> None:
    assert providers.ack_server("clusters:\n- cluster: {server: 'https://a:6443'}\n") == (
        "https://a:6443"
    )
    assert providers.ack_server("not: [a kubeconfig") == ""
    assert providers.ack_server(None) == ""


def test_existing_clusters_use_the_configured_kubeconfig_as_a_secret(platform_run) -> None:
    run = platform_run(
        "existing", cluster={"existing": {"kubeconfig": "/etc/kubeai/kc", "context": "onprem"}}
    )
    (provider,) = run.of_type(K8S_PROVIDER)
    assert reveal(provider.inputs["kubeconfig"]) == "/etc/kubeai/kc"
    assert reveal(provider.inputs["context"]) == "onprem"
    assert not [t for t in run.types() if t.startswith("pulumi:providers:") and t != K8S_PROVIDER]
    assert is_secret(run.exports[providers.OUTPUT]) or run.exports[providers.OUTPUT] == {
        "kubeconfig": "/etc/kubeai/kc",
        "context": "onprem",
    }


def test_a_team_stack_connects_with_its_platforms_settings() -> None:
    platform = factories.outputs_of(factories.platform_config("eks")).model_dump(by_alias=True)
    settings = {"kubeconfig": '{"kind": "Config"}', "context": "prod-ctx"}
    run = record_stack(
        factories.team_config(),
        stack_outputs={"prod-eks": {"platform": platform, providers.OUTPUT: settings}},
    )
    (provider,) = run.of_type(K8S_PROVIDER)
    assert reveal(provider.inputs["kubeconfig"]) == settings["kubeconfig"]
    assert reveal(provider.inputs["context"]) == "prod-ctx"
    namespace = run.one("kubernetes:core/v1:Namespace", "team-namespace")
    assert namespace.provider and namespace.provider.split("::")[-2] == "kubernetes"
