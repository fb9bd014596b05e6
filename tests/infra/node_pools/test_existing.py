"""infra/node_pools/existing.py: nothing provisioned on an existing cluster."""

from __future__ import annotations

from infra.node_pools.existing import pool_id
from tests.infra import factories

CLOUD_PREFIXES = ("aws:", "gcp:", "alicloud:", "pulumi:providers:aws", "pulumi:providers:gcp")


def test_no_cloud_resources(platform_run) -> None:
    run = platform_run("existing")
    assert not [t for t in run.types() if t.startswith(CLOUD_PREFIXES)]
    for pool_component in run.of_type("kubeai:node_pools:GpuNodePool"):
        assert run.children(pool_component.key) == []


def test_pool_id_and_explicit_kubernetes_provider(platform_run) -> None:
    config = factories.platform_config("existing")
    assert pool_id(config.node_pools[0]) == "existing/gpu"
    run = platform_run("existing")
    provider = run.one("pulumi:providers:kubernetes", "kubernetes")
    assert provider.inputs["context"] == "kind-kubeai"
    release = run.one("kubernetes:helm.sh/v3:Release", "volcano-release")
    assert release.provider is not None and "::kubernetes::" in release.provider
